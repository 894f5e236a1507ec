"""Every route the app serves, with every credential that must fail and the least that must pass.

The route list comes from the app itself, so a route added without protection (or with a
role nobody decided on) fails here instead of shipping open.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from tests.support.auth import Signer, api_keys_setting, bearer, entra_settings, key_headers
from tests.support.fakebackend import AppFactory, build
from tests.support.http import Receiver

# Decided by design, not derived from the code under test.
OPEN = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/init.js", "/redoc"}
SUBMITTER = {
    ("POST", "/v1/training-runs"),
    ("POST", "/v1/training-runs/{run_id}/cancel"),
    ("POST", "/v1/data-assets"),
}
ROLES = ["reader", "submitter", "admin"]
SAMPLES = {
    "run_id": "run-00000000000000000000",
    "name": "diabetes-diagnostics",
    "path": "train-model/plot.png",
}


def expected_role(method: str, path: str) -> str:
    if method == "GET":
        return "reader"
    return "submitter" if (method, path) in SUBMITTER else "admin"


def routes() -> list[tuple[str, str]]:
    built = build(Path("/nonexistent"), auth_mode="api-key", api_keys=api_keys_setting())
    found = set()
    for route in iter_route_contexts(built.app.routes):
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, str(route.path)))
    return sorted(found, key=lambda r: (r[1], r[0]))


ROUTES = routes()
API_ROUTES = [r for r in ROUTES if not r[1].startswith("/ui")]
PROTECTED = [r for r in API_ROUTES if r[1] not in OPEN]

# The dashboard answers a browser: sign-in redirects and HTML pages instead of problem+json,
# but the same roles. Decided by design: what needs no sign-in, and which pages write.
UI_OPEN = {
    ("GET", "/ui"),  # a redirect to /ui/runs
    ("GET", "/ui/signin"),
    ("POST", "/ui/signin"),
    ("POST", "/ui/signout"),
    ("GET", "/ui/static/{digest}/{name}"),
}
UI_SUBMITTER = {("GET", "/ui/submit"), ("POST", "/ui/submit"), ("POST", "/ui/data")}
UI_PROTECTED = [r for r in ROUTES if r[1].startswith("/ui") and r not in UI_OPEN]


def url(path: str) -> str:
    if path in ("/v1/events", "/ui/events"):
        # An event stream never ends; a bad filter is answered (422) once the caller passed auth.
        return f"{path}?kind=not-a-kind"
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLES.get(m.group(1), "x"), path)


def call(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], str]:
    # An empty JSON object: well-formed, so authentication is what decides the answer.
    body: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    response = client.request(method, url(path), headers=headers, **body)
    return response.status_code, dict(response.headers), response.text


def ui_role(method: str, path: str) -> str:
    return "submitter" if (method, path) in UI_SUBMITTER else "reader"


def role_refused(text: str) -> bool:
    return "This page needs the" in text


@pytest.mark.parametrize(("method", "path"), UI_PROTECTED, ids=[f"{m} {p}" for m, p in UI_PROTECTED])
def test_ui_api_key_matrix(keyed: TestClient, method: str, path: str) -> None:
    for headers in ({}, {"X-API-Key": "not-a-configured-key-at-all"}):
        response = keyed.request(method, url(path), headers=headers, follow_redirects=False)
        assert response.status_code == 303, response.text
        assert response.headers["location"].startswith("/ui/signin?next=")
    needed = ui_role(method, path)
    for role in ROLES:
        response = keyed.request(method, url(path), headers=key_headers(role), follow_redirects=False)
        if ROLES.index(role) < ROLES.index(needed):
            assert response.status_code == 403 and role_refused(response.text), f"{role} on {method} {path}"
        else:
            assert response.status_code != 303 and not role_refused(response.text), (
                f"{role} on {method} {path}"
            )


@pytest.mark.parametrize(("method", "path"), UI_PROTECTED, ids=[f"{m} {p}" for m, p in UI_PROTECTED])
def test_ui_entra_matrix(entra: TestClient, signer: Signer, method: str, path: str) -> None:
    assert entra.request(method, url(path), follow_redirects=False).status_code == 401
    no_role = entra.request(method, url(path), headers=bearer(signer.token(roles=None)))
    assert no_role.status_code == 403
    needed = ui_role(method, path)
    for role in ROLES[: ROLES.index(needed)]:
        assert entra.request(method, url(path), headers=bearer(signer.token(roles=[role]))).status_code == 403
    allowed = entra.request(
        method, url(path), headers=bearer(signer.token(roles=[needed])), follow_redirects=False
    )
    assert allowed.status_code not in (401, 303) and not role_refused(allowed.text)


def test_route_table_is_complete() -> None:
    paths = {p for _, p in ROUTES}
    assert {"/v1/training-runs", "/v1/data-assets", "/v1/backend", "/healthz"} <= paths
    assert len(PROTECTED) >= 14
    assert {("GET", "/ui/runs"), ("POST", "/ui/submit"), ("GET", "/ui/events")} <= set(UI_PROTECTED)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    built = build(tmp_path_factory.mktemp("keyed"), auth_mode="api-key", api_keys=api_keys_setting())
    with TestClient(built.app) as client:
        yield client


@pytest.fixture(scope="module")
def entra(
    tmp_path_factory: pytest.TempPathFactory, module_receiver: Receiver, signer: Signer
) -> Iterator[TestClient]:
    module_receiver.documents["/keys"] = {"keys": [signer.jwk()]}
    built = build(tmp_path_factory.mktemp("entra"), **entra_settings(f"{module_receiver.url}/keys"))
    with TestClient(built.app) as client:
        yield client


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_api_key_matrix(keyed: TestClient, method: str, path: str) -> None:
    status, headers, text = call(keyed, method, path, {})
    assert status == 401, text
    assert headers["content-type"] == "application/problem+json"
    assert "X-API-Key" in headers["www-authenticate"]

    status, headers, _ = call(keyed, method, path, {"X-API-Key": "not-a-configured-key-at-all"})
    assert status == 401
    assert "www-authenticate" in headers

    needed = expected_role(method, path)
    for role in ROLES[: ROLES.index(needed)]:
        status, _, text = call(keyed, method, path, key_headers(role))
        assert status == 403, f"{role} on {method} {path}: {text}"
        assert f"'{needed}' role" in text

    for role in ROLES[ROLES.index(needed) :]:
        status, _, text = call(keyed, method, path, key_headers(role))
        assert status not in (401, 403), f"{role} on {method} {path}: {text}"


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_entra_matrix(entra: TestClient, signer: Signer, method: str, path: str) -> None:
    status, headers, text = call(entra, method, path, {})
    assert status == 401, text
    assert headers["www-authenticate"].startswith("Bearer")

    status, _, text = call(entra, method, path, bearer(signer.token(roles=None)))
    assert status == 403, text  # a valid token, but no app role

    needed = expected_role(method, path)
    for role in ROLES[: ROLES.index(needed)]:
        status, _, text = call(entra, method, path, bearer(signer.token(roles=[role])))
        assert status == 403, f"{role} on {method} {path}: {text}"
    status, _, text = call(entra, method, path, bearer(signer.token(roles=[needed])))
    assert status not in (401, 403), text


@pytest.mark.parametrize("path", sorted(OPEN & {p for _, p in ROUTES}))
def test_open_routes_need_no_credentials(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code in (200, 503)


def test_forbidden_names_the_role(keyed: TestClient) -> None:
    response = keyed.post("/v1/training-runs", json={}, headers=key_headers("reader"))
    problem = response.json()
    assert response.status_code == 403
    assert problem["required_role"] == "submitter"
    assert problem["type"].endswith("/forbidden")
    assert "'reader' role" in problem["detail"]


def test_openapi_declares_the_chosen_scheme(keyed: TestClient) -> None:
    document = keyed.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    assert document["paths"]["/v1/training-runs"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]
    assert "persistAuthorization: true" in keyed.get("/docs/init.js").text


def test_openapi_declares_bearer_for_entra(entra: TestClient) -> None:
    schemes = entra.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes == {
        "EntraID": {**schemes["EntraID"], "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }


def test_no_scheme_without_auth(make_app: AppFactory) -> None:
    with TestClient(make_app().app) as client:
        assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})
        assert client.get("/v1/training-runs").status_code == 200


def test_an_unclassified_write_needs_admin() -> None:
    from fastapi import APIRouter, FastAPI

    from app.api.errors import install_handlers
    from app.api.guarded import include_guarded
    from app.security import build_guard
    from app.settings import Settings

    router = APIRouter()

    @router.delete("/v1/training-runs/{run_id}")
    async def purge(run_id: str) -> dict[str, str]:
        return {"purged": run_id}

    app = FastAPI()
    install_handlers(app)
    include_guarded(app, [router], build_guard(Settings(auth_mode="api-key", api_keys=api_keys_setting())))
    with TestClient(app) as client:
        assert client.delete("/v1/training-runs/r1").status_code == 401
        refused = client.delete("/v1/training-runs/r1", headers=key_headers("submitter"))
        assert refused.status_code == 403
        assert refused.json()["required_role"] == "admin"
        assert client.delete("/v1/training-runs/r1", headers=key_headers("admin")).json() == {"purged": "r1"}
