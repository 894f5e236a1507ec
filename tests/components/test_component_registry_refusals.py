"""A registry that refuses what the register step asks after registering (Azure ML's MLflow
registry documents tags, not aliases, and may refuse deleting a tag) must not fail the step:
the model version exists by then, and a failed step would report it as never registered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ENDPOINT_NOT_FOUND

MODEL = "diabetes-model"


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        # what MLflow's REST store raises for an endpoint the server does not have
        raise MlflowException(f"registry refuses {what}", error_code=ENDPOINT_NOT_FOUND)

    return refuse


@pytest.fixture
def refusing_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    for method in (
        "set_registered_model_alias",
        "get_model_version_by_alias",
        "delete_registered_model_alias",
    ):
        monkeypatch.setattr(MlflowClient, method, _refuse(method))
    monkeypatch.setattr(MlflowClient, "delete_model_version_tag", _refuse("tag deletion"))


def test_promotion_completes_when_the_registry_refuses_aliases_and_tag_deletion(
    steps: Any, sample_csv: Path, refusing_registry: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = MlflowClient()
    first = steps.pipeline("weak", sample_csv, reg_rate=1000)
    assert [s.rc for s in first] == [0, 0, 0]

    _, evaluated, registered = steps.pipeline("strong", sample_csv, reg_rate=0.01)

    assert evaluated.json("decision.json")["deploy"] is True
    assert registered.rc == 0
    info = registered.json("model_info.json")
    assert (info["registered"], info["version"]) == (True, "2")
    assert info["champion_after"]["version"] == "2"
    tagged = {str(v.version): v.tags.get("champion") for v in client.search_model_versions(f"name='{MODEL}'")}
    # v1 keeps a tag the registry would not let go; the newest tagged version is the champion
    assert tagged == {"1": "true", "2": "true"}
    assert "champion tag of version 1 not removed" in capsys.readouterr().err
