"""GET /v1/events: the event log as Server-Sent Events, resumable with ``Last-Event-ID``.

The framing lives here (the dashboard's own stream reuses ``event_stream``); the fan-out and
the catch-up from the store live in ``lifecycle/eventhub.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.api.deps import HubDep, SettingsDep
from app.api.errors import problem_responses
from app.lifecycle.eventhub import Dropped, EventHub
from app.store.events import EVENT_KINDS, EventFilter

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["events"])

EventKind = Literal["run.created", "run.state", "step.state", "outcome.decided", "model.promoted"]
assert set(EventKind.__args__) == set(EVENT_KINDS)  # type: ignore[attr-defined]

#: How long the client is told to wait before reconnecting, in milliseconds.
RETRY_MS = 1000
#: A client that has not taken one frame in this long is stuck: its connection is given up.
SEND_TIMEOUT_SECONDS = 30.0
MEDIA_TYPE = "text/event-stream"

DESCRIPTION = f"""
Server-Sent Events (`text/event-stream`): one event per change, as it is committed.

| event | when | `data` holds |
|---|---|---|
| `run.created` | a run was submitted | id, kind, status, experiment, model, submitter, times |
| `run.state` | a run's status or raw status changed | the same fields, as they are now |
| `step.state` | a step's status, raw status or reuse changed | `step`, `status`, `reused`, times... |
| `outcome.decided` | a pipeline's decision was recorded | `deploy`, `promoted`, `reason`, `rule`... |
| `model.promoted` | a run made a new champion | `version`, `run_id`, `metric`, `value`... |

Each frame is `id: <event id>`, `event: <kind>`, `data: <one JSON object>` (see the
`Event` schema). Events are kept for `TRAINCTL_EVENTS_RETENTION_HOURS` (default 7 days): a
client that reconnects with the `Last-Event-ID` header (browsers' `EventSource` sends it by
itself) or `last_event_id` gets every event it missed, in order, then the live ones. When
events it missed were already deleted it first gets an `event: gap` frame (reload your state).
Without either, the stream starts with the next event.

A comment line (`: keep-alive`) is sent after `TRAINCTL_EVENTS_KEEPALIVE_SECONDS` (default
15) of silence. A client that falls more than `TRAINCTL_EVENTS_BUFFER` events behind, or is
connected while the service stops, gets `retry: {RETRY_MS}` and the stream ends: it reconnects
and resumes from its last event id, losing nothing.

```sh
curl -N localhost:8000/v1/events
curl -N -H 'Last-Event-ID: 42' 'localhost:8000/v1/events?kind=run.state&model_name=diabetes-classifier'
```
"""


class Event(BaseModel):
    """The JSON object in each frame's `data` line."""

    id: int = Field(description="Also the frame's `id`; resume after it with `Last-Event-ID`.")
    kind: EventKind = Field(description="Also the frame's `event` name.")
    time: str = Field(description="When the change was committed (ISO 8601, UTC).")
    run_id: str | None
    model_name: str | None
    data: dict[str, Any]


def _filter(run_id: str | None, model_name: str | None, kinds: list[EventKind] | None) -> EventFilter:
    return EventFilter(run_id=run_id, model_name=model_name, kinds=frozenset(kinds or ()))


async def event_stream(
    hub: EventHub, flt: EventFilter, last_event_id: int | None, keepalive: float
) -> AsyncIterator[bytes]:
    """The SSE frames of one subscriber, from `last_event_id` (None: from now) on."""
    sub = await hub.subscribe(flt, last_event_id)
    yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
    if last_event_id is not None and await hub.missed(last_event_id):
        yield f'event: gap\ndata: {{"after": {last_event_id}}}\n\n'.encode()
    try:
        async for event in hub.events_of(sub, keepalive):
            if event is None:
                yield b": keep-alive\n\n"
            else:
                yield f"id: {event.id}\nevent: {event.kind}\ndata: {event.json}\n\n".encode()
    except Dropped:
        yield f"retry: {RETRY_MS}\n: reconnect with Last-Event-ID to resume\n\n".encode()


class EventStreamResponse(StreamingResponse):
    """A streaming response that gives up on a client that stops reading: a stuck subscriber
    must not hold its coroutine and buffer forever."""

    media_type = MEDIA_TYPE

    def __init__(self, content: AsyncIterator[bytes]) -> None:
        # No caching or proxy buffering: each frame must reach the client when it is sent.
        super().__init__(content, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self._frames = content

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self._frames:
                message = {"type": "http.response.body", "body": chunk, "more_body": True}
                try:
                    await asyncio.wait_for(send(message), SEND_TIMEOUT_SECONDS)
                except TimeoutError:
                    log.warning("event stream: client took no data for %.0f s; closing", SEND_TIMEOUT_SECONDS)
                    return
        finally:
            await self._frames.aclose()  # type: ignore[attr-defined]
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette (ASGI >= 2.4) would notice a client that left only at the next write, up
        # to a keep-alive later; listening for the disconnect ends the subscription at once.
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                await self.stream_response(send)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            await self.listen_for_disconnect(receive)
            group.cancel_scope.cancel()


@router.get(
    "/events",
    status_code=200,
    summary="Live events: runs created, run and step states, outcomes, promotions (SSE)",
    description=DESCRIPTION,
    response_class=EventStreamResponse,
    responses={
        200: {
            "description": "An endless `text/event-stream`; each `data` line is one `Event`",
            "content": {
                MEDIA_TYPE: {
                    "example": 'id: 7\nevent: run.state\ndata: {"id":7,"kind":"run.state",...}\n\n',
                }
            },
            "model": Event,
        },
        **problem_responses(422),
    },
)
async def stream_events(
    hub: HubDep,
    settings: SettingsDep,
    run_id: Annotated[str | None, Query(max_length=64, description="only this run's events")] = None,
    model_name: Annotated[str | None, Query(max_length=128, description="only this model's events")] = None,
    kind: Annotated[
        list[EventKind] | None, Query(description="only these kinds (repeat the parameter)")
    ] = None,
    last_event_id: Annotated[
        int | None, Query(ge=0, description="resume after this event id (when you cannot set the header)")
    ] = None,
    last_event_id_header: Annotated[
        str | None,
        Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$", description="resume after this event id"),
    ] = None,
) -> EventStreamResponse:
    resume = int(last_event_id_header) if last_event_id_header is not None else last_event_id
    frames = event_stream(hub, _filter(run_id, model_name, kind), resume, settings.events_keepalive_seconds)
    return EventStreamResponse(frames)
