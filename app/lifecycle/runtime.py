"""The run lifecycle of one service process, assembled from its parts without cycles:
events, callbacks, the reconciler, then the submission and query services given the
reconciler as their ``RunDriver``, the hub that streams the event log to subscribers, and the
leadership that decides whether this replica drives runs (reconciler, callbacks, the backend's
own work) or only serves the API."""

from __future__ import annotations

from collections.abc import Sequence

from app.backends.protocol import TrainingBackend
from app.lifecycle.callbacks import CallbackSender
from app.lifecycle.eventhub import EventHub
from app.lifecycle.events import RunEvents
from app.lifecycle.leadership import Leadership, new_replica_id
from app.lifecycle.queries import RunQueries
from app.lifecycle.reconciler import FinishedHook, Reconciler
from app.lifecycle.registry import ModelRegistry
from app.lifecycle.submission import RunSubmission
from app.lifecycle.trials import TrialQueries
from app.security.egress import CallbackPolicy
from app.settings import Settings
from app.store import Store
from app.store.leases import LIFECYCLE, LeaseFence
from app.store.notify import Change, ChangeFeed


class Lifecycle:
    def __init__(
        self,
        store: Store,
        backend: TrainingBackend,
        settings: Settings,
        callback_policy: CallbackPolicy,
        *,
        feed: ChangeFeed | None = None,
        replica_id: str | None = None,
        finish_hooks: Sequence[FinishedHook] = (),
    ) -> None:
        runs = store.runs
        self.store = store
        self.backend = backend
        self.feed = feed or ChangeFeed()
        self.fence = LeaseFence(LIFECYCLE, replica_id or new_replica_id())
        # The leader's writes: refused once another replica holds the lease.
        leader_runs = runs.fenced(self.fence)
        self.events = RunEvents()
        runs.run_changed.append(self.events.changed)
        self.callbacks = CallbackSender.from_settings(settings, leader_runs, callback_policy)
        self.reconciler = Reconciler(
            leader_runs, backend, self.events, on_finished=[self.callbacks.on_finished, *finish_hooks]
        )
        self.submission = RunSubmission(
            runs,
            backend,
            self.reconciler,
            self.events,
            callback_policy,
            max_active_runs=settings.max_queued_runs,
            max_active_per_caller=settings.caller_queue_limit,
        )
        self.trials = TrialQueries(runs, store.trials, backend)
        self.queries = RunQueries(runs, backend, self.events, self.trials, self.feed)
        self.models = ModelRegistry(backend, store.champions)
        self.hub = EventHub(
            store.events,
            store.event_notifier,
            buffer=settings.events_buffer,
            retention_seconds=settings.events_retention_hours * 3600,
        )
        self.grace_seconds = settings.shutdown_grace_seconds
        self.leadership = Leadership(
            store.leases,
            self.fence,
            ttl=settings.lease_seconds,
            on_elected=self._lead,
            on_deposed=self._follow,
        )
        self.feed.subscribe(self._heard)
        #: Set when the replica starts draining (SIGTERM): readiness fails, long-polls answer.
        self.draining = False

    @property
    def replica_id(self) -> str:
        return self.fence.holder

    def leader_id(self) -> str | None:
        """The replica that holds the lifecycle lease now, as the database says."""
        return self.store.leases.view(LIFECYCLE).holder

    def _heard(self, change: Change) -> None:
        if change.kind in ("resync", "changed", "created", "cancel") or change.subject:
            # Another replica may have committed events with its change: the hub reads any new
            # rows from the table (nothing happens when there are none).
            self.store.event_notifier.notify()
        if change.kind == "resync":
            self.events.wake_all()
        elif change.kind == "lease":
            self.leadership.kick()
        elif change.subject:
            self.events.changed(change.subject)
            if change.kind in ("created", "cancel") and self.leadership.leader:
                self.reconciler.wake()

    async def start(self) -> None:
        self.hub.start()
        await self.feed.start()
        await self.leadership.start()

    async def _lead(self, token: int) -> None:
        await self.backend.lead()
        self.reconciler.start()
        self.callbacks.start()  # resumes callbacks left pending by an earlier leader

    async def _follow(self) -> None:
        # Another replica resumes from the store what this one was doing; its writes from
        # here on would be refused anyway.
        await self.reconciler.stop(final_pass=False)
        await self.callbacks.stop()
        await self.backend.step_down()

    def begin_drain(self) -> None:
        """SIGTERM: say not-ready so the load balancer moves on; answer waiting long-polls."""
        self.draining = True
        self.events.close()

    async def stop(self) -> None:
        """Graceful stop: take no new runs, let running steps finish within the grace period
        (the reconciler keeps recording them, the lease is kept meanwhile), leave the rest
        resumable, then hand the lease over at once."""
        self.submission.accepting = False
        self.hub.close_streams()
        self.begin_drain()
        if self.leadership.leader:
            await self.backend.close(self.grace_seconds)
            await self.reconciler.stop()
            await self.callbacks.stop()  # undelivered callbacks stay pending for the next leader
            await self.leadership.stop()
            await self.leadership.release()
        else:
            await self.leadership.stop()
            await self.backend.close(0.0)
        await self.feed.stop()
        await self.hub.stop()
