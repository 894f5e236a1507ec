"""The data-asset CSV check: what it accepts, what it names, and how fast it refuses hostile files.

Every test writes a real file to tmp_path and calls `validate_csv` on it. The elapsed-time
asserts are sanity guards only (the figures live in bench/csv_validation.py); the memory assert
shows that a huge line is never held.
"""

from __future__ import annotations

import csv
import hashlib
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from app.data_assets import validation
from app.data_assets.validation import (
    COLUMNS,
    LABEL,
    MAX_CELLS_PER_ROW,
    MAX_HEADER_COLUMNS,
    MAX_LINE_BYTES,
    MIN_ROWS_PER_CLASS,
    ColumnError,
    CsvSummary,
    NotACsvError,
    RowError,
    SchemaError,
    TooManyRowsError,
    ValidationAborted,
    validate_csv,
)
from app.sampledata import write_csv

HEADER = ",".join(COLUMNS)
GOOD = ["1", "2", "120", "70", "20", "80", "30.5", "0.5", "40"]  # every column but the label
QUICK = 2.0  # seconds; a sanity guard, generous for a loaded CI machine
NOT_A_HEADER, NOT_UTF8 = "the first line is not a header of this schema", "the first line is not UTF-8 text"
BINARY = "the first line holds binary data"


def rows(n: int = 12) -> list[list[str]]:
    """`n` valid rows, the classes alternating (so both have n/2)."""
    return [[*GOOD, str(i % 2)] for i in range(n)]


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def csv_file(path: Path, body: list[list[str]], header: str = HEADER, newline: str = "\n") -> Path:
    return write(path, newline.join([header, *(",".join(r) for r in body)]) + newline)


def refused(path: Path, kind: type[SchemaError] = SchemaError) -> str:
    """The message `validate_csv` refuses `path` with, checked to be of `kind`, short and quick."""
    started = time.perf_counter()
    with pytest.raises(kind) as caught:
        validate_csv(path)
    assert time.perf_counter() - started < QUICK
    message = str(caught.value)
    assert len(message) < 500, message
    return message


# --- accepted -------------------------------------------------------------------------------


def test_generated_sample_is_accepted_with_its_counts_and_hash(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sample.csv", rows=10_000, seed=7)
    assert path.stat().st_size > 3 * validation.BLOCK_BYTES  # several blocks

    summary = validate_csv(path)

    with path.open(newline="") as f:
        labels = [int(r[LABEL]) for r in csv.DictReader(f)]
    assert summary == CsvSummary(
        rows=10_000,
        positive_rate=sum(labels) / len(labels),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bom", "\ufeff" + HEADER + "\n" + "\n".join(",".join(r) for r in rows()) + "\n"),
        ("crlf", HEADER + "\r\n" + "\r\n".join(",".join(r) for r in rows()) + "\r\n"),
        ("cr only", HEADER + "\r" + "\r".join(",".join(r) for r in rows()) + "\r"),
        ("no final newline", HEADER + "\n" + "\n".join(",".join(r) for r in rows())),
        ("blank lines", HEADER + "\n\n" + "\n\r\n\n".join(",".join(r) for r in rows()) + "\n\n\n"),
        ("quoted", HEADER + "\n" + "\n".join(",".join(f'"{v}"' for v in r) for r in rows()) + "\n"),
        ("spaced header", " , ".join(COLUMNS) + " \n" + "\n".join(",".join(r) for r in rows()) + "\n"),
        ("spaced values", HEADER + "\n" + "\n".join(", ".join(r) + " " for r in rows()) + "\n"),
        ("float labels", HEADER + "\n" + "\n".join(",".join(r) + ".0" for r in rows()) + "\n"),
        ("huge finite values", HEADER + "\n" + "\n".join(",".join(["1e308"] * 9 + [r[-1]]) for r in rows())),
    ],
)
def test_accepted_shapes(tmp_path: Path, name: str, text: str) -> None:
    summary = validate_csv(write(tmp_path / "d.csv", text))
    assert (summary.rows, summary.positive_rate) == (12, 0.5), name
    assert summary.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_columns_in_any_order(tmp_path: Path) -> None:
    order = list(reversed(range(len(COLUMNS))))
    header = ",".join(COLUMNS[i] for i in order)
    body = [[r[i] for i in order] for r in rows()]
    assert validate_csv(csv_file(tmp_path / "d.csv", body, header=header)).rows == 12


