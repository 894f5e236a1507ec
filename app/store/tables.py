"""The service's tables. The store is the source of truth for runs; MLflow holds metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from app.domain.outcome import Outcome
from app.domain.spec import RunSpec


class UTCDateTime(TypeDecorator[datetime]):
    """SQLite keeps no time zone: store UTC, hand back aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class SpecJSON(TypeDecorator[RunSpec]):
    """A RunSpec as its versioned JSON document: typed in Python, plain JSON in the database."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: RunSpec | None, dialect: Dialect) -> dict[str, Any] | None:
        return None if value is None else value.stored()

    def process_result_value(self, value: dict[str, Any] | None, dialect: Dialect) -> RunSpec | None:
        return None if value is None else RunSpec.from_stored(value)


class OutcomeJSON(TypeDecorator[Outcome]):
    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Outcome | None, dialect: Dialect) -> dict[str, Any] | None:
        return None if value is None else value.model_dump(mode="json", exclude={"promoted"})

    def process_result_value(self, value: dict[str, Any] | None, dialect: Dialect) -> Outcome | None:
        return None if value is None else Outcome.model_validate(value)


class Base(DeclarativeBase):
    pass


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # time-ordered
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    raw_status: Mapped[str] = mapped_column(String(32))
    experiment_name: Mapped[str] = mapped_column(String(255), index=True)
    model_name: Mapped[str] = mapped_column(String(255), index=True)
    backend: Mapped[str] = mapped_column(String(16))
    spec: Mapped[RunSpec] = mapped_column(SpecJSON())  # built once at submission
    data_asset_name: Mapped[str] = mapped_column(String(255))
    data_asset_version: Mapped[str] = mapped_column(String(64))
    backend_job_name: Mapped[str | None] = mapped_column(String(255))
    studio_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[Outcome | None] = mapped_column(OutcomeJSON())
    #: Who submitted it (the caller's principal name): idempotency keys are scoped to it.
    submitted_by: Mapped[str] = mapped_column(String(255), default="")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    callback_state: Mapped[str | None] = mapped_column(String(16))  # pending, delivered, failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # bumped on every change
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A sweep's trials counted by status, the best one and why trials failed (kept beside the
    #: run, so a run read never loads its trials).
    trial_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    steps: Mapped[list[StepRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="StepRow.position", lazy="selectin"
    )

    __table_args__ = (Index("uq_runs_caller_key", "submitted_by", "idempotency_key", unique=True),)


class StepRow(Base):
    __tablename__ = "steps"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    raw_status: Mapped[str] = mapped_column(String(32))
    reused: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    backend_job_name: Mapped[str | None] = mapped_column(String(255))
    studio_url: Mapped[str | None] = mapped_column(Text)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)

    run: Mapped[RunRow] = relationship(back_populates="steps")


class TrialRow(Base):
    """One candidate of a sweep: a step of its own, with what it tried and how it scored."""

    __tablename__ = "trials"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    raw_status: Mapped[str] = mapped_column(String(32))
    reused: Mapped[bool] = mapped_column(Boolean, default=False)
    best: Mapped[bool] = mapped_column(Boolean, default=False)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    objective: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    backend_job_name: Mapped[str | None] = mapped_column(String(255))
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class DataAssetRow(Base):
    __tablename__ = "data_assets"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    positive_rate: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32))  # generated, upload, path
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ChampionEventRow(Base):
    __tablename__ = "champion_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(40))
    metric: Mapped[str] = mapped_column(String(32))
    value: Mapped[float | None] = mapped_column(Float)
    promoted_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("uq_champion_run", "model_name", "run_id", unique=True),)


class EventRow(Base):
    """One thing that happened, kept for a while so a subscriber that reconnects misses nothing.

    Ids only grow (SQLite AUTOINCREMENT never reuses one, even when pruning empties the
    table): they are the SSE event ids a client resumes from.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str | None] = mapped_column(String(40), index=True)
    model_name: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = ({"sqlite_autoincrement": True},)


class StepCacheRow(Base):
    __tablename__ = "step_cache"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    step: Mapped[str] = mapped_column(String(64))
    outputs_dir: Mapped[str] = mapped_column(Text)
    output_digests: Mapped[dict[str, str]] = mapped_column(JSON)
    log_path: Mapped[str] = mapped_column(Text)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    reads_champion: Mapped[bool] = mapped_column(Boolean, default=False)
    champion_seen: Mapped[str | None] = mapped_column(String(64))
    champion_left: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when the step began
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())  # when it finished


class LeaseRow(Base):
    """A lease: who holds it, until when (seconds on the database's clock), and the fencing
    token that grows each time it changes hands."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(255))
    token: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[float] = mapped_column(Float, default=0.0)
    renewed_at: Mapped[float | None] = mapped_column(Float)
