"""Path traversal: no request reaches a file outside the data directory or a run's artifacts.

Requests go over a real socket to uvicorn so raw `..` segments and percent-encodings arrive
exactly as an attacker would send them (an HTTP client library would normalize them first).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.sampledata import write_csv
from tests.support.auth import api_keys_setting, key_headers
from tests.support.fakebackend import Built, build
from tests.support.http import LiveServer

ADMIN = key_headers("admin")
SECRET = "TOP-SECRET-OUTSIDE-CONTENT"


@dataclass
class Target:
    server: LiveServer
    built: Built
    run_id: str
    outside: Path

    def get(self, raw_path: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            connection.request("GET", raw_path, headers=ADMIN)  # sent verbatim, no normalization
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def post_json(self, body: str) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            connection.request(
                "POST", "/v1/data-assets", body=body, headers={**ADMIN, "Content-Type": "application/json"}
            )
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("traversal")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    # A valid CSV outside the data directory: if a path check failed, registering it would succeed.
    write_csv(outside / "data.csv", rows=200, seed=1)
    built = build(root / "data", auth_mode="api-key", api_keys=api_keys_setting())
    with LiveServer(built.app) as server:
        import httpx

        created = httpx.post(f"{server.url}/v1/training-runs", json={"kind": "job"}, headers=ADMIN)
        run_id = created.json()["id"]
        done = httpx.get(
            f"{server.url}/v1/training-runs/{run_id}/wait", params={"timeout": 10}, headers=ADMIN
        )
        assert done.json()["status"] == "completed"
        step_dir = built.backend.artifact_root / f"{run_id}-train-model"
        os.symlink(outside / "secret.txt", step_dir / "link.txt")
        os.symlink(outside, step_dir / "linked-dir")
        data = root / "data"
        (data / "imports").mkdir()
        write_csv(data / "imports" / "ok.csv", rows=200, seed=2)
        os.symlink(outside / "data.csv", data / "imports" / "escape.csv")
        os.symlink(outside, data / "imports" / "escape-dir")
        yield Target(server, built, run_id, outside)


def test_a_legitimate_artifact_is_served(target: Target) -> None:
    status, _ = target.get(f"/v1/training-runs/{target.run_id}/artifacts/train-model/plot.png")
    assert status == 200


ARTIFACT_ATTACKS = [
    "../../../../../../etc/passwd",
    "train-model/../../../../../../etc/passwd",
    "train-model/../../outside/secret.txt",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "train-model/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "train-model/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "train-model/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "train-model/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "train-model//etc/passwd",
    "train-model/%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "train-model/..%5C..%5C..%5Cetc%5Cpasswd",
    "train-model/link.txt",
    "train-model/linked-dir/secret.txt",
    "train-model/plot.png%00.txt",
    "..",
    "train-model/..",
]


@pytest.mark.parametrize("attack", ARTIFACT_ATTACKS)
def test_artifact_paths_stay_inside_the_run(target: Target, attack: str) -> None:
    status, body = target.get(f"/v1/training-runs/{target.run_id}/artifacts/{attack}")
    assert status in (404, 422), (status, body[:200])
    assert SECRET.encode() not in body
    assert b"root:" not in body


@pytest.mark.parametrize(
    "raw",
    [
        "/v1/training-runs/..%2F..%2Fetc%2Fpasswd",
        "/v1/training-runs/../../etc/passwd",
        "/v1/data-assets/..%2F..%2Fetc%2Fpasswd",
        "/v1/data-assets/%2e%2e",
        "/v1/models/..%2F..%2Fsecret",
    ],
)
def test_ids_and_names_cannot_carry_paths(target: Target, raw: str) -> None:
    status, body = target.get(raw)
    assert status in (404, 422), (status, body[:200])


def test_a_path_inside_the_data_directory_registers(target: Target) -> None:
    status, body = target.post_json('{"name": "inside", "path": "imports/ok.csv"}')
    assert status == 201, body


DATA_PATH_ATTACKS = [
    "../outside/data.csv",
    "../../../../etc/passwd",
    "imports/../../outside/data.csv",
    str(Path("/etc/passwd")),
    "ATTACK_ABSOLUTE",
    "%2e%2e%2foutside%2fdata.csv",
    "..%2Foutside%2Fdata.csv",
    "imports/escape.csv",
    "imports/escape-dir/data.csv",
    "..\\\\outside\\\\data.csv",
    "imports/ok.csv\\u0000",
    "~/.ssh/id_rsa",
]


@pytest.mark.parametrize("attack", DATA_PATH_ATTACKS)
def test_data_asset_paths_stay_inside_the_data_directory(target: Target, attack: str) -> None:
    attack = attack.replace("ATTACK_ABSOLUTE", str(target.outside / "data.csv"))
    status, body = target.post_json(f'{{"name": "attack", "path": "{attack}"}}')
    assert status == 422, (status, body[:300])
    assert b"body.path" in body
    assert SECRET.encode() not in body


# Names the operating system refuses: too long for one path component or for a whole path, a
# lone surrogate (not encodable), NUL. Each must be a clean 4xx naming the field, and the
# keep-alive connection must survive it.
OS_REFUSED_DATA_PATHS = [
    "a" * 300,
    "imports/" + "b" * 5000,
    "/".join(["c" * 200] * 30),
    "imports/\\ud800.csv",
    "imports/ok.csv\\u0000.txt",
]


@pytest.mark.parametrize("name", OS_REFUSED_DATA_PATHS, ids=["component", "long", "deep", "surrogate", "nul"])
def test_paths_the_os_refuses_are_a_422_naming_the_path(target: Target, name: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", target.server.port, timeout=10)
    try:
        for _ in range(2):  # the second request goes over the same connection
            connection.request(
                "POST",
                "/v1/data-assets",
                body=f'{{"name": "x", "path": "{name}"}}',
                headers={**ADMIN, "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            body = json.loads(response.read())
            assert response.status == 422, body
            assert response.getheader("content-type") == "application/problem+json"
            # A lone surrogate is not even valid JSON text: then the body itself is named.
            assert [p["name"] for p in body["invalid-params"]] in (["body.path"], ["body"])
    finally:
        connection.close()


@pytest.mark.parametrize("tail", ["A" * 256, "d/" + "e" * 300, "%ff%fe.png", "%00"])
def test_artifact_names_the_os_refuses_are_a_404(target: Target, tail: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", target.server.port, timeout=10)
    try:
        for _ in range(2):
            connection.request(
                "GET", f"/v1/training-runs/{target.run_id}/artifacts/train-model/{tail}", headers=ADMIN
            )
            response = connection.getresponse()
            response.read()
            assert response.status == 404
    finally:
        connection.close()


@pytest.mark.parametrize(
    "content",
    [
        "SECRET-FIRST-LINE: trainctl warm-up log\nmore secrets\n",
        "PatientID-SECRET,Pregnancies\n1,2\n",  # one or two schema-like words are not a header
        "\x00\x01\x02SECRET-BINARY",
    ],
)
def test_the_path_form_never_tells_what_a_file_holds(target: Target, content: str) -> None:
    probe = target.built.settings.resolved_data_dir / "imports" / "probe.txt"
    probe.write_text(content)
    status, body = target.post_json('{"name": "oracle", "path": "imports/probe.txt"}')
    assert status == 422
    assert b"SECRET" not in body
    assert b"not a diabetes-diagnostics CSV" in body
