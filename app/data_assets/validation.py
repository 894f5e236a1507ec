"""Checks a data-asset CSV against the diabetes-diagnostics schema before it becomes an asset.

This module owns the schema (`COLUMNS`, `LABEL`, `MIN_ROWS_PER_CLASS`), the hard limits a file
must stay within, the errors that say what is wrong, and `validate_csv`: one streaming pass that
hashes, splits, decodes and checks the file in time linear in its size and stops at the first
violation. No pandas in the request path, and no structure ever grows beyond one block of the
file: uploads and the `path` form both feed this function whatever a caller chooses.

Errors are for the person who made the file: they name the problem and at most a few offending
names or values, each shortened, never a whole header or line. A file that is not a CSV with a
recognizable header at all raises `NotACsvError`, whose message is the same for every such file
and quotes nothing from it, so that registering an arbitrary file inside the data directory
cannot be used to read it. A header is recognized when it names at least half of the schema's
columns (in any letter case): only then are its other names echoed, and only a few of them.

Accepted: UTF-8 with an optional BOM; lines ending in \\n, \\r\\n or \\r; header names stripped of
spaces; blank lines skipped; values quoted or not, every one a finite number; `Diabetic` 0 or 1
(0.0 and 1.0 too); at least `MIN_ROWS_PER_CLASS` rows of each class. Every row must be on one
physical line: a quoted value holding a line break is refused (no number contains one), which
keeps the work per row bounded.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import math
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import BinaryIO

from app.data_assets.csverrors import (
    ColumnError,
    NotACsvError,
    RowError,
    SchemaError,
    TooManyRowsError,
    ValidationAborted,
    few,
    show,
)
from app.domain.dataset import COLUMNS, LABEL

__all__ = [
    "COLUMNS",
    "LABEL",
    "MIN_ROWS_PER_CLASS",
    "ColumnError",
    "CsvSummary",
    "NotACsvError",
    "RowError",
    "SchemaError",
    "TooManyRowsError",
    "ValidationAborted",
    "validate_csv",
]

MIN_ROWS_PER_CLASS = 5

MAX_HEADER_COLUMNS = 64
"""Widest header accepted. The schema has 10 columns; a far wider header is a mistake or an
attack: only its first 64 names are ever looked at, and it is refused by its width alone."""

MAX_LINE_BYTES = 64 * 1024
"""Longest physical line, line break included. A row of this schema is about 60 bytes; the
limit is checked as the file is read, so a huge line is refused after one block, never held."""

MAX_CELLS_PER_ROW = 64
"""Most values one row may have. Counted (as commas) on the raw line before it is parsed, so a
row of thousands of values is refused without the csv module building a list of them."""

MAX_ROWS = 500_000
"""Most lines after the header, blank lines included (a file of nothing but line breaks would
otherwise cost nothing to send). 50 times the sample data set. It caps the work one file can
cause, whatever its size (the `path` form has no upload limit), at 0.6-0.8 s on a busy 2-core
machine, quoted or not (bench/csv_validation.py), under the issue's 1 s bar; a million rows,
which the default 50 MiB upload limit would let through, took 1.0-1.4 s."""

BLOCK_BYTES = 128 * 1024
"""Bytes read at a time, and the most work done between two `should_stop` questions: about
2,000 rows of this schema, a few milliseconds, so a caller whose client left stops at once."""

_BOM = codecs.BOM_UTF8
_COLUMN_SET = frozenset(COLUMNS)
_FOLDED_COLUMNS = frozenset(c.casefold() for c in COLUMNS)
# Half the schema: a header with a few mistakes is still recognized (and its mistakes named),
# while a line of some other file, which might name one or two of these words, is not.
_RECOGNIZED_AT = (len(COLUMNS) + 1) // 2
_LABEL_CLASSES = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}
_EXPECTED = ", ".join(COLUMNS)


@dataclass(frozen=True)
class CsvSummary:
    rows: int
    positive_rate: float
    sha256: str


class _LineTooLong(Exception):
    """Raised by `_blocks` in place of the line that exceeds `MAX_LINE_BYTES`."""


def validate_csv(path: Path, should_stop: Callable[[], bool] | None = None) -> CsvSummary:
    """Check `path` against the schema in one pass and return its row count, positive rate and sha256.

    Raises a `SchemaError` (see the subclasses) for the first problem found, or
    `ValidationAborted` as soon as `should_stop()` is true; it is asked every `BLOCK_BYTES`.
    """
    digest = hashlib.sha256()
    counts = [0, 0]
    with path.open("rb") as raw:
        blocks = _blocks(raw, digest.update)
        try:
            first = next(blocks, [])
        except _LineTooLong:
            raise NotACsvError(f"the first line is longer than {MAX_LINE_BYTES} bytes") from None
        if not first:
            raise NotACsvError("the file is empty")
        columns = _read_header(first[0])
        label_at = columns.index(LABEL)
        done = 1  # lines checked so far, the header included: the next line is row done + 1
        try:
            for lines in chain([first[1:]], blocks):
                if should_stop is not None and should_stop():
                    raise ValidationAborted(f"validation stopped by the caller after {done} rows")
                room = MAX_ROWS + 1 - done
                if len(lines) > room:
                    _check_block(lines[:room], done + 1, columns, label_at, counts)
                    raise TooManyRowsError(
                        f"the file has more than {MAX_ROWS:,} rows (blank lines included), "
                        "the limit of one data asset"
                    )
                _check_block(lines, done + 1, columns, label_at, counts)
                done += len(lines)
        except _LineTooLong:
            raise RowError(
                done + 1,
                f"row {done + 1} is longer than {MAX_LINE_BYTES} bytes; "
                f"a row of this schema is about 60 bytes ({len(columns)} numbers)",
            ) from None
    rows = counts[0] + counts[1]
    if rows == 0:
        raise SchemaError("the file has a header but no data rows")
    for klass, n in enumerate(counts):
        if n < MIN_ROWS_PER_CLASS:
            raise SchemaError(
                f"{LABEL} has {n} rows of class {klass}; both classes need at least "
                f"{MIN_ROWS_PER_CLASS} rows to train and test a classifier"
            )
    return CsvSummary(rows=rows, positive_rate=counts[1] / rows, sha256=digest.hexdigest())


def _blocks(raw: BinaryIO, update: Callable[[bytes], object]) -> Iterator[list[bytes]]:
    """The complete lines of `raw` (line breaks kept), a block at a time; hashes every byte read.

    Lines break at \\n, \\r\\n and \\r, as the csv module's do. A line longer than
    `MAX_LINE_BYTES` is not yielded: the lines before it are, then `_LineTooLong` is raised as
    soon as the length is known, without looking for the line's end.
    """
    pending = b""
    first = True
    while chunk := raw.read(BLOCK_BYTES):
        update(chunk)
        data = pending + chunk  # pending is at most MAX_LINE_BYTES: a bounded copy
        if first:
            first = False
            data = data.removeprefix(_BOM)
            if not data:
                continue
        lines = data.splitlines(keepends=True)
        # The last line may go on in the next block; a trailing \r may be half of a \r\n.
        pending = b"" if lines[-1].endswith(b"\n") else lines.pop()
        if lines and max(map(len, lines)) > MAX_LINE_BYTES:
            long_at = next(i for i, line in enumerate(lines) if len(line) > MAX_LINE_BYTES)
            if long_at:
                yield lines[:long_at]
            raise _LineTooLong
        if lines:
            yield lines
        if len(pending) > MAX_LINE_BYTES:
            raise _LineTooLong
    if pending:
        yield [pending]


def _read_header(line: bytes) -> tuple[str, ...]:
    """The header's columns, once they are exactly the schema's (in any order)."""
    if b"\0" in line:
        raise NotACsvError("the first line holds binary data")
    try:
        text = line.decode()
    except UnicodeDecodeError:
        raise NotACsvError("the first line is not UTF-8 text") from None
    try:
        cells = next(csv.reader([text]), [])
    except csv.Error:
        raise NotACsvError("the first line is not valid CSV") from None
    # Only the first MAX_HEADER_COLUMNS names are ever looked at, whatever the width.
    names = [c.strip() for c in cells[:MAX_HEADER_COLUMNS]]
    if len({n.casefold() for n in names} & _FOLDED_COLUMNS) < _RECOGNIZED_AT:
        raise NotACsvError("the first line is not a header of this schema")
    if len(cells) > MAX_HEADER_COLUMNS:
        raise ColumnError(
            f"the header has {len(cells)} columns, more than the limit of {MAX_HEADER_COLUMNS}; "
            f"expected exactly: {_EXPECTED}"
        )
    present = set(names)
    missing = [c for c in COLUMNS if c not in present]
    unexpected = [n for n in names if n not in _COLUMN_SET]
    duplicated = [n for n, k in Counter(names).items() if k > 1]
    if not (missing or unexpected or duplicated):
        return tuple(names)
    problems = []
    if missing:
        problems.append("missing columns: " + few(missing, quote=False))
    if unexpected:
        problems.append("unexpected columns: " + few(unexpected))
    if duplicated:
        problems.append("duplicated columns: " + few(duplicated))
    hint = ""
    if {n.casefold() for n in unexpected} & {c.casefold() for c in missing}:
        hint = "; names are case-sensitive"
    raise ColumnError("; ".join(problems) + f" (expected exactly: {_EXPECTED}{hint})")


def _check_block(
    lines: list[bytes], first_row: int, columns: Sequence[str], label_at: int, counts: list[int]
) -> None:
    """Check `lines`, rows `first_row`... of the file, adding their labels to `counts`."""
    if not lines:
        return
    width = len(columns)
    commas = list(map(bytes.count, lines, repeat(b",")))
    if commas.count(width - 1) == len(lines) and _accept_plain_block(lines, width, label_at, counts):
        return
    # The careful path: find the first problem, in file order, and name it.
    end, problem = len(lines), ""
    if max(commas) >= MAX_CELLS_PER_ROW:
        end = next(i for i, n in enumerate(commas) if n >= MAX_CELLS_PER_ROW)
        problem = f"has more than {MAX_CELLS_PER_ROW} values, the header has {width}"
    text: list[str] = []
    for line in lines[:end]:
        try:
            text.append(line.decode())
        except UnicodeDecodeError:
            end, problem = len(text), "is not UTF-8 text; save the file as UTF-8"
            break
    reader = csv.reader(text)
    try:
        for i, row in enumerate(reader):
            number = first_row + i
            # A quote left open swallows the next lines into one row or, at the end of the
            # block, leaves the line break in the row's last value.
            if reader.line_num != i + 1 or (row and ("\n" in row[-1] or "\r" in row[-1])):
                raise RowError(
                    number, f"row {number}: a quoted value holds a line break; each row must be one line"
                )
            if row:
                counts[_check_row(row, number, columns, label_at)] += 1
    except csv.Error as error:
        # The csv module's messages describe the syntax, never the content.
        number = first_row + reader.line_num - 1
        raise RowError(number, f"row {number} is not valid CSV: {error}") from None
    if problem:
        raise RowError(first_row + end, f"row {first_row + end} {problem}")


def _accept_plain_block(lines: list[bytes], width: int, label_at: int, counts: list[int]) -> bool:
    """Fast path for the common block: no quotes, `width` values a line, no blank line.

    Splits the whole block at commas and converts every value with C-level loops. Returns False
    (and counts nothing) if anything is unusual; the careful path then decides, so this path only
    ever accepts what the careful path would accept, with the same counts.
    """
    block = b"".join(lines)
    # No quotes: the csv module would split each line at its commas exactly like str.split.
    # \r only as part of \r\n: every line ends in \n, and a \r is whitespace to float() and strip().
    if b'"' in block or block.count(b"\r") != block.count(b"\r\n"):
        return False
    try:
        text = block.decode()
    except UnicodeDecodeError:
        return False
    cells = text.removesuffix("\n").replace("\n", ",").split(",")
    if len(cells) != width * len(lines):
        return False
    try:
        total = sum(map(float, cells))
    except ValueError:
        return False
    if not math.isfinite(total):  # a non-finite value, or finite values whose sum overflows
        return False
    found = [0, 0]
    for label, n in Counter(cells[label_at::width]).items():
        klass = _LABEL_CLASSES.get(label.strip())
        if klass is None:
            return False
        found[klass] += n
    counts[0] += found[0]
    counts[1] += found[1]
    return True


def _check_row(row: list[str], number: int, columns: Sequence[str], label_at: int) -> int:
    """The class of one non-blank row, or the RowError naming its first problem."""
    if len(row) != len(columns):
        raise RowError(number, f"row {number} has {len(row)} values, the header has {len(columns)}")
    try:
        finite = math.isfinite(sum(map(float, row)))
    except ValueError:
        finite = False
    if not finite:
        for column, value in zip(columns, row, strict=True):
            _check_number(column, value, number)
    label = row[label_at].strip()
    klass = _LABEL_CLASSES.get(label)
    if klass is None:
        raise RowError(number, f"row {number}: {LABEL} is {show(label)}; it must be 0 or 1")
    return klass


def _check_number(column: str, value: str, row: int) -> None:
    try:
        number = float(value)
    except ValueError:
        raise RowError(row, f"row {row}, column {column}: {show(value)} is not a number") from None
    if not math.isfinite(number):
        raise RowError(row, f"row {row}, column {column}: {show(value)} is not a finite number")
