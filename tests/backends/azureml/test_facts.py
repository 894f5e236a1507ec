"""The facts file is a cache: unreadable means ask the workspace, writes are whole, size bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.backends.azureml import facts as facts_module
from app.backends.azureml.facts import FactsFile


def test_facts_survive_a_restart_and_a_bad_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "azureml" / "facts.json"
    FactsFile(path).put("component#code", "/subscriptions/s/codes/c/versions/1")

    assert FactsFile(path).get("component#code") == "/subscriptions/s/codes/c/versions/1"
    path.write_text("{not json")
    unreadable = FactsFile(path)
    assert unreadable.get("component#code") is None
    unreadable.put("other", "value")
    assert json.loads(path.read_text()) == {"other": "value"}
    assert [p.name for p in path.parent.iterdir()] == ["facts.json"]  # no temporary left behind


def test_the_oldest_facts_go_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(facts_module, "MAX_FACTS", 2)
    facts = FactsFile(tmp_path / "facts.json")
    for key in ("a", "b", "c"):
        facts.put(key, key.upper())

    assert json.loads((tmp_path / "facts.json").read_text()) == {"b": "B", "c": "C"}
