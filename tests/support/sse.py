"""A Server-Sent Events client for tests: reads a stream in a thread, hands out parsed frames
with a timeout, and can drop the connection like a flaky network would."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    id: int | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def json(self) -> dict[str, Any]:
        assert self.data is not None
        found: dict[str, Any] = json.loads(self.data)
        return found


END = Frame(event="<end of stream>")


class SseClient:
    def __init__(self, url: str, *, headers: dict[str, str] | None = None, params: Any = None) -> None:
        self.client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self.frames: queue.Queue[Frame] = queue.Queue()
        self.request = self.client.build_request("GET", url, headers=headers or {}, params=params)
        self.response = self.client.send(self.request, stream=True)
        self.status_code = self.response.status_code
        self.content_type = self.response.headers.get("content-type", "")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        frame = Frame()
        try:
            for line in self.response.iter_lines():
                if line == "":
                    if frame != Frame():
                        self.frames.put(frame)
                    frame = Frame()
                elif line.startswith(":"):
                    frame.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "id":
                        frame.id = int(value)
                    elif name == "event":
                        frame.event = value
                    elif name == "data":
                        frame.data = value if frame.data is None else f"{frame.data}\n{value}"
                    elif name == "retry":
                        frame.retry = int(value)
        except (httpx.HTTPError, RuntimeError):  # closed by close(): the reader just stops
            pass
        self.frames.put(END)

    def next(self, timeout: float = 10) -> Frame:
        return self.frames.get(timeout=timeout)

    def events(self, count: int, timeout: float = 20) -> list[Frame]:
        """The next `count` frames that carry an event (skipping comments and retry hints)."""
        found: list[Frame] = []
        while len(found) < count:
            frame = self.next(timeout)
            assert frame is not END, f"stream ended after {len(found)} of {count} events"
            if frame.id is not None:
                found.append(frame)
        return found

    def until(self, predicate: Any, timeout: float = 20) -> list[Frame]:
        """Event frames up to and including the first for which `predicate(frame)` holds."""
        found: list[Frame] = []
        while True:
            frame = self.next(timeout)
            assert frame is not END, f"stream ended before the awaited event: {[f.event for f in found]}"
            if frame.id is not None:
                found.append(frame)
                if predicate(frame):
                    return found

    def close(self) -> None:
        """Drop the connection, as a network failure would: the socket is shut down under the
        reader thread (closing the response from this thread would race with that reader)."""
        sock = self.response.extensions["network_stream"].get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self.response.close()
        self.client.close()

    def __enter__(self) -> SseClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
