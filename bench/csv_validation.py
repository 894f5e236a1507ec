"""Data-asset CSV validation: time per MB for normal files and for hostile ones.

    .venv/bin/python bench/csv_validation.py [--repeats 5]

Writes each file once into a scratch directory, then times `validate_csv` on it (best and
median of the repeats; the file is in the page cache, so this is CPU time, not disk) and
measures the peak memory the validation allocates (tracemalloc, in a separate run). Prints a
table; nothing is kept. The issue's bar: no hostile upload may hold a core for more than 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.data_assets.validation import COLUMNS, MAX_ROWS, SchemaError, validate_csv  # noqa: E402
from app.sampledata import write_csv  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data" / "diabetes.csv"
HEADER = ",".join(COLUMNS)
MIB = 1 << 20


@dataclass
class Shape:
    name: str
    make: Callable[[Path], Path] | None  # None: an existing file, used in place
    path: Path | None = None


def lines(path: Path, parts: Iterable[str | bytes]) -> Path:
    with path.open("wb") as f:
        for part in parts:
            f.write(part.encode() if isinstance(part, str) else part)
    return path


def after_header(parts: list[str | bytes]) -> Callable[[Path], Path]:
    return lambda path: lines(path, [HEADER, "\n", *parts])


def sample(rows: int) -> Callable[[Path], Path]:
    return lambda path: write_csv(path, rows=rows, seed=42)


def rewritten(rows: int, quoting: Literal[0, 1, 2, 3], blank_lines: bool = False) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        source = write_csv(path.with_suffix(".src"), rows=rows, seed=42)
        with source.open(newline="") as f, path.open("w", newline="") as out:
            writer = csv.writer(out, quoting=quoting, lineterminator="\n\n" if blank_lines else "\n")
            writer.writerows(csv.reader(f))
        source.unlink()
        return path

    return make


def wide_header(width: int, schema_first: bool = False) -> Callable[[Path], Path]:
    names = [f"c{i}" for i in range(width)]
    if schema_first:
        names = [*COLUMNS, *names]
    return lambda path: lines(path, [",".join(names), "\n", ",".join("1" for _ in names), "\n"])


def short_rows(total_bytes: int, quoted: bool) -> Callable[[Path], Path]:
    row = ",".join(f'"{v}"' if quoted else v for v in ["1", *["0"] * 8, "0"]) + "\n"
    block = row * (MIB // len(row))
    return lambda path: lines(path, [HEADER, "\n", *[block] * (total_bytes // len(block))])


def long_numbers(total_bytes: int) -> Callable[[Path], Path]:
    # Rows just under the line limit: nine numbers of 6,000 digits each, all finite and valid.
    pair = "".join(",".join(["0." + "1" * 6000] * 9 + [label]) + "\n" for label in "01")
    return lambda path: lines(path, [HEADER, "\n", *[pair] * (total_bytes // len(pair))])


SHAPES = [
    Shape("normal: sample, 10,000 rows", sample(10_000)),
    Shape("normal: ../shared/data/diabetes.csv", None, SHARED_DATA),
    Shape(f"normal: sample, {MAX_ROWS:,} rows (the row limit)", sample(MAX_ROWS)),
    Shape("normal: sample, 1,000,000 rows (~50 MB)", sample(1_000_000)),
    Shape("normal: 100,000 rows, every value quoted", rewritten(100_000, csv.QUOTE_ALL)),
    Shape("normal: 100,000 rows, blank line after each", rewritten(100_000, csv.QUOTE_MINIMAL, True)),
    Shape("hostile: header of 32,000 columns", wide_header(32_000)),
    Shape("hostile: header of 100,000 columns", wide_header(100_000)),
    Shape("hostile: schema + 32,000 more columns", wide_header(32_000, schema_first=True)),
    Shape("hostile: schema + 1,000 more columns", wide_header(1_000, schema_first=True)),
    Shape("hostile: one row of 1,000,000 values", after_header(["0," * 999_999, "0\n"])),
    Shape("hostile: one 50 MB line", lambda p: lines(p, [b"7" * MIB] * 50)),
    Shape("hostile: header, then one 50 MB line", after_header([b"7" * MIB] * 50)),
    Shape("hostile: 50 MB of random bytes", lambda p: lines(p, [os.urandom(MIB) for _ in range(50)])),
    Shape("hostile: not UTF-8 (UTF-16 header)", lambda p: lines(p, [(HEADER + "\n").encode("utf-16")])),
    Shape("hostile: header, then 50 MB of line breaks", after_header([b"\n" * MIB] * 50)),
    Shape("hostile: 50 MB of 20-byte rows", short_rows(50 * MIB, quoted=False)),
    Shape("hostile: 50 MB of 40-byte quoted rows", short_rows(50 * MIB, quoted=True)),
    Shape("hostile: 50 MB of 54 KB rows (6,000-digit numbers)", long_numbers(50 * MIB)),
]


def outcome(path: Path) -> str:
    try:
        summary = validate_csv(path)
    except SchemaError as error:
        message = str(error)
        return f"{type(error).__name__} ({len(message)} chars): {message[:60]}"
    return f"accepted, {summary.rows:,} rows"


def timed(path: Path, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        with contextlib.suppress(SchemaError):
            validate_csv(path)
        times.append(time.perf_counter() - started)
    return times


def peak_memory(path: Path) -> int:
    tracemalloc.start()
    try:
        outcome(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, MAX_ROWS {MAX_ROWS:,}")
    header = f"{'file':52} {'size MB':>8} {'best s':>8} {'median s':>9} {'ms/MB':>7} {'peak MB':>8}  result"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="csv-bench-") as scratch:
        for i, shape in enumerate(SHAPES):
            path = shape.path if shape.make is None else shape.make(Path(scratch) / f"{i}.csv")
            if path is None or not path.exists():
                print(f"{shape.name:52} (not present, skipped)")
                continue
            size = path.stat().st_size / 1e6
            times = timed(path, args.repeats)
            best, median = min(times), statistics.median(times)
            peak = peak_memory(path) / 1e6
            print(
                f"{shape.name:52} {size:8.2f} {best:8.4f} {median:9.4f} {1000 * median / size:7.2f} "
                f"{peak:8.2f}  {outcome(path)}"
            )
            if shape.make is not None:
                path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
