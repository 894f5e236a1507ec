"""What every dashboard route shares: the viewer dependency, the role check, and the answers
for a caller who must sign in or lacks the role (HTML pages, not problem+json)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import RedirectResponse

from app.api.deps import Services, services
from app.security import Principal, Role
from app.ui.auth import UiAuth, Viewer
from app.ui.render import page


@dataclass
class UiState:
    auth: UiAuth


class SignInRequired(Exception):
    pass


class RoleTooSmall(Exception):
    def __init__(self, needed: Role) -> None:
        super().__init__(needed.label)
        self.needed = needed


class PageNotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


async def viewer(request: Request) -> Viewer:
    request.state.ui_started = time.perf_counter()
    ui: UiState = request.app.state.ui
    found = await ui.auth.viewer(request)
    request.state.viewer = found
    return found


def require(role: Role) -> object:
    async def check(request: Request, seen: Annotated[Viewer, Depends(viewer)]) -> Principal:
        principal = seen.principal
        if principal is None:
            raise SignInRequired
        if principal.role is None or principal.role < role:
            raise RoleTooSmall(role)
        return principal

    return Depends(check)


Reader = Annotated[Principal, require(Role.READER)]
Submitter = Annotated[Principal, require(Role.SUBMITTER)]


def svc(request: Request) -> Services:
    return services(request)


def may_submit(principal: Principal | None) -> bool:
    return principal is not None and principal.role is not None and principal.role >= Role.SUBMITTER


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _: SignInRequired) -> Response:
        seen: Viewer = request.state.viewer
        if seen.can_sign_in:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/ui/signin?next={quote(target, safe='')}", status_code=303)
        return page(request, "error.html", 401, title="Sign-in needed", bearer=True)

    @app.exception_handler(RoleTooSmall)
    async def _forbidden(request: Request, error: RoleTooSmall) -> Response:
        return page(request, "error.html", 403, title="Not allowed", needed=error.needed.label, bearer=False)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, error: PageNotFound) -> Response:
        return page(request, "error.html", 404, title="Not found", missing=error.what, bearer=False)
