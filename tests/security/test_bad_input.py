"""Bad input gets a clear 422 naming what to fix: CSV schema, enums, lengths, timeouts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.data_assets.validation import COLUMNS
from tests.support.auth import api_keys_setting, key_headers
from tests.support.fakebackend import build

ADMIN = key_headers("admin")
GOOD_ROW = ["1", "2", "120", "70", "20", "80", "30.5", "0.5", "40"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    built = build(tmp_path_factory.mktemp("bad-input"), auth_mode="api-key", api_keys=api_keys_setting())
    with TestClient(built.app) as found:
        yield found


def csv_text(header: list[str], rows: list[list[str]]) -> bytes:
    return ("\n".join(",".join(r) for r in [header, *rows]) + "\n").encode()


def balanced_rows(n: int = 12) -> list[list[str]]:
    return [[*GOOD_ROW, str(i % 2)] for i in range(n)]


def upload(client: TestClient, content: bytes) -> dict[str, Any]:
    response = client.post(
        "/v1/data-assets", data={"name": "bad"}, files={"file": ("d.csv", content, "text/csv")}, headers=ADMIN
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["invalid-params"][0]["name"] == "file"
    return problem


def test_a_good_csv_uploads(client: TestClient) -> None:
    response = client.post(
        "/v1/data-assets",
        data={"name": "good"},
        files={"file": ("d.csv", csv_text(list(COLUMNS), balanced_rows()), "text/csv")},
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text


def test_missing_column_is_named(client: TestClient) -> None:
    header = [c for c in COLUMNS if c != "BMI"]
    rows = [[v for i, v in enumerate(r) if COLUMNS[i] != "BMI"] for r in balanced_rows()]
    problem = upload(client, csv_text(header, rows))
    assert "missing columns: BMI" in problem["detail"]


def test_bad_value_names_row_and_column(client: TestClient) -> None:
    rows = balanced_rows()
    rows[1][COLUMNS.index("PlasmaGlucose")] = "lots"
    problem = upload(client, csv_text(list(COLUMNS), rows))
    assert "row 3, column PlasmaGlucose" in problem["detail"]
    assert "'lots'" in problem["invalid-params"][0]["reason"]


def test_bad_label_and_short_row_are_named(client: TestClient) -> None:
    rows = balanced_rows()
    rows[4][-1] = "2"
    assert "row 6: Diabetic is '2'" in upload(client, csv_text(list(COLUMNS), rows))["detail"]
    rows = balanced_rows()
    rows[0] = rows[0][:5]
    assert "row 2 has 5 values" in upload(client, csv_text(list(COLUMNS), rows))["detail"]


def test_binary_and_empty_files(client: TestClient) -> None:
    assert "not a diabetes-diagnostics CSV" in upload(client, b"\xff\xfe\x00garbage")["detail"]
    assert "not a diabetes-diagnostics CSV" in upload(client, b"")["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "notebook"}, "body.kind"),
        ({"hyperparameters": {"solver": "adam"}}, "body.hyperparameters.solver"),
        ({"hyperparameters": {"reg_rate": -1}}, "body.hyperparameters.reg_rate"),
        ({"promotion": {"metric": "loss"}}, "body.promotion.metric"),
        ({"experiment_name": "x" * 257}, "body.experiment_name"),
        ({"experiment_name": "dots.are.refused.by.azure"}, "body.experiment_name"),
        ({"model_name": "../escape"}, "body.model_name"),
        ({"environment": "env; rm -rf /"}, "body.environment"),
        ({"tags": {f"k{i}": "v" for i in range(51)}}, "body.tags"),
        ({"tags": {"k": "v" * 513}}, "body.tags.k"),
        ({"step_compute": {"deploy-model": "gpu"}}, "body.step_compute.deploy-model.[key]"),
        ({"data_asset": {"version": "1; DROP TABLE runs"}}, "body.data_asset.version"),
        ({"callback_url": "ftp://hooks.example.com/x"}, "body.callback_url"),
        ({"callback_url": "file:///etc/passwd"}, "body.callback_url"),
        ({"unexpected": True}, "body.unexpected"),
        # Strict types: no guessing at strings or booleans where a number or boolean belongs.
        ({"hyperparameters": {"reg_rate": "0.1"}}, "body.hyperparameters.reg_rate"),
        ({"hyperparameters": {"reg_rate": True}}, "body.hyperparameters.reg_rate"),
        ({"promotion": {"min_improvement": "0"}}, "body.promotion.min_improvement"),
        ({"force_rerun": "true"}, "body.force_rerun"),
        ({"force_rerun": 1}, "body.force_rerun"),
        # Control characters in names and tag keys; over-long URLs.
        ({"tags": {"team\u0000": "ml"}}, "body.tags.team\u0000.[key]"),
        ({"tags": {"line\nbreak": "ml"}}, "body.tags.line\nbreak.[key]"),
        ({"tags": {"k": "bell\u0007"}}, "body.tags.k"),
        ({"model_name": "m\u0000"}, "body.model_name"),
        ({"callback_url": "https://hooks.example.com/" + "x" * 2100}, "body.callback_url"),
    ],
)
def test_submit_rejects_with_the_field_named(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/v1/training-runs", json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    names = [p["name"] for p in response.json()["invalid-params"]]
    assert field in names, names


@pytest.mark.parametrize("timeout", ["0", "-1", "301", "1e9", "nan", "inf"])
def test_wait_timeout_is_bounded(client: TestClient, timeout: str) -> None:
    response = client.get("/v1/training-runs/run-x/wait", params={"timeout": timeout}, headers=ADMIN)
    assert response.status_code == 422
    assert response.json()["invalid-params"][0]["name"] == "query.timeout"


def test_other_bounds(client: TestClient) -> None:
    long_key = client.post("/v1/training-runs", json={}, headers={**ADMIN, "Idempotency-Key": "k" * 256})
    assert long_key.status_code == 422
    assert client.get("/v1/training-runs", params={"limit": 201}, headers=ADMIN).status_code == 422
    assert client.get("/v1/training-runs", params={"status": "exploded"}, headers=ADMIN).status_code == 422
    assert client.get("/v1/training-runs/" + "r" * 65, headers=ADMIN).status_code == 422
    malformed = client.post(
        "/v1/training-runs", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 422
