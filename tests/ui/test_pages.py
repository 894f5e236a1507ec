"""The dashboard over HTTP (fake backend, real store): every page's security headers and the
absence of inline code or outside requests, cached static files, sign-in with an API key and
what each role is offered, protection of the forms, one run per idempotency key, entra."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.auth import KEYS, api_keys_setting, bearer, entra_settings
from tests.support.fakebackend import AppFactory, Built
from tests.support.http import Receiver
from tests.support.runs import sample_csv

PAGES = ["/ui/runs", "/ui/models", "/ui/data", "/ui/submit", "/ui/runs?status=completed&kind=pipeline"]


class Inline(HTMLParser):
    """Collects what a strict CSP would block or what would leave the machine."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and not found.get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        for name, value in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")
            if name in ("src", "href", "action") and value and re.match(r"^(https?:)?//", value):
                self.problems.append(f"outside {name} {value}")


@pytest.fixture
def local(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app().app) as client:
        yield client


@pytest.fixture
def keyed(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app(auth_mode="api-key", api_keys=api_keys_setting()).app) as client:
        yield client


def submit_a_run(client: TestClient) -> str:
    answer = client.post("/v1/training-runs", json={"kind": "pipeline", "model_name": "pages"})
    run_id: str = answer.json()["id"]
    client.get(f"/v1/training-runs/{run_id}/wait", params={"timeout": 10})
    return run_id


def test_every_page_is_strict_about_what_it_loads(local: TestClient) -> None:
    run_id = submit_a_run(local)
    for path in [*PAGES, f"/ui/runs/{run_id}", f"/ui/runs/{run_id}/live"]:
        answer = local.get(path)
        assert answer.status_code == 200, path
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert "'unsafe-inline'" not in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        parser = Inline()
        parser.feed(answer.text)
        assert parser.problems == [], path


def test_static_files_are_cached_under_their_content_hash(local: TestClient) -> None:
    page = local.get("/ui/runs").text
    for name in ("app.css", "app.js"):
        (url,) = re.findall(rf'"(/ui/static/[0-9a-f]+/{re.escape(name)})"', page)
        answer = local.get(url)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        stale = local.get(url.replace("/static/", "/static/0"))
        assert stale.headers["cache-control"] == "no-cache"
    assert local.get("/ui/static/abc/../../main.py").status_code == 404


def test_a_run_page_explains_the_decision(local: TestClient) -> None:
    run_id = submit_a_run(local)
    html = local.get(f"/ui/runs/{run_id}").text
    assert "Promoted: version 1 is now the champion of pages" in html
    assert "no champion yet" in html
    assert f'src="/ui/runs/{run_id}/artifacts/train-model/plot.png"' in html
    assert local.get(f"/ui/runs/{run_id}/artifacts/train-model/plot.png").content.startswith(b"\x89PNG")
    assert local.get(f"/ui/runs/{run_id}/artifacts/../../etc/passwd").status_code == 404
    assert local.get("/ui/runs/run-none").status_code == 404
    assert local.get(f"/ui/runs/{run_id}/log", params={"step": "train-model"}).json()["final"] is True


def test_the_runs_list_filters_and_counts(local: TestClient) -> None:
    submit_a_run(local)
    local.post("/v1/training-runs", json={"kind": "job", "model_name": "other"})
    assert 'data-count="2">2 runs</span>' in local.get("/ui/runs").text
    only_jobs = local.get("/ui/runs", params={"kind": "job"}).text
    assert "1 run</span> matching the filters" in only_jobs and ">other<" in only_jobs