def test_crlf_split_across_blocks_is_one_line_break(tmp_path: Path) -> None:
    # Pad the first row (float() ignores the spaces) so that a row's \r is the last byte of the
    # first block and its \n the first of the second; then put an error a few rows later: its row
    # number is right only if the \r\n was read as one line break, not as a line and a blank one.
    body = rows(8000)
    unpadded = (HEADER + "\r\n" + "\r\n".join(",".join(r) for r in body) + "\r\n").encode()
    row_end = unpadded.index(b"\r\n", validation.BLOCK_BYTES - 200)
    body[0][0] = " " * (validation.BLOCK_BYTES - 1 - row_end) + body[0][0]
    text = (HEADER + "\r\n" + "\r\n".join(",".join(r) for r in body) + "\r\n").encode()
    assert text[validation.BLOCK_BYTES - 1 : validation.BLOCK_BYTES + 1] == b"\r\n"
    broken_row = text[: validation.BLOCK_BYTES].count(b"\r\n") + 3  # a row in the second block
    body[broken_row - 2][2] = "lots"
    path = write(tmp_path / "d.csv", "\r\n".join([HEADER, *(",".join(r) for r in body)]) + "\r\n")
    message = refused(path, RowError)
    assert message == f"row {broken_row}, column PlasmaGlucose: 'lots' is not a number"


# --- column errors --------------------------------------------------------------------------


def test_missing_column_is_named_with_the_expected_header(tmp_path: Path) -> None:
    header = ",".join(c for c in COLUMNS if c != "BMI")
    body = [[v for c, v in zip(COLUMNS, r, strict=True) if c != "BMI"] for r in rows()]
    message = refused(csv_file(tmp_path / "d.csv", body, header=header), ColumnError)
    assert message.startswith("missing columns: BMI (expected exactly: PatientID, Pregnancies,")


def test_a_header_with_several_wrong_names_names_a_few_of_each(tmp_path: Path) -> None:
    renamed = {"PlasmaGlucose": "Glucose", "DiastolicBloodPressure": "BP", "TricepsThickness": "Skin"}
    renamed |= {"SerumInsulin": "Insulin"}
    header = ",".join(renamed.get(c, c) for c in COLUMNS)
    message = refused(csv_file(tmp_path / "d.csv", rows(), header=header), ColumnError)
    assert message.startswith(
        "missing columns: PlasmaGlucose, DiastolicBloodPressure, TricepsThickness and 1 more; "
        "unexpected columns: 'Glucose', 'BP', 'Skin' and 1 more (expected exactly: PatientID,"
    )


def test_a_line_naming_only_a_few_schema_columns_is_not_a_header(tmp_path: Path) -> None:
    # The `path` form may point at any file: a line that merely mentions a few of the schema's
    # words is not answered with its other cells.
    path = write(tmp_path / "notes.txt", "Age,BMI,Diabetic,PatientID,password=hunter2\n")
    message = refused(path, NotACsvError)
    assert "hunter2" not in message


def test_wrong_letter_case_is_named_with_a_hint(tmp_path: Path) -> None:
    header = HEADER.replace("BMI", "bmi")
    message = refused(csv_file(tmp_path / "d.csv", rows(), header=header), ColumnError)
    assert "missing columns: BMI; unexpected columns: 'bmi'" in message
    assert "names are case-sensitive" in message


def test_duplicated_column_is_named(tmp_path: Path) -> None:
    message = refused(csv_file(tmp_path / "d.csv", [], header=HEADER + ",Age"), ColumnError)
    assert message.startswith("duplicated columns: 'Age' (expected exactly:")


def test_many_unexpected_columns_are_summarized(tmp_path: Path) -> None:
    extra = [f"extra{i}" for i in range(50)]
    message = refused(csv_file(tmp_path / "d.csv", [], header=",".join([*COLUMNS, *extra])), ColumnError)
    assert message.startswith("unexpected columns: 'extra0', 'extra1', 'extra2' and 47 more")
    assert "extra3" not in message


def test_a_long_column_name_is_shortened(tmp_path: Path) -> None:
    long_name = "N" * 5000
    message = refused(csv_file(tmp_path / "d.csv", [], header=f"{HEADER},{long_name}"), ColumnError)
    assert "unexpected columns: 'NNNNNNNNNNNNNNNNNNNNNNNN'... (5000 characters)" in message


def test_a_wide_header_that_names_schema_columns_is_refused_by_width(tmp_path: Path) -> None:
    header = ",".join([*COLUMNS, *(f"x{i}" for i in range(1000))])
    message = refused(csv_file(tmp_path / "d.csv", rows(), header=header), ColumnError)
    assert message.startswith(f"the header has 1010 columns, more than the limit of {MAX_HEADER_COLUMNS};")
    assert "x0" not in message


# --- row errors -----------------------------------------------------------------------------


