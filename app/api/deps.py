"""Typed access to what the app's lifespan built; routes declare what they need with these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.backends.protocol import TrainingBackend
from app.data_assets.service import DataAssets
from app.lifecycle.eventhub import EventHub
from app.lifecycle.queries import RunQueries
from app.lifecycle.registry import ModelRegistry
from app.lifecycle.runtime import Lifecycle
from app.lifecycle.submission import RunSubmission
from app.lifecycle.trials import TrialQueries
from app.settings import Settings
from app.store import Store


@dataclass
class Services:
    settings: Settings
    store: Store
    backend: TrainingBackend
    lifecycle: Lifecycle
    assets: DataAssets


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def _queries(request: Request) -> RunQueries:
    return services(request).lifecycle.queries


def _trials(request: Request) -> TrialQueries:
    return services(request).lifecycle.trials


def _submission(request: Request) -> RunSubmission:
    return services(request).lifecycle.submission


def _models(request: Request) -> ModelRegistry:
    return services(request).lifecycle.models


def _hub(request: Request) -> EventHub:
    return services(request).lifecycle.hub


def _assets(request: Request) -> DataAssets:
    return services(request).assets


def _backend(request: Request) -> TrainingBackend:
    return services(request).backend


def _caller(request: Request) -> str:
    """The authenticated caller's name (the guard put the principal on the request)."""
    principal = getattr(request.state, "principal", None)
    return str(principal.name) if principal is not None else "local"


def _settings(request: Request) -> Settings:
    return services(request).settings


def _store(request: Request) -> Store:
    return services(request).store


def _lifecycle(request: Request) -> Lifecycle:
    return services(request).lifecycle


RunsDep = Annotated[RunQueries, Depends(_queries)]
TrialsDep = Annotated[TrialQueries, Depends(_trials)]
SubmissionDep = Annotated[RunSubmission, Depends(_submission)]
ModelsDep = Annotated[ModelRegistry, Depends(_models)]
HubDep = Annotated[EventHub, Depends(_hub)]
AssetsDep = Annotated[DataAssets, Depends(_assets)]
BackendDep = Annotated[TrainingBackend, Depends(_backend)]
CallerDep = Annotated[str, Depends(_caller)]
SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
LifecycleDep = Annotated[Lifecycle, Depends(_lifecycle)]
