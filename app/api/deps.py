"""Typed access to what lifespan built; routes declare what they need with these aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.backends.base import TrainingBackend
from app.data_assets.service import DataAssets
from app.runs.service import RunsService
from app.settings import Settings
from app.store.repository import Repository


@dataclass
class Services:
    settings: Settings
    repo: Repository
    backend: TrainingBackend
    runs: RunsService
    assets: DataAssets


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _runs(request: Request) -> RunsService:
    return services(request).runs


def _assets(request: Request) -> DataAssets:
    return services(request).assets


def _backend(request: Request) -> TrainingBackend:
    return services(request).backend


def _settings(request: Request) -> Settings:
    return services(request).settings


def _repo(request: Request) -> Repository:
    return services(request).repo


RunsDep = Annotated[RunsService, Depends(_runs)]
AssetsDep = Annotated[DataAssets, Depends(_assets)]
BackendDep = Annotated[TrainingBackend, Depends(_backend)]
SettingsDep = Annotated[Settings, Depends(_settings)]
RepoDep = Annotated[Repository, Depends(_repo)]
