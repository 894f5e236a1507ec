"""The data-asset catalog over a real store and data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.data_assets.service import DataAssets
from app.data_assets.validation import ValidationAborted
from app.domain.errors import InvalidInput
from app.domain.spec import DataAssetSelector
from app.sampledata import write_csv
from app.store import Store
from app.store.db import make_engine, migrate, session_factory


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[DataAssets]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    data = tmp_path / "data"
    data.mkdir()
    yield DataAssets(Store(session_factory(engine)).assets, data, max_upload_bytes=10 << 20)
    engine.dispose()


def test_a_registered_file_resolves_to_its_version_and_copy(catalog: DataAssets) -> None:
    write_csv(catalog.data_dir / "a.csv", rows=300, seed=1)
    first = catalog.register_path("d", "a.csv", None)
    write_csv(catalog.data_dir / "b.csv", rows=300, seed=2)
    catalog.register_path("d", "b.csv", None)
    latest = catalog.resolve(DataAssetSelector(name="d"))
    pinned = catalog.resolve(DataAssetSelector(name="d", version="1"))
    assert (latest.version, pinned.version, first.version) == ("2", "1", "1")
    assert (
        pinned.path is not None and pinned.path.is_file() and pinned.path.parent.parent == catalog.assets_dir
    )
    with pytest.raises(InvalidInput) as unknown:
        catalog.resolve(DataAssetSelector(name="d", version="9"))
    assert unknown.value.invalid == [("body.data_asset", "unknown version 9 of data asset 'd'")]


def test_validation_stops_when_the_caller_is_gone_and_registers_nothing(catalog: DataAssets) -> None:
    write_csv(catalog.data_dir / "big.csv", rows=5000, seed=3)
    with pytest.raises(ValidationAborted):
        catalog.register_path("d", "big.csv", None, should_stop=lambda: True)
    assert catalog.list() == []


def test_an_upload_hears_why_its_file_is_not_a_csv(catalog: DataAssets) -> None:
    import io

    with pytest.raises(InvalidInput) as raised:
        catalog.upload("d", io.BytesIO(b"\xff\xfe\x00b\x00i\x00n"), None)
    assert raised.value.detail.startswith("not a diabetes-diagnostics CSV")
    assert raised.value.detail.endswith(")")  # the reason, e.g. (not UTF-8 text)
    assert raised.value.invalid == [("file", "not a diabetes-diagnostics CSV")]
