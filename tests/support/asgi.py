"""One app per test session, served in-process through httpx.ASGITransport.

The app (and its warm step runner) lives on an event loop in a background thread, so plain
synchronous tests share one started service instead of paying its start-up each time.
"""

from __future__ import annotations

import asyncio
import faulthandler
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

T = TypeVar("T")


class AppThread:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="asgi-app", daemon=True)
        self._stop: asyncio.Event | None = None
        self._lifespan: Future[None] | None = None
        self.client: httpx.AsyncClient | None = None

    def start(self, timeout: float = 120) -> AppThread:
        self._thread.start()
        started: Future[None] = Future()

        async def serve() -> None:
            self._stop = asyncio.Event()
            try:
                async with self.app.router.lifespan_context(self.app):
                    self.client = httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
                    )
                    started.set_result(None)
                    await self._stop.wait()
                    await self.client.aclose()
            except BaseException as error:
                if not started.done():
                    started.set_exception(error)
                raise

        self._lifespan = asyncio.run_coroutine_threadsafe(serve(), self.loop)
        started.result(timeout)
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        assert self.client is not None
        return self.run(self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        if self._lifespan is not None:
            try:
                self._lifespan.result(120)
            except TimeoutError:  # say where the shutdown hangs before failing
                faulthandler.dump_traceback(all_threads=True)
                for task in asyncio.all_tasks(self.loop):
                    task.print_stack()
                raise
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
