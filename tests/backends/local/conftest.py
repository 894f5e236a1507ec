"""A started local backend (warm zygote, real MLflow store) shared by this folder's tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.backends.local.backend import LocalBackend
from app.backends.local.layout import DataLayout
from app.backends.local.stepcache import MemoryStepCache
from app.domain.pipeline import COMPONENTS_DIR
from tests.support.loop import LoopThread


@pytest.fixture(scope="package")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="package")
def components(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the components, so a test may edit a script."""
    target = tmp_path_factory.mktemp("components") / "components"
    shutil.copytree(COMPONENTS_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="package")
def backend(
    loop: LoopThread, tmp_path_factory: pytest.TempPathFactory, components: Path
) -> Iterator[LocalBackend]:
    layout = DataLayout(tmp_path_factory.mktemp("engine-data"))
    local = LocalBackend(layout, MemoryStepCache(), components_dir=components, max_parallel_steps=2)
    loop.run(local.start())
    loop.run(local.lead())  # the engine runs on the replica that leads: this one
    loop.run(local.wait_warm())
    yield local
    loop.run(local.close())
