"""One Settings object, built once at start-up and injected everywhere else."""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAINCTL_", extra="ignore")

    data_dir: Path = Path(".trainctl")
    database_url: str | None = None  # default: SQLite inside data_dir
    # Replicas: the leader's lease lasts this long on the database's clock; a dead leader is
    # replaced within it (plus one second).
    lease_seconds: float = Field(default=5.0, ge=2.0, le=120.0)
    # On SIGTERM: keep serving this long while /readyz says "draining", so the load balancer
    # stops sending before the listener closes. Default: 0 with SQLite (one process), 3 s with
    # a database server (other replicas take the traffic).
    drain_seconds: float | None = Field(default=None, ge=0.0, le=300.0)
    # Set by `serve --workers N` for its workers (see app/store/ownership.py); never by hand.
    sqlite_shared_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000

    backend: Literal["auto", "local", "azureml"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # auto: readable lines when stdout is a terminal, JSON lines otherwise
    log_format: Literal["auto", "json", "console"] = "auto"

    # Local engine
    max_parallel_steps: int = Field(default=2, ge=1, le=64)
    warm_runner: bool = True  # fork steps from a warmed zygote; False = a fresh interpreter each
    max_queued_runs: int = Field(default=200, ge=1)
    # One caller's share of the queue; unset: all of it without auth, half of it with auth.
    max_queued_runs_per_caller: int | None = Field(default=None, ge=1)
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    azure_poll_seconds: float = Field(default=5.0, gt=0)

    # Azure ML: the exact variable names of the original scripts, no prefix.
    azureml_subscription: str | None = Field(
        default=None, validation_alias=AliasChoices("AZUREML_ARM_SUBSCRIPTION")
    )
    azureml_resource_group: str | None = Field(
        default=None, validation_alias=AliasChoices("AZUREML_ARM_RESOURCEGROUP")
    )
    azureml_workspace: str | None = Field(
        default=None, validation_alias=AliasChoices("AZUREML_ARM_WORKSPACE_NAME")
    )
    managed_identity_client_id: str | None = Field(
        default=None, validation_alias=AliasChoices("MANAGED_IDENTITY_CLIENT_ID")
    )
    azure_call_timeout_seconds: float = Field(default=20.0, gt=0)
    preflight_timeout_seconds: float = Field(default=5.0, gt=0)

    # Caller auth (see docs/security.md)
    auth_mode: Literal["none", "api-key", "entra"] = "none"
    api_keys: SecretStr | None = None  # "role:sha256hex,role:sha256hex" or "role:plainkey"
    entra_tenant_id: str | None = None
    entra_audience: str | None = None  # comma-separated: App ID URI and/or client id
    entra_jwks_url: str | None = None  # default: the tenant's discovery/v2.0/keys
    entra_issuer: str | None = None  # comma-separated; default: the tenant's v2.0 and v1 issuers

    # Event stream (GET /v1/events): how long events are kept for reconnecting clients, how many
    # a subscriber may fall behind before it is dropped (and told to reconnect), keep-alives.
    events_retention_hours: float = Field(default=168.0, gt=0)
    events_buffer: int = Field(default=1000, ge=1, le=100_000)
    events_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)

    # Dashboard (/ui): the key that signs session cookies and form tokens (random per process
    # when unset: sessions then end with a restart); how long a sign-in lasts.
    ui_session_secret: SecretStr | None = None
    ui_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)

    # Abuse limits: JSON bodies; uploads have max_upload_bytes
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    # Completion callbacks: hosts, "*.domain", IPs or CIDRs; empty = callbacks refused
    callback_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    callback_allow_http: bool = False  # plain-http callbacks carry the signed body in clear text
    callback_secret: SecretStr | None = None
    callback_max_attempts: int = Field(default=5, ge=1, le=20)
    callback_backoff_seconds: float = Field(default=2.0, gt=0, le=300)
    callback_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("callback_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: object) -> object:
        # One env var, comma-separated: JSON lists are easy to get wrong in a shell.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def backend_kind(self) -> Literal["local", "azureml"]:
        if self.backend != "auto":
            return self.backend
        azure = (self.azureml_subscription, self.azureml_resource_group, self.azureml_workspace)
        return "azureml" if all(azure) else "local"

    @property
    def caller_queue_limit(self) -> int:
        if self.max_queued_runs_per_caller is not None:
            return min(self.max_queued_runs_per_caller, self.max_queued_runs)
        return self.max_queued_runs if self.auth_mode == "none" else max(1, self.max_queued_runs // 2)

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'trainctl.db'}"

    @property
    def resolved_drain_seconds(self) -> float:
        if self.drain_seconds is not None:
            return self.drain_seconds
        return 0.0 if self.resolved_database_url.startswith("sqlite") else 3.0


def settings_problems(error: ValidationError) -> list[str]:
    """One line per bad setting: the variable as the operator set it, and what it must be.
    Secrets are never echoed."""
    lines = []
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        info = Settings.model_fields.get(field)
        alias = info.validation_alias if info is not None else None
        if isinstance(alias, AliasChoices):
            variable = str(alias.choices[0])
        else:
            variable = f"TRAINCTL_{field.upper()}" if field else "TRAINCTL_*"
        secret = info is not None and "SecretStr" in str(info.annotation)
        given = "" if secret or "input" not in problem else f"={str(problem['input'])[:80]!r}"
        lines.append(f"{variable}{given}: {problem['msg']}")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment plus overrides; exits 2 with one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        for line in settings_problems(error):
            print(f"trainctl: invalid setting {line}", file=sys.stderr)
        raise SystemExit(2) from None
