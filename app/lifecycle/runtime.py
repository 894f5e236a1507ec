"""The run lifecycle of one service process, assembled from its parts without cycles:
events, callbacks, the reconciler, then the submission and query services given the
reconciler as their ``RunDriver``, and the hub that streams the event log to subscribers."""

from __future__ import annotations

from collections.abc import Sequence

from app.backends.protocol import TrainingBackend
from app.lifecycle.callbacks import CallbackSender
from app.lifecycle.eventhub import EventHub
from app.lifecycle.events import RunEvents
from app.lifecycle.queries import RunQueries
from app.lifecycle.reconciler import FinishedHook, Reconciler
from app.lifecycle.registry import ModelRegistry
from app.lifecycle.submission import RunSubmission
from app.lifecycle.trials import TrialQueries
from app.security.egress import CallbackPolicy
from app.settings import Settings
from app.store import Store


class Lifecycle:
    def __init__(
        self,
        store: Store,
        backend: TrainingBackend,
        settings: Settings,
        callback_policy: CallbackPolicy,
        *,
        finish_hooks: Sequence[FinishedHook] = (),
    ) -> None:
        runs = store.runs
        self.backend = backend
        self.events = RunEvents()
        self.callbacks = CallbackSender.from_settings(settings, runs, callback_policy)
        self.reconciler = Reconciler(
            runs, backend, self.events, on_finished=[self.callbacks.on_finished, *finish_hooks]
        )
        self.submission = RunSubmission(
            runs,
            backend,
            self.reconciler,
            callback_policy,
            max_active_runs=settings.max_queued_runs,
            max_active_per_caller=settings.caller_queue_limit,
        )
        self.trials = TrialQueries(runs, store.trials, backend)
        self.queries = RunQueries(runs, backend, self.events, self.trials)
        self.models = ModelRegistry(backend, store.champions)
        self.hub = EventHub(
            store.events,
            store.event_notifier,
            buffer=settings.events_buffer,
            retention_seconds=settings.events_retention_hours * 3600,
        )
        self.grace_seconds = settings.shutdown_grace_seconds

    def start(self) -> None:
        self.hub.start()
        self.reconciler.start()
        self.callbacks.start()  # resumes callbacks left pending by an earlier process

    async def stop(self) -> None:
        """Graceful stop: take no new runs, let running steps finish within the grace period
        (the reconciler keeps recording them), leave the rest resumable."""
        self.submission.accepting = False
        self.hub.close_streams()
        await self.backend.close(self.grace_seconds)
        await self.reconciler.stop()
        await self.callbacks.stop()  # undelivered callbacks stay pending for the next start
        await self.hub.stop()
