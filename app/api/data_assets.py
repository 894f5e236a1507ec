"""/v1/data-assets: list, upload (multipart CSV) or register a file from the data directory."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app.api.deps import AssetsDep
from app.api.errors import problem_responses
from app.data_assets.schemas import DataAssetFromPath, DataAssetList, DataAssetRead, DataAssetSummary
from app.data_assets.validation import ValidationAborted
from app.domain.errors import InvalidInput
from app.domain.spec import NAME_PATTERN, Name

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/data-assets", tags=["data assets"])

AssetName = Annotated[str, Path(min_length=1, max_length=128, pattern=NAME_PATTERN)]


@router.get(
    "",
    response_model=DataAssetList,
    summary="All data assets and their versions",
    responses=problem_responses(401, 403),
)
async def list_assets(assets: AssetsDep) -> DataAssetList:
    return DataAssetList(items=assets.list())


@router.get(
    "/{name}",
    response_model=DataAssetSummary,
    summary="One data asset's versions",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_asset(name: AssetName, assets: AssetsDep) -> DataAssetSummary:
    return assets.get(name)


@router.post(
    "",
    status_code=201,
    response_model=DataAssetRead,
    summary="Register a new version: upload a CSV (multipart `name`, `file`) or name a path (JSON)",
    responses=problem_responses(401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["name", "file"],
                        "properties": {
                            "name": {
                                "type": "string",
                                "maxLength": 128,
                                "pattern": NAME_PATTERN,
                            },
                            "file": {"type": "string", "format": "binary"},
                            "description": {"type": "string", "maxLength": 1000},
                        },
                    }
                },
                "application/json": {"schema": DataAssetFromPath.model_json_schema()},
            },
            "required": True,
        }
    },
)
async def create_asset(request: Request, assets: AssetsDep, response: Response) -> Response | DataAssetRead:
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            try:
                body = DataAssetFromPath.model_validate_json(await request.body())
            except ValidationError as error:
                raise RequestValidationError(
                    [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
                ) from None
            async with client_gone(request) as gone:
                created = await run_in_threadpool(
                    assets.register_path, body.name, body.path, body.description, gone.is_set
                )
        elif content_type.startswith("multipart/form-data"):
            created = await _from_upload(request, assets)
        else:
            raise InvalidInput(
                "send multipart/form-data with fields name and file, or JSON {name, path}",
                invalid=[("header.Content-Type", f"unsupported: {content_type or 'none'}")],
            )
    except ValidationAborted:
        log.info("data asset validation stopped: the client went away")
        return Response(status_code=499)  # nobody is left to read it
    response.headers["Location"] = str(request.url_for("get_asset", name=created.name).path)
    return created


@asynccontextmanager
async def client_gone(request: Request, interval: float = 0.25) -> AsyncIterator[threading.Event]:
    """An event set once the client disconnects, so work in a worker thread can stop early."""
    gone = threading.Event()

    async def watch() -> None:
        while not gone.is_set():
            if await request.is_disconnected():
                gone.set()
                return
            await asyncio.sleep(interval)

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        yield gone
    finally:
        watcher.cancel()


async def _from_upload(request: Request, assets: AssetsDep) -> DataAssetRead:
    async with request.form(max_files=1, max_fields=5) as form:
        name, upload, description = form.get("name"), form.get("file"), form.get("description")
        invalid = []
        if not isinstance(name, str) or not _valid_name(name):
            invalid.append(("name", "required: letters, digits, '.', '_' or '-', at most 128 characters"))
        if not isinstance(upload, UploadFile) and not hasattr(upload, "read"):
            invalid.append(("file", "required: the CSV file"))
        if description is not None and (not isinstance(description, str) or len(description) > 1000):
            invalid.append(("description", "at most 1000 characters"))
        if invalid:
            raise InvalidInput("the upload is missing or has invalid fields", invalid=invalid)
        assert isinstance(name, str) and not isinstance(upload, str) and upload is not None
        async with client_gone(request) as gone:
            return await run_in_threadpool(
                assets.upload,
                name,
                upload.file,
                description if isinstance(description, str) else None,
                gone.is_set,
            )


def _valid_name(name: str) -> bool:
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(Name).validate_python(name)
    except ValidationError:
        return False
    return True
