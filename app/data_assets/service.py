"""Versioned data assets of the local backend: immutable CSV files under the data directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from app.data_assets.schemas import DataAssetRead, DataAssetSummary
from app.data_assets.validation import NotACsvError, SchemaError, validate_csv
from app.domain.clock import utcnow
from app.domain.errors import InvalidInput, NotFound, PayloadTooLarge
from app.domain.spec import DEFAULT_DATA_ASSET, LATEST, DataAssetRef, DataAssetSelector
from app.store.data_assets import DataAssetStore
from app.store.tables import DataAssetRow

_PATH_FIELD = "body.path"
_PATH_HINT = "must be a CSV file inside the data directory, e.g. imports/data.csv"
#: Asked between blocks of a long validation: true when the caller's client went away.
StopCheck = Callable[[], bool] | None


class DataAssets:
    """The catalog of data files the local engine trains on (and the API lists and takes)."""

    def __init__(self, store: DataAssetStore, data_dir: Path, max_upload_bytes: int) -> None:
        self.store = store
        self.data_dir = data_dir
        self.assets_dir = data_dir / "assets"
        self.max_upload_bytes = max_upload_bytes

    def ensure_default(self) -> None:
        """Create the built-in sample data set on first start, so a newcomer can train at once."""
        if self.store.get(DEFAULT_DATA_ASSET, None) is not None:
            return
        from app.sampledata import write_csv

        with tempfile.TemporaryDirectory(dir=self.data_dir) as scratch:
            path = write_csv(Path(scratch) / "data.csv", rows=10_000, seed=42)
            self._register(
                DEFAULT_DATA_ASSET, Path(path), "generated", "built-in sample: 10,000 generated rows, seed 42"
            )

    def upload(
        self, name: str, stream: BinaryIO, description: str | None, should_stop: StopCheck = None
    ) -> DataAssetRead:
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
            return self._register(name, Path(tmp), "upload", description, should_stop)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def register_path(
        self, name: str, relative: str, description: str | None, should_stop: StopCheck = None
    ) -> DataAssetRead:
        source = self.inside_data_dir(relative)
        return self._register(name, source, "path", description, should_stop)

    def inside_data_dir(self, relative: str) -> Path:
        """Resolve a caller's path; anything that leaves the data directory is refused, and so
        is anything the operating system refuses (too long, NUL, not encodable)."""
        invalid = [(_PATH_FIELD, _PATH_HINT)]
        if "\0" in relative or Path(relative).is_absolute():
            raise InvalidInput("path must be relative to the data directory", invalid=invalid)
        try:
            relative.encode("utf-8")
            root = self.data_dir.resolve()
            target = (root / relative).resolve()
            inside = target.is_relative_to(root)
            exists = inside and target.is_file()
        except (OSError, ValueError, UnicodeError):
            raise InvalidInput(
                "path is not one this system can open (too long, or not valid text)", invalid=invalid
            ) from None
        if not inside:
            raise InvalidInput("path leaves the data directory", invalid=invalid)
        if not exists:
            raise InvalidInput(f"no file at {relative!r} in the data directory", invalid=invalid)
        return target

    def _register(
        self, name: str, source: Path, kind: str, description: str | None, should_stop: StopCheck = None
    ) -> DataAssetRead:
        field = "file" if kind == "upload" else _PATH_FIELD
        try:
            summary = validate_csv(source, should_stop)
        except NotACsvError as error:
            # The path form may name any readable file of the data directory: its answer must
            # not tell what the file holds. An uploader may hear which case it was.
            detail = str(error) + (f" ({error.reason})" if kind == "upload" else "")
            raise InvalidInput(detail, invalid=[(field, "not a diabetes-diagnostics CSV")]) from None
        except SchemaError as error:
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
        row = self.store.add(
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
        rows = self.store.versions(name)
        if not rows:
            raise NotFound(f"no data asset named {name!r}")
        return summary_of(name, rows)

    def list(self) -> list[DataAssetSummary]:
        grouped: defaultdict[str, list[DataAssetRow]] = defaultdict(list)
        for row in self.store.versions():
            grouped[row.name].append(row)
        return [summary_of(name, rows) for name, rows in sorted(grouped.items())]

    def resolve(self, selector: DataAssetSelector) -> DataAssetRef:
        """A concrete version and its file; "latest" is the newest version now."""
        name, version = selector.name, selector.version
        row = self.store.get(name, None if version == LATEST else int(version))
        if row is None:
            known = sorted({r.name for r in self.store.versions()})
            what = (
                f"data asset {name!r}" if version == LATEST else f"version {version} of data asset {name!r}"
            )
            raise InvalidInput(
                f"{what} does not exist (known assets: {', '.join(known) or 'none'}); "
                "register it with POST /v1/data-assets",
                invalid=[("body.data_asset", f"unknown {what}")],
            )
        return DataAssetRef(name=row.name, version=str(row.version), path=Path(row.path))


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
