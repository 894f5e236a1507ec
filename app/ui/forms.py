"""The dashboard's forms and its event stream: submitting a job or pipeline (one run per
idempotency key, so a double click makes one run), signing in and out with an API key, and
the event stream the pages' scripts follow (the API's stream, behind the dashboard's auth)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from app.api.events import EventKind, EventStreamResponse, event_stream
from app.domain.errors import DomainError
from app.domain.spec import DEFAULT_DATA_ASSET, Hyperparameters, PromotionRule
from app.lifecycle.schemas import TrainingRunCreate
from app.store.events import EventFilter
from app.ui.auth import CSRF_FIELD
from app.ui.common import Reader, Submitter, svc, viewer
from app.ui.render import page

router = APIRouter(prefix="/ui", include_in_schema=False)

SOLVERS = ["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"]
METRICS = ["roc_auc", "accuracy", "precision", "recall", "f1"]


def _defaults() -> dict[str, Any]:
    hyper, rule = Hyperparameters(), PromotionRule()
    return {
        "kind": "pipeline",
        "experiment_name": TrainingRunCreate().experiment_name,
        "model_name": TrainingRunCreate().model_name,
        "data_asset": DEFAULT_DATA_ASSET,
        "data_version": "latest",
        "reg_rate": str(hyper.reg_rate),
        "solver": hyper.solver,
        "metric": rule.metric,
        "min_improvement": str(rule.min_improvement),
        "force_rerun": False,
    }


def _submit_page(request: Request, values: dict[str, Any], status: int = 200, **extra: Any) -> Response:
    assets = svc(request).assets.list()
    return page(
        request,
        "submit.html",
        status,
        values=values,
        # A fresh key per form shown: resubmitting this very form (a double click, a retry
        # after a lost answer) replays the same run; the next form makes a new one.
        idempotency_key=values.get("idempotency_key") or secrets.token_hex(16),
        assets=assets,
        solvers=SOLVERS,
        metrics=METRICS,
        **{"error": None, "invalid": [], **extra},
    )


@router.get("/submit")
async def submit_form(request: Request, principal: Submitter) -> Response:
    return _submit_page(request, _defaults())


def _body(values: dict[str, Any]) -> dict[str, Any]:
    """The form as the API's request body (the API's own validation then applies)."""
    body: dict[str, Any] = {
        "kind": values["kind"],
        "experiment_name": values["experiment_name"],
        "model_name": values["model_name"],
        "data_asset": {"name": values["data_asset"], "version": values["data_version"] or "latest"},
        "hyperparameters": {"reg_rate": _number(values["reg_rate"]), "solver": values["solver"]},
        "force_rerun": values["force_rerun"],
        "tags": {"submitted_from": "dashboard"},
    }
    if values["kind"] == "pipeline":
        body["promotion"] = {
            "metric": values["metric"],
            "min_improvement": _number(values["min_improvement"]),
        }
    return body


def _number(text: str) -> float | str:
    """A form field is text; the API takes numbers strictly. Text that is no number stays text,
    so the API's own validation names the field."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


@router.post("/submit")
async def submit(request: Request, principal: Submitter) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    values: dict[str, Any] = {k: str(form.get(k, default)).strip() for k, default in _defaults().items()}
    values["force_rerun"] = form.get("force_rerun") == "on"
    values["idempotency_key"] = str(form.get("idempotency_key", ""))[:64]
    ui = request.app.state.ui
    if not ui.auth.form_is_genuine(request, str(form.get(CSRF_FIELD, ""))):
        message = "This form expired or came from another site: check it and submit again."
        return _submit_page(request, {**values, "idempotency_key": ""}, 403, error=message)
    try:
        body = TrainingRunCreate.model_validate(_body(values))
        row, _ = await svc(request).lifecycle.submission.submit(
            body, values["idempotency_key"] or None, principal.name
        )
    except ValidationError as error:
        invalid = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in error.errors()]
        return _submit_page(request, values, 422, error="Fix the fields below.", invalid=invalid)
    except DomainError as error:
        return _submit_page(request, values, 422, error=error.detail, invalid=error.invalid)
    return RedirectResponse(f"/ui/runs/{row.id}", status_code=303)


# -- signing in -------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a dashboard path: never an open redirect to another site."""
    target = unquote(target or "")
    safe = target.startswith("/ui/") and not target.startswith("//") and "\\" not in target
    return target if safe else "/ui/runs"


@router.get("/signin")
async def signin_form(
    request: Request, next: Annotated[str | None, Query(max_length=512)] = None
) -> Response:
    seen = await viewer(request)
    if not seen.can_sign_in:
        return RedirectResponse("/ui/runs", status_code=303)
    return page(request, "signin.html", next=_safe_next(next), error=None)


@router.post("/signin")
async def signin(request: Request) -> Response:
    seen = await viewer(request)
    form = await request.form(max_files=0, max_fields=5)
    target = _safe_next(str(form.get("next", "")))
    if not seen.can_sign_in:
        return RedirectResponse("/ui/runs", status_code=303)
    ui = request.app.state.ui
    if not ui.auth.form_is_genuine(request, str(form.get(CSRF_FIELD, ""))):
        return page(request, "signin.html", 403, next=target, error="The form expired: try again.")
    response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https"
    principal = await ui.auth.sign_in(str(form.get("api_key", "")), response, secure=secure)
    if principal is None:
        return page(request, "signin.html", 401, next=target, error="That key is not valid.")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    await viewer(request)
    form = await request.form(max_files=0, max_fields=5)
    ui = request.app.state.ui
    response = RedirectResponse("/ui/signin", status_code=303)
    if ui.auth.form_is_genuine(request, str(form.get(CSRF_FIELD, ""))):
        ui.auth.sign_out(response)
    return response


# -- the pages' event stream ----------------------------------------------------------------------


@router.get("/events")
async def events(
    request: Request,
    principal: Reader,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[list[EventKind] | None, Query()] = None,
    last_event_id: Annotated[int | None, Query(ge=0)] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$")
    ] = None,
) -> EventStreamResponse:
    """EventSource sends the cookie, not a key: the same stream as /v1/events, with the
    dashboard's auth. On reconnect the browser's Last-Event-ID header wins over the query."""
    services = svc(request)
    resume = int(last_event_id_header) if last_event_id_header is not None else last_event_id
    flt = EventFilter(run_id=run_id, kinds=frozenset(kind or ()))
    return EventStreamResponse(
        event_stream(services.lifecycle.hub, flt, resume, services.settings.events_keepalive_seconds)
    )
