"""While a replica drains (SIGTERM, before its listener closes), every response asks the client
to close its connection: keep-alive clients then reconnect, through the load balancer, to a
replica that stays, instead of finding their idle connection closed under them later."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CloseWhileDraining:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _draining(scope):
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


def _draining(scope: Scope) -> bool:
    services: Any = getattr(scope["app"].state, "services", None)
    return bool(services is not None and services.lifecycle.draining)
