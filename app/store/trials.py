"""A sweep's trials: written with their run's state (inside that transaction), read for the
trials view. The run row keeps a summary (counts, the best trial, why trials failed), so
reading a run never loads its trials."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.domain.state import TrialState
from app.domain.status import RunStatus
from app.store.tables import TrialRow

#: How many failed trials the summary names, with their errors.
FAILURES_SHOWN = 10


def write_trials(
    session: Session, run_id: str, trials: list[TrialState], assign: Any
) -> tuple[bool, list[TrialRow]]:
    """Upsert the trials of ``run_id``: whether anything changed, and the rows. What a backend
    does not report (Azure ML reports neither hyper-parameters nor scores while polling) is kept."""
    existing = {t.name: t for t in session.scalars(select(TrialRow).where(TrialRow.run_id == run_id))}
    rows: list[TrialRow] = []
    changed = False
    for position, trial in enumerate(trials):
        row = existing.get(trial.name)
        if row is None:
            row = TrialRow(run_id=run_id, name=trial.name, position=position, hyperparameters={}, metrics={})
            session.add(row)
            changed = True
        changed |= assign(
            row,
            position=position,
            status=trial.status.value,
            raw_status=trial.raw_status,
            reused=trial.reused,
            best=trial.best,
            hyperparameters=dict(trial.hyperparameters) or row.hyperparameters,
            metrics=dict(trial.metrics) or row.metrics,
            objective=trial.objective if trial.objective is not None else row.objective,
            started_at=trial.started_at,
            ended_at=trial.ended_at,
            backend_job_name=trial.backend_job_name,
            mlflow_run_id=trial.mlflow_run_id,
            error=trial.error,
        )
        rows.append(row)
    return changed, rows


def summarize(trials: list[TrialRow]) -> dict[str, Any]:
    counts = {status.value: 0 for status in RunStatus}
    for trial in trials:
        counts[trial.status] += 1
    best = next((t for t in trials if t.best), None)
    failed = [t for t in trials if t.status == RunStatus.FAILED.value]
    return {
        "total": len(trials),
        **counts,
        "best_trial": best.name if best else None,
        "best_objective": best.objective if best else None,
        "failures": [{"trial": t.name, "error": t.error or "failed"} for t in failed[:FAILURES_SHOWN]],
    }


class TrialStore:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def of_run(self, run_id: str) -> list[TrialRow]:
        query = select(TrialRow).where(TrialRow.run_id == run_id).order_by(TrialRow.position)
        with self._sessions() as session:
            return list(session.scalars(query))
