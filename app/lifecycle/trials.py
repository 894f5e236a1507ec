"""Reading a sweep's trials: the trials view (best first) and each trial's metrics.

The store holds what the backend reported while the run went on. The local engine reports
each trial's hyper-parameters and scores as it goes; Azure ML reports states only, so what is
missing is read here from MLflow, where train logged it (params and metrics of the trial's run).
"""

from __future__ import annotations

from app.backends.protocol import TrainingBackend
from app.domain.spec import FAMILY_DEFAULTS, HYPERPARAMETERS
from app.lifecycle.queries import require_run
from app.lifecycle.schemas import TrialMetrics, TrialsRead, TrialSummary
from app.lifecycle.views import trial_read
from app.store.runs import RunStore
from app.store.tables import RunRow, TrialRow
from app.store.trials import TrialStore


class TrialQueries:
    def __init__(self, runs: RunStore, trials: TrialStore, backend: TrainingBackend) -> None:
        self.runs = runs
        self.store = trials
        self.backend = backend

    def names(self, run_id: str) -> list[str]:
        return [t.name for t in self.store.of_run(run_id)]

    async def trials(self, run_id: str) -> TrialsRead:
        row = require_run(self.runs, run_id)
        sweep = row.spec.sweep
        if sweep is None:
            return TrialsRead(run_id=run_id, objective=None, summary=None, items=[])
        stored = self.store.of_run(run_id)
        metrics, params = await self._missing(stored)
        items = [trial_read(t, metrics.get(t.name), sweep.objective.metric) for t in stored]
        for item in items:
            if not item.hyperparameters and item.name in params:
                item.hyperparameters = _hyperparameters(params[item.name])
        rank, order = sweep.objective.rank, {t.name: t.position for t in stored}
        # Best first; the chosen one leads a tie; otherwise in the order they were planned.
        items.sort(key=lambda t: (rank(t.objective), 0 if t.best else 1, order[t.name]))
        summary = TrialSummary.model_validate(row.trial_summary) if row.trial_summary else None
        return TrialsRead(run_id=run_id, objective=sweep.objective, summary=summary, items=items)

    async def _missing(
        self, stored: list[TrialRow]
    ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
        """What the store lacks, from MLflow: scores and hyper-parameters of ended trials."""
        lacking = {
            t.name: t.mlflow_run_id
            for t in stored
            if t.mlflow_run_id and t.status == "completed" and (not t.metrics or not t.hyperparameters)
        }
        if not lacking:
            return {}, {}
        return await self.backend.metrics(lacking), await self.backend.params(lacking)

    async def metrics(self, row: RunRow) -> list[TrialMetrics]:
        """Each trial's metrics, as /metrics groups them."""
        if row.spec.sweep is None:
            return []
        stored = self.store.of_run(row.id)
        runs = {t.name: t.mlflow_run_id for t in stored if t.mlflow_run_id}
        values = await self.backend.metrics(runs) if runs else {}
        return [
            TrialMetrics(trial=t.name, mlflow_run_id=t.mlflow_run_id, metrics=values.get(t.name, {}))
            for t in stored
        ]


def _hyperparameters(params: dict[str, str]) -> dict[str, str | int | float]:
    """The trial's family's hyper-parameters among the params its run logged."""
    family = params.get("model_type", "logistic_regression")
    names = set(FAMILY_DEFAULTS.get(family, {}))
    found: dict[str, str | int | float] = {"model_type": family}
    for name in HYPERPARAMETERS:
        if name in names and name in params:
            found[name] = _number(params[name])
    return found


def _number(text: str) -> str | int | float:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text
