"""What a load balancer does in front of replicas, for tests that restart them under traffic:
route each request to a replica whose ``/readyz`` said yes at the last look (every 100 ms),
round robin, and try the next one when a connection cannot even be opened (the request was
never sent, so that is not a failed request, as with any load balancer's connect-failure retry).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence

import httpx


class Balancer:
    def __init__(self, urls: Sequence[str], *, timeout: float = 30.0) -> None:
        self.urls = list(urls)
        self.ready = {url: True for url in self.urls}
        self._clients = {url: httpx.Client(base_url=url, timeout=timeout) for url in self.urls}
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self.connect_retries = 0

    def __enter__(self) -> Balancer:
        self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._watcher.join(5)
        for client in self._clients.values():
            client.close()

    def _watch(self) -> None:
        with httpx.Client(timeout=0.5) as probe:
            while not self._stop.wait(0.1):
                for url in self.urls:
                    try:
                        ok = probe.get(f"{url}/readyz").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    self.ready[url] = ok

    def _next(self) -> str:
        with self._lock:
            for _ in range(len(self.urls)):
                url = self.urls[next(self._turn) % len(self.urls)]
                if self.ready[url]:
                    return url
        raise RuntimeError("no replica is ready")

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        deadline = time.monotonic() + 30
        while True:
            try:
                url = self._next()
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
                continue
            try:
                return self._clients[url].request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.ConnectError:
                self.connect_retries += 1
                self.ready[url] = False
                if time.monotonic() > deadline:
                    raise
