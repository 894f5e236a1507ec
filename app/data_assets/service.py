"""Versioned data assets of the local backend: immutable CSV files under the data directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import BinaryIO

from app.api.errors import InvalidInput, NotFound, PayloadTooLarge
from app.data_assets.schemas import DataAssetRead, DataAssetSummary
from app.data_assets.validation import SchemaError, validate_csv
from app.store.repository import Repository, utcnow
from app.store.tables import DataAssetRow

DEFAULT_ASSET = "diabetes-diagnostics"


class DataAssets:
    def __init__(self, repo: Repository, data_dir: Path, max_upload_bytes: int) -> None:
        self.repo = repo
        self.data_dir = data_dir
        self.assets_dir = data_dir / "assets"
        self.max_upload_bytes = max_upload_bytes

    def ensure_default(self) -> None:
        """Create the built-in sample data set on first start, so a newcomer can train at once."""
        if self.repo.data_asset(DEFAULT_ASSET, None) is not None:
            return
        from app.sampledata import write_csv

        with tempfile.TemporaryDirectory(dir=self.data_dir) as scratch:
            path = write_csv(Path(scratch) / "data.csv", rows=10_000, seed=42)
            self._register(
                DEFAULT_ASSET, Path(path), "generated", "built-in sample: 10,000 generated rows, seed 42"
            )

    def upload(self, name: str, stream: BinaryIO, description: str | None) -> DataAssetRead:
        self.assets_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.assets_dir, suffix=".upload")
        try:
            written = 0
            with os.fdopen(fd, "wb") as out:
                while block := stream.read(1 << 20):
                    written += len(block)
                    if written > self.max_upload_bytes:
                        raise PayloadTooLarge(
                            f"the file is larger than the {self.max_upload_bytes} byte limit "
                            "(TRAINCTL_MAX_UPLOAD_BYTES)",
                            invalid=[("file", "too large")],
                        )
                    out.write(block)
            return self._register(name, Path(tmp), "upload", description)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def register_path(self, name: str, relative: str, description: str | None) -> DataAssetRead:
        source = self.inside_data_dir(relative)
        return self._register(name, source, "path", description)

    def inside_data_dir(self, relative: str) -> Path:
        """Resolve a caller's path; anything that leaves the data directory is refused."""
        invalid = [("body.path", "must be a CSV file inside the data directory, e.g. imports/data.csv")]
        if "\0" in relative or Path(relative).is_absolute():
            raise InvalidInput("path must be relative to the data directory", invalid=invalid)
        root = self.data_dir.resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise InvalidInput("path leaves the data directory", invalid=invalid)
        if not target.is_file():
            raise InvalidInput(f"no file at {relative!r} in the data directory", invalid=invalid)
        return target

    def _register(self, name: str, source: Path, kind: str, description: str | None) -> DataAssetRead:
        try:
            summary = validate_csv(source)
        except SchemaError as error:
            field = "file" if kind == "upload" else "body.path"
            raise InvalidInput(
                f"the CSV does not match the diabetes-diagnostics schema: {error}",
                invalid=[(field, str(error))],
            ) from None
        # Content-addressed file name: the path is known before the version number is.
        target = self.assets_dir / name / f"{summary.sha256}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            partial = target.with_suffix(".partial")
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        row = self.repo.add_data_asset(
            DataAssetRow(
                name=name,
                version=0,
                path=str(target),
                sha256=summary.sha256,
                rows=summary.rows,
                positive_rate=round(summary.positive_rate, 4),
                source=kind,
                description=description,
                created_at=utcnow(),
            )
        )
        return asset_read(row)

    def get(self, name: str) -> DataAssetSummary:
        rows = self.repo.data_assets(name)
        if not rows:
            raise NotFound(f"no data asset named {name!r}")
        return summary_of(name, rows)

    def list(self) -> list[DataAssetSummary]:
        grouped: defaultdict[str, list[DataAssetRow]] = defaultdict(list)
        for row in self.repo.data_assets():
            grouped[row.name].append(row)
        return [summary_of(name, rows) for name, rows in sorted(grouped.items())]

    def resolve(self, name: str, version: str) -> DataAssetRow:
        row = self.repo.data_asset(name, None if version == "latest" else int(version))
        if row is None:
            known = sorted({r.name for r in self.repo.data_assets()})
            what = (
                f"data asset {name!r}" if version == "latest" else f"version {version} of data asset {name!r}"
            )
            raise InvalidInput(
                f"{what} does not exist (known assets: {', '.join(known) or 'none'}); "
                "register it with POST /v1/data-assets",
                invalid=[("body.data_asset", f"unknown {what}")],
            )
        return row


def asset_read(row: DataAssetRow) -> DataAssetRead:
    return DataAssetRead(
        name=row.name,
        version=str(row.version),
        rows=row.rows,
        positive_rate=row.positive_rate,
        sha256=row.sha256,
        source=row.source,  # type: ignore[arg-type]
        description=row.description,
        created_at=row.created_at,
    )


def summary_of(name: str, rows: list[DataAssetRow]) -> DataAssetSummary:
    versions = [asset_read(r) for r in sorted(rows, key=lambda r: r.version)]
    return DataAssetSummary(name=name, latest_version=versions[-1].version, versions=versions)
