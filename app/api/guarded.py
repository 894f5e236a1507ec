"""Includes the API routers with the guard each route needs.

Each route is included on its own, with the guard for its role as a route dependency: the
OpenAPI document then marks exactly the protected operations, open paths stay open, and a
write nobody classified needs `admin`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, params
from fastapi.routing import APIRoute

from app.api.errors import problem_responses
from app.security.guard import Guard
from app.security.roles import OPEN_PATHS, Role, required_role

RouteKey = tuple[str, str]  # (method, path template)


def include_guarded(
    app: FastAPI,
    routers: Iterable[APIRouter],
    guard: Guard,
    *,
    extra: Mapping[RouteKey, Sequence[params.Depends]] | None = None,
) -> None:
    """Include `routers`; `extra` adds dependencies to single routes, after the guard."""
    extra = extra or {}
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"include_guarded takes flat routers of API routes, got {route!r}")
            methods = route.methods or set()
            group = APIRouter()
            group.routes.append(route)
            added = [dep for method in sorted(methods) for dep in extra.get((method, route.path), ())]
            if route.path in OPEN_PATHS:
                app.include_router(group, dependencies=added, responses=problem_responses(500))
                continue
            role = required_role(methods, route.path)
            app.include_router(
                group,
                dependencies=[params.Security(guard.require(role)), *added],
                responses=_documented(role, guard),
            )


def _documented(role: Role, guard: Guard) -> dict[int | str, dict[str, Any]]:
    statuses = [401, 403] if guard.authenticator is not None else []
    if role > Role.READER:
        # Writes take bodies: size-limited (413), and refused as 400 when they cannot be
        # decoded at all (not UTF-8, broken multipart framing, too many form fields).
        statuses += [400, 413]
    return problem_responses(*statuses, 500)