def test_wrong_number_of_values(tmp_path: Path) -> None:
    body = rows()
    body[0] = body[0][:5]
    assert refused(csv_file(tmp_path / "d.csv", body), RowError) == "row 2 has 5 values, the header has 10"


@pytest.mark.parametrize(
    ("value", "problem"),
    [("lots", "'lots' is not a number"), ("", "'' is not a number"), ("nan", "'nan' is not a finite number")],
)
def test_bad_value_names_row_and_column(tmp_path: Path, value: str, problem: str) -> None:
    body = rows()
    body[1][COLUMNS.index("PlasmaGlucose")] = value
    message = refused(csv_file(tmp_path / "d.csv", body), RowError)
    assert message == f"row 3, column PlasmaGlucose: {problem}"


def test_infinity_is_not_finite(tmp_path: Path) -> None:
    body = rows()
    body[7][COLUMNS.index("BMI")] = "-inf"
    assert refused(csv_file(tmp_path / "d.csv", body)) == "row 9, column BMI: '-inf' is not a finite number"


def test_a_huge_value_is_shortened(tmp_path: Path) -> None:
    body = rows()
    body[3][0] = "x" * 60_000
    message = refused(csv_file(tmp_path / "d.csv", body), RowError)
    assert message == f"row 5, column PatientID: {'x' * 24!r}... (60000 characters) is not a number"


def test_bad_label(tmp_path: Path) -> None:
    body = rows()
    body[4][-1] = "2"
    message = refused(csv_file(tmp_path / "d.csv", body), RowError)
    assert message == "row 6: Diabetic is '2'; it must be 0 or 1"


def test_errors_stop_at_the_first_row(tmp_path: Path) -> None:
    body = rows(200)
    body[100][-1] = "7"
    body[150][0] = "oops"
    assert refused(csv_file(tmp_path / "d.csv", body)).startswith("row 102: ")


def test_a_quoted_line_break_is_refused(tmp_path: Path) -> None:
    text = HEADER + "\n" + ",".join(GOOD) + ',"0\n"\n' + "\n".join(",".join(r) for r in rows()) + "\n"
    message = refused(write(tmp_path / "d.csv", text), RowError)
    assert message == "row 2: a quoted value holds a line break; each row must be one line"


def test_a_row_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    text = (HEADER + "\n" + "\n".join(",".join(r) for r in rows()) + "\n").encode()
    text = text.replace(b"30.5", b"30\xe95", 1)  # latin-1 e-acute in row 2
    message = refused(write(tmp_path / "d.csv", text), RowError)
    assert message == "row 2 is not UTF-8 text; save the file as UTF-8"


def test_header_only(tmp_path: Path) -> None:
    assert refused(csv_file(tmp_path / "d.csv", [])) == "the file has a header but no data rows"


def test_too_few_rows_of_a_class(tmp_path: Path) -> None:
    body = [*rows(2 * MIN_ROWS_PER_CLASS), [*GOOD, "0"]]
    body[1][-1] = "0"
    assert refused(csv_file(tmp_path / "d.csv", body)) == (
        f"Diabetic has {MIN_ROWS_PER_CLASS - 1} rows of class 1; both classes need at least "
        f"{MIN_ROWS_PER_CLASS} rows to train and test a classifier"
    )


# --- limits ---------------------------------------------------------------------------------


def test_a_row_over_the_line_limit(tmp_path: Path) -> None:
    body = rows()
    body[2][0] = "1" * MAX_LINE_BYTES
    message = refused(csv_file(tmp_path / "d.csv", body), RowError)
    assert message.startswith(f"row 4 is longer than {MAX_LINE_BYTES} bytes;")


def test_a_row_over_the_cell_limit(tmp_path: Path) -> None:
    body = rows()
    body[2] = ["0"] * 10_000
    message = refused(csv_file(tmp_path / "d.csv", body), RowError)
    assert message == f"row 4 has more than {MAX_CELLS_PER_ROW} values, the header has 10"


def test_the_row_limit_counts_blank_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validation, "MAX_ROWS", 20)
    assert validate_csv(csv_file(tmp_path / "ok.csv", rows(20))).rows == 20
    refused(csv_file(tmp_path / "rows.csv", rows(21)), TooManyRowsError)
    blanks = write(tmp_path / "blanks.csv", HEADER + "\n" + ",".join([*GOOD, "0"]) + "\n" * 100)
    message = refused(blanks, TooManyRowsError)
    assert message == "the file has more than 20 rows (blank lines included), the limit of one data asset"


