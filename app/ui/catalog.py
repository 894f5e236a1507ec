"""The dashboard's models (list, and one model with its versions, champion history, metric
chart and lineage) and data assets (versions, and the upload form)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from app.domain.errors import DomainError, NotFound
from app.domain.spec import Name, PromotionRule
from app.domain.state import ModelVersionInfo
from app.ui.auth import CSRF_FIELD
from app.ui.common import PageNotFound, Reader, Submitter, may_submit, svc
from app.ui.render import page

router = APIRouter(prefix="/ui", include_in_schema=False)

CHART_WIDTH, CHART_HEIGHT, PAD = 640, 240, 40
MIN_SPAN = 0.02  # the least range of the metric's axis


@router.get("/models")
async def models_page(
    request: Request, principal: Reader, cursor: Annotated[str | None, Query(max_length=128)] = None
) -> Response:
    try:
        models, next_cursor = await svc(request).lifecycle.models.page(cursor, 50)
        unavailable = None
    except DomainError as error:
        models, next_cursor, unavailable = [], None, error.detail
    return page(request, "models.html", models=models, next_cursor=next_cursor, unavailable=unavailable)


def metric_chart(versions: list[ModelVersionInfo], metric: str) -> dict[str, Any] | None:
    """The rule's metric across versions, as SVG coordinates (drawn by the template)."""
    points = [(v, v.metrics[metric]) for v in versions if metric in v.metrics]
    if not points:
        return None
    values = [value for _, value in points]
    low, high = min(values), max(values)
    if high - low < MIN_SPAN:  # a difference in the fifth decimal must not look like a leap
        middle = (high + low) / 2
        low, high = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2
    step = (CHART_WIDTH - 2 * PAD) / max(1, len(points) - 1)
    marks = []
    for index, (version, value) in enumerate(points):
        x = PAD + index * step if len(points) > 1 else CHART_WIDTH / 2
        y = CHART_HEIGHT - PAD - (value - low) / (high - low) * (CHART_HEIGHT - 2 * PAD)
        marks.append({"x": round(x, 1), "y": round(y, 1), "version": version.version, "value": value,
                      "champion": version.is_champion})  # fmt: skip
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pad": PAD,
        "metric": metric,
        "marks": marks,
        "line": " ".join(f"{m['x']},{m['y']}" for m in marks),
        "low": low,
        "high": high,
    }


def lineage(version: ModelVersionInfo) -> dict[str, str | None]:
    asset = version.tags.get("data_asset", "")
    name, _, number = asset.partition(":")
    return {
        "run_id": version.tags.get("trainctl.run_id"),
        "asset_name": name or None,
        "asset_version": number or None,
        "rule": version.tags.get("trainctl.promotion_rule"),
    }


@router.get("/models/{name}")
async def model_page(request: Request, name: str, principal: Reader) -> Response:
    try:
        found = await svc(request).lifecycle.models.get(name)
    except NotFound:
        raise PageNotFound(f"registered model {name}") from None
    history = found.champion_history
    metric = history[-1].metric if history else PromotionRule().metric
    versions = sorted(found.info.versions, key=lambda v: int(v.version) if v.version.isdigit() else 0)
    return page(
        request,
        "model.html",
        model=found.info,
        versions=[{"info": v, "lineage": lineage(v)} for v in reversed(versions)],
        history=list(reversed(history)),
        metric=metric,
        chart=metric_chart(versions, metric),
    )


def _data_page(request: Request, principal: Any, status: int = 200, **extra: Any) -> Response:
    return page(
        request,
        "data.html",
        status,
        assets=svc(request).assets.list(),
        can_upload=may_submit(principal),
        **{"error": None, "invalid": [], "uploaded": None, **extra},
    )


@router.get("/data")
async def data_page(request: Request, principal: Reader) -> Response:
    return _data_page(request, principal, uploaded=request.query_params.get("uploaded"))


@router.post("/data")
async def upload(request: Request, principal: Submitter) -> Response:
    ui = request.app.state.ui
    async with request.form(max_files=1, max_fields=5) as form:
        if not ui.auth.form_is_genuine(request, _text(form.get(CSRF_FIELD))):
            message = "This form expired or came from another site: try again."
            return _data_page(request, principal, 403, error=message)
        name, file = _text(form.get("name")).strip(), form.get("file")
        description = _text(form.get("description")).strip() or None
        if not _valid_name(name):
            message = "Name: letters, digits, '.', '_' or '-', at most 128 characters."
            return _data_page(request, principal, 422, error=message)
        if not isinstance(file, UploadFile) or not file.filename:
            return _data_page(request, principal, 422, error="Choose a CSV file to upload.")
        try:
            created = await run_in_threadpool(svc(request).assets.upload, name, file.file, description)
        except DomainError as error:
            return _data_page(request, principal, 422, error=error.detail, invalid=error.invalid)
    where = f"/ui/data?uploaded={created.name}:{created.version}"
    return Response(status_code=303, headers={"Location": where})


def _valid_name(name: str) -> bool:
    try:
        TypeAdapter(Name).validate_python(name)
    except ValidationError:
        return False
    return True


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
