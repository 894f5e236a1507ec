"""Checks an uploaded CSV against the diabetes-diagnostics schema before it becomes an asset.

Streams the file with the csv module (no pandas in the request path) and stops at the first
problem, naming the column and row so the caller can fix the file.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from app.domain.dataset import COLUMNS, LABEL

MIN_ROWS_PER_CLASS = 5


class SchemaError(ValueError):
    """The file does not match the schema; the message says what to fix."""


@dataclass(frozen=True)
class CsvSummary:
    rows: int
    positive_rate: float
    sha256: str


def validate_csv(path: Path) -> CsvSummary:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with path.open(newline="", encoding="utf-8-sig", errors="strict") as f:
        try:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise SchemaError("the file is empty: expected a header row with " + ", ".join(COLUMNS))
            header = [h.strip() for h in header]
            _check_header(header)
            label_at = header.index(LABEL)
            counts = {0: 0, 1: 0}
            for number, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise SchemaError(f"row {number} has {len(row)} values, the header has {len(header)}")
                for column, value in zip(header, row, strict=True):
                    _check_number(column, value, number)
                label = row[label_at].strip()
                if label not in ("0", "1", "0.0", "1.0"):
                    raise SchemaError(f"row {number}: {LABEL} is {label!r}; it must be 0 or 1")
                counts[int(float(label))] += 1
        except UnicodeDecodeError as error:
            raise SchemaError(f"the file is not UTF-8 text ({error.reason})") from None
        except csv.Error as error:
            raise SchemaError(f"the file is not valid CSV: {error}") from None
    rows = counts[0] + counts[1]
    if rows == 0:
        raise SchemaError("the file has a header but no data rows")
    for klass, n in counts.items():
        if n < MIN_ROWS_PER_CLASS:
            raise SchemaError(
                f"{LABEL} has {n} rows of class {klass}; both classes need at least "
                f"{MIN_ROWS_PER_CLASS} rows to train and test a classifier"
            )
    return CsvSummary(rows=rows, positive_rate=counts[1] / rows, sha256=digest)


def _check_header(header: list[str]) -> None:
    missing = [c for c in COLUMNS if c not in header]
    extra = [c for c in header if c not in COLUMNS]
    duplicated = sorted({c for c in header if header.count(c) > 1})
    problems = []
    if missing:
        problems.append("missing columns: " + ", ".join(missing))
    if extra:
        problems.append("unexpected columns: " + ", ".join(extra))
    if duplicated:
        problems.append("duplicated columns: " + ", ".join(duplicated))
    if problems:
        raise SchemaError("; ".join(problems) + f" (expected exactly: {', '.join(COLUMNS)})")


def _check_number(column: str, value: str, row: int) -> None:
    try:
        number = float(value)
    except ValueError:
        raise SchemaError(f"row {row}, column {column}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise SchemaError(f"row {row}, column {column}: {value!r} is not a finite number")