# --- not a CSV at all: one generic message, nothing quoted ---------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty", b"", "the file is empty"),
        ("bom only", b"\xef\xbb\xbf", "the file is empty"),
        ("blank first line", ("\n" + HEADER + "\n").encode(), NOT_A_HEADER),
        ("secret", b"SECRET-TOKEN-abc123\nmore\n", NOT_A_HEADER),
        ("log", b"2026-11-28 12:00:01 INFO zygote ready, BMI\n", NOT_A_HEADER),
        ("semicolons", (HEADER.replace(",", ";") + "\n").encode(), NOT_A_HEADER),
        ("png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40, NOT_UTF8),
        ("mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40, BINARY),
        ("latin-1", HEADER.replace("Age", "\xc2ge").encode("latin-1") + b"\n", NOT_UTF8),
        ("utf-16", (HEADER + "\n").encode("utf-16"), BINARY),
        ("random", os.urandom(1 << 20), None),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else "",
)
def test_not_a_csv_is_refused_with_the_generic_message(
    tmp_path: Path, name: str, content: bytes, reason: str | None
) -> None:
    message = refused(write(tmp_path / "f", content), NotACsvError)
    assert message == NotACsvError.MESSAGE, name
    for secret in ("SECRET", "INFO", "PNG", "zygote"):
        assert secret not in message
    if reason is not None:
        with pytest.raises(NotACsvError) as caught:
            validate_csv(tmp_path / "f")
        assert caught.value.reason == reason


def test_the_generic_message_says_what_is_expected() -> None:
    assert NotACsvError.MESSAGE.startswith("not a diabetes-diagnostics CSV: expected UTF-8")
    assert HEADER in NotACsvError.MESSAGE


# --- hostile shapes from the security review (issue 13, finding 1) -------------------------


@pytest.mark.parametrize("width", [32_000, 100_000])
def test_a_very_wide_header_is_refused_at_once(tmp_path: Path, width: int) -> None:
    header = ",".join(f"c{i}" for i in range(width))
    path = write(tmp_path / "wide.csv", header + "\n" + ",".join("1" for _ in range(width)) + "\n")
    message = refused(path, NotACsvError)
    assert f"c{width - 1}" not in message and "c100" not in message


def test_a_very_wide_header_starting_with_the_schema_is_refused_at_once(tmp_path: Path) -> None:
    header = ",".join([*COLUMNS, *(f"c{i}" for i in range(32_000))])
    message = refused(write(tmp_path / "wide.csv", header + "\n"), NotACsvError)
    assert "c31999" not in message


def test_a_row_of_a_million_values(tmp_path: Path) -> None:
    path = write(tmp_path / "cells.csv", HEADER + "\n" + ",".join(["0"] * 1_000_000) + "\n")
    assert refused(path, RowError).startswith(f"row 2 is longer than {MAX_LINE_BYTES} bytes;")


@pytest.mark.parametrize("where", ["first line", "second line"])
def test_a_single_50mb_line_is_never_held(tmp_path: Path, where: str) -> None:
    path = tmp_path / "line.csv"
    with path.open("wb") as f:
        if where == "second line":
            f.write((HEADER + "\n").encode())
        for _ in range(50):
            f.write(b"7" * (1 << 20))
    tracemalloc.start()
    try:
        message = refused(path, NotACsvError if where == "first line" else RowError)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"peak {peak} bytes"
    assert "777" not in message


# --- should_stop ----------------------------------------------------------------------------


def test_should_stop_aborts_between_blocks(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sample.csv", rows=10_000, seed=1)
    calls: list[int] = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(ValidationAborted):
        validate_csv(path, should_stop=stop)
    assert len(calls) == 2  # it stopped at once, without reading the rest
    assert not issubclass(ValidationAborted, SchemaError)  # not a 422: nobody is there to read it


def test_should_stop_is_asked_every_block(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sample.csv", rows=10_000, seed=1)
    calls: list[int] = []

    def never() -> bool:
        calls.append(1)
        return False

    assert validate_csv(path, should_stop=never).rows == 10_000
    assert len(calls) >= path.stat().st_size // validation.BLOCK_BYTES


def test_a_quote_left_open_across_blocks_is_refused(tmp_path: Path) -> None:
    # The open quote is on the last line of the first block: the csv module, given only that
    # block, returns the row with the line break inside its last value.
    body = [",".join(r) for r in rows(8000)]
    text = HEADER + "\n" + "\n".join(body) + "\n"
    last_row = text[: validation.BLOCK_BYTES].count("\n")  # the row ending in the first block
    body[last_row - 2] = body[last_row - 2][:-1] + '"' + body[last_row - 2][-1]
    body[last_row - 1] = '"' + body[last_row - 1]
    path = write(tmp_path / "d.csv", HEADER + "\n" + "\n".join(body) + "\n")
    message = refused(path, RowError)
    assert message == f"row {last_row}: a quoted value holds a line break; each row must be one line"
