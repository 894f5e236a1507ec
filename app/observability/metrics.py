"""The service's own instruments, fed by the request middleware and by finished runs.

One registry per process, as Prometheus expects of one scrape target; the store-derived
gauges (runs by status, queue depth) are not kept here but read at scrape time (scrape.py),
so they are right after a restart and never drift from the store.
"""

from __future__ import annotations

import logging
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from app.domain.outcome import Outcome
from app.store.tables import RunRow

log = logging.getLogger(__name__)

# Local steps take a fraction of a second to seconds; Azure ML steps minutes to hours.
STEP_BUCKETS = (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)
# Ordinary calls take milliseconds; the long-poll /wait route holds a request up to 300 s.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Model names come from callers: cap the series a stream of new names could create.
MAX_MODELS = 200


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.http_duration = Histogram(
            "trainctl_http_request_duration_seconds",
            "HTTP request latency, by method, route template and status class",
            ["method", "route", "status_class"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.step_duration = Histogram(
            "trainctl_step_duration_seconds",
            "Wall time of the steps of finished runs (reused steps excluded), by step and final status",
            ["step", "status"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "trainctl_run_duration_seconds",
            "Submission to end of finished runs, queueing included, by kind and final status",
            ["kind", "status"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.champion_metric = Gauge(
            "trainctl_champion_metric",
            "The current champion's value of the promotion metric, per model (as of its last pipeline run)",
            ["model", "metric"],
            registry=self.registry,
        )
        self.champion_version = Gauge(
            "trainctl_champion_version",
            "The current champion's registered version, per model (as of its last pipeline run)",
            ["model"],
            registry=self.registry,
        )
        self._models: set[str] = set()

    def observe_run(self, row: RunRow) -> None:
        """Record a run that has just reached its final status."""
        if row.created_at is not None and row.ended_at is not None:
            self.run_duration.labels(row.kind, row.status).observe(_seconds(row.created_at, row.ended_at))
        for step in row.steps:
            # A reused step did no work in this run: its "duration" would drag the
            # distribution towards zero and hide how long the work really takes.
            if step.reused or step.started_at is None or step.ended_at is None:
                continue
            self.step_duration.labels(step.name, step.status).observe(
                _seconds(step.started_at, step.ended_at)
            )
        if row.outcome is not None:
            self._observe_champion(row.outcome, row.spec.promotion.metric)

    def _observe_champion(self, outcome: Outcome, default_metric: str) -> None:
        # champion_after is the champion once this run's registration is done, whether this
        # run promoted its candidate or the earlier champion held its place.
        champion = outcome.champion_after
        if champion is None or not champion.name:
            return
        model = champion.name
        if model not in self._models:
            if len(self._models) >= MAX_MODELS:
                log.warning("champion metrics: more than %d models, not tracking %r", MAX_MODELS, model)
                return
            self._models.add(model)
        metric = str(outcome.rule.get("metric", default_metric))
        value = champion.metrics.get(metric)
        if value is not None:
            self.champion_metric.labels(model, metric).set(float(value))
        version = champion.version
        if version.isdigit():
            self.champion_version.labels(model).set(int(version))


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, float((end - start).total_seconds()))


METRICS = Metrics()


async def observe_finished_run(row: RunRow) -> None:
    """Reconciler on_finished hook: step durations, run duration and champion metric."""
    METRICS.observe_run(row)
