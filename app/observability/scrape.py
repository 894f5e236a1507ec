"""GET /metrics: the process's instruments plus gauges read from the store at scrape time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fastapi import Request, Response
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from app.domain.status import RunStatus
from app.observability.metrics import METRICS, Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreSnapshot:
    by_status: dict[str, int]
    active: int
    queue_limit: int | None


class _ScrapeView:
    """One scrape: the process registry followed by the store's gauges, as a single Collector,
    so that either exposition format (text or OpenMetrics) stays one well-formed document."""

    def __init__(self, metrics: Metrics, snapshot: StoreSnapshot | None) -> None:
        self._metrics = metrics
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        yield from self._metrics.registry.collect()
        yield from _store_families(self._snapshot)


def _store_families(snapshot: StoreSnapshot | None) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "trainctl_store_up",
        "1 when the store answered this scrape, else 0",
        value=0 if snapshot is None else 1,
    )
    if snapshot is None:
        return
    runs = GaugeMetricFamily("trainctl_runs", "Runs in the store, by status", labels=["status"])
    # Every stable status is always present (zero included), so a panel never shows "no data".
    statuses = [s.value for s in RunStatus] + sorted(set(snapshot.by_status) - {s.value for s in RunStatus})
    for status in statuses:
        runs.add_metric([status], snapshot.by_status.get(status, 0))
    yield runs
    yield GaugeMetricFamily(
        "trainctl_queue_depth",
        "Runs queued or running (counted against the queue limit)",
        value=snapshot.active,
    )
    if snapshot.queue_limit is not None:
        yield GaugeMetricFamily(
            "trainctl_queue_limit", "Active runs beyond which submissions get 429", value=snapshot.queue_limit
        )


def _read_store(request: Request) -> StoreSnapshot | None:
    services = getattr(request.app.state, "services", None)
    if services is None:  # lifespan not (yet) run: report the process metrics alone
        return None
    try:
        by_status = services.store.runs.count_by_status()
        active = services.store.runs.count_active()
    except Exception:  # a scrape must still answer, and say the store did not (trainctl_store_up 0)
        log.warning("metrics: the store did not answer", exc_info=True)
        return None
    limit = getattr(services.settings, "max_queued_runs", None)
    return StoreSnapshot(by_status, active, limit if isinstance(limit, int) else None)


async def metrics_endpoint(request: Request) -> Response:
    snapshot = await asyncio.to_thread(_read_store, request)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(_ScrapeView(METRICS, snapshot)), media_type=content_type)