def test_sign_in_sets_a_session_cookie_without_the_key_and_the_role_decides(keyed: TestClient) -> None:
    first = keyed.get("/ui/runs", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/ui/signin?next=")
    form = keyed.get("/ui/signin").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    wrong = keyed.post("/ui/signin", data={"api_key": "nope", "csrf_token": token, "next": "/ui/runs"})
    assert wrong.status_code == 401
    signed = keyed.post(
        "/ui/signin",
        data={"api_key": KEYS["reader"], "csrf_token": token, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/runs"  # no open redirect
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert KEYS["reader"] not in cookie
    runs = keyed.get("/ui/runs")
    assert runs.status_code == 200 and "reader" in runs.text and 'href="/ui/submit"' not in runs.text
    assert keyed.get("/ui/submit").status_code == 403
    assert keyed.post("/ui/submit", data={"csrf_token": token}).status_code == 403
    assert "Upload a new version" not in keyed.get("/ui/data").text


def signed_in(client: TestClient, role: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/signin").text).group(1)  # type: ignore[union-attr]
    client.post("/ui/signin", data={"api_key": KEYS[role], "csrf_token": token, "next": "/ui/runs"})
    return token


def test_a_double_submitted_form_makes_one_run(keyed: TestClient) -> None:
    token = signed_in(keyed, "submitter")
    form = keyed.get("/ui/submit").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    data = {
        "csrf_token": token, "idempotency_key": key, "kind": "pipeline", "model_name": "twice",
        "experiment_name": "ui", "data_asset": "diabetes-diagnostics", "data_version": "latest",
        "reg_rate": "0.05", "solver": "lbfgs", "metric": "f1", "min_improvement": "0",
    }  # fmt: skip
    first = keyed.post("/ui/submit", data=data, follow_redirects=False)
    second = keyed.post("/ui/submit", data=data, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    runs = keyed.get(
        "/v1/training-runs", params={"model_name": "twice"}, headers={"X-API-Key": KEYS["admin"]}
    )
    (run,) = runs.json()["items"]
    assert run["submitted_by"].startswith("api-key:") and run["promotion"]["metric"] == "f1"
    bad = keyed.post("/ui/submit", data={**data, "reg_rate": "-1", "idempotency_key": "other"})
    assert bad.status_code == 422 and "hyperparameters.reg_rate" in bad.text


def test_forms_from_another_site_are_refused(keyed: TestClient) -> None:
    token = signed_in(keyed, "submitter")
    data = {"csrf_token": token, "kind": "job", "model_name": "csrf", "reg_rate": "0.1"}
    assert keyed.post("/ui/submit", data={**data, "csrf_token": "forged"}).status_code == 403
    assert keyed.post("/ui/submit", data=data, headers={"Origin": "https://evil.example"}).status_code == 403
    assert keyed.post("/ui/submit", data=data, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    keyed.cookies.delete("trainctl_csrf", path="/ui")
    assert keyed.post("/ui/submit", data=data).status_code == 403


def test_signing_out_ends_the_session(keyed: TestClient) -> None:
    token = signed_in(keyed, "reader")
    assert keyed.get("/ui/runs").status_code == 200
    keyed.post("/ui/signout", data={"csrf_token": token})
    assert keyed.get("/ui/runs", follow_redirects=False).status_code == 303


def test_a_session_ends_when_its_key_is_removed(
    make_app: AppFactory, tmp_path_factory: pytest.TempPathFactory
) -> None:
    secret = "a-dashboard-secret-0123456789"
    with TestClient(
        make_app(auth_mode="api-key", api_keys=api_keys_setting(), ui_session_secret=secret).app
    ) as one:
        signed_in(one, "reader")
        cookie = one.cookies.get("trainctl_session")
    others = f"submitter:{KEYS['submitter']}"
    built: Built = make_app(auth_mode="api-key", api_keys=others, ui_session_secret=secret)
    with TestClient(built.app) as two:
        two.cookies.set("trainctl_session", cookie or "", path="/ui")
        assert two.get("/ui/runs", follow_redirects=False).status_code == 303


def test_entra_needs_a_bearer_token_on_each_request(
    make_app: AppFactory, receiver: Receiver, signer: pytest.FixtureRequest
) -> None:
    receiver.documents["/keys"] = {"keys": [signer.jwk()]}  # type: ignore[attr-defined]
    with TestClient(make_app(**entra_settings(f"{receiver.url}/keys")).app) as client:
        refused = client.get("/ui/runs")
        assert refused.status_code == 401 and "Authorization: Bearer" in refused.text
        reader = bearer(signer.token(roles=["reader"]))  # type: ignore[attr-defined]
        assert client.get("/ui/runs", headers=reader).status_code == 200
        assert client.get("/ui/submit", headers=reader).status_code == 403
        assert client.get("/ui/signin", follow_redirects=False).status_code == 303


def test_a_submitter_uploads_a_new_data_version(keyed: TestClient, tmp_path: Path) -> None:
    token = signed_in(keyed, "submitter")
    csv = sample_csv(tmp_path / "patients.csv", rows=300)
    with csv.open("rb") as handle:
        answer = keyed.post(
            "/ui/data",
            data={"csrf_token": token, "name": "ui-upload", "description": "from the dashboard"},
            files={"file": ("patients.csv", handle, "text/csv")},
            follow_redirects=False,
        )
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/data?uploaded=ui-upload:1"
    page = keyed.get("/ui/data?uploaded=ui-upload:1").text
    assert "Registered ui-upload:1." in page and 'id="asset-ui-upload"' in page
    assert '<td class="num">300</td>' in page and "from the dashboard" in page
    broken = tmp_path / "broken.csv"
    broken.write_text("a,b\n1,2\n")
    with broken.open("rb") as handle:
        refused = keyed.post("/ui/data", data={"csrf_token": token, "name": "ui-upload"},
                             files={"file": ("broken.csv", handle, "text/csv")})  # fmt: skip
    assert refused.status_code == 422 and "not a diabetes-diagnostics CSV" in refused.text


def test_azure_runs_link_to_the_job_in_azure_ml_studio(make_app: AppFactory) -> None:
    built = make_app()
    with TestClient(built.app) as client:
        run_id = submit_a_run(client)
        studio = "https://ml.azure.com/runs/trainctl-run?wsid=/subscriptions/s/resourceGroups/r/workspaces/w"
        built.app.state.services.store.runs.set_submitted(run_id, f"trainctl-{run_id}", studio, "Completed")
        html = client.get(f"/ui/runs/{run_id}").text
    link = 'href="' + studio.replace("&", "&amp;") + '" rel="noopener noreferrer"'
    assert link in html and "Open the job in Azure ML studio" in html
