"""What an answer tells a caller: readers learn no local paths or connection strings."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from tests.support.auth import api_keys_setting, key_headers


def test_backend_details_hide_paths_from_readers_and_show_them_to_admins(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", auth_mode="api-key", api_keys=api_keys_setting(), warm_runner=False
    )
    with TestClient(create_app(settings)) as client:
        for role in ("reader", "submitter"):
            seen = client.get("/v1/backend", headers=key_headers(role))
            assert seen.status_code == 200
            assert str(tmp_path) not in seen.text and "sqlite" not in seen.text, role
            assert seen.json()["details"]["step_runner"]
        admin = client.get("/v1/backend", headers=key_headers("admin")).json()["details"]
        assert admin["data_dir"] == str((tmp_path / "data").resolve())
        assert admin["mlflow_tracking_uri"].startswith("sqlite:///")
