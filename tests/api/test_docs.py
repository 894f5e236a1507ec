"""Swagger UI and ReDoc come from the service itself, with a strict Content-Security-Policy."""

from __future__ import annotations

import re

import pytest

from tests.support.asgi import AppThread


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_elsewhere_and_run_no_inline_script(api: AppThread, page: str) -> None:
    response = api.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert (
        "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in policy
    html = response.text
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "an outside URL in the page"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "an inline script"
    for asset in re.findall(r"(?:src|href)=\"(/[^\"]+)\"", html):
        fetched = api.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 100, asset


def test_swagger_initializer_reads_this_services_schema(api: AppThread) -> None:
    script = api.get("/docs/init.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/openapi.json" in script.text and "persistAuthorization: true" in script.text
