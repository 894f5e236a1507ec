"""Start-up checks: auth off only on loopback, API keys well-formed and never echoed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from app.main import create_app
from app.security import UnsafeBindingError, ensure_safe_binding, is_loopback_host
from app.security.apikeys import ApiKeyRing, SecurityConfigError
from app.security.roles import Role
from app.settings import Settings
from tests.support.auth import CALLBACK_SECRET, api_keys_setting


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "::1", "[::1]", "LOCALHOST."])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "trainctl.internal", "", "::ffff:0:0"]
)
def test_other_hosts(host: str) -> None:
    assert not is_loopback_host(host)


def test_no_auth_on_all_interfaces_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="0.0.0.0")
    with pytest.raises(UnsafeBindingError, match="TRAINCTL_AUTH_MODE=api-key"):
        ensure_safe_binding(settings)
    with pytest.raises(UnsafeBindingError, match="refusing to start"):
        create_app(settings)
    # The CLI passes its --host, which wins over the setting.
    with pytest.raises(UnsafeBindingError):
        ensure_safe_binding(Settings(data_dir=tmp_path), host="0.0.0.0")


def test_auth_on_all_interfaces_is_fine(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, host="0.0.0.0", auth_mode="api-key", api_keys=api_keys_setting())
    ensure_safe_binding(settings)
    create_app(settings)


def test_api_key_mode_needs_keys(tmp_path: Path) -> None:
    with pytest.raises(SecurityConfigError, match="TRAINCTL_API_KEYS"):
        create_app(Settings(data_dir=tmp_path, auth_mode="api-key"))


@pytest.mark.parametrize(
    ("configured", "message"),
    [
        ("owner:0123456789abcdef0123", "entry 1 must look like role:sha256hex"),
        ("reader-without-colon", "entry 1"),
        ("reader:" + "a" * 64 + ",admin:short-key", "entry 2: a key must have at least 16"),
    ],
)
def test_bad_key_entries_name_the_position_not_the_key(configured: str, message: str) -> None:
    with pytest.raises(SecurityConfigError) as raised:
        ApiKeyRing.from_secret(SecretStr(configured))
    assert message in str(raised.value)
    assert "short-key" not in str(raised.value)
    assert "0123456789abcdef0123" not in str(raised.value)


def test_keys_are_kept_as_digests_only() -> None:
    plain = "a-plain-text-key-123456"
    ring = ApiKeyRing.from_secret(SecretStr(f"submitter:{plain}"))
    assert plain.encode() not in repr(vars(ring)).encode()
    found = ring.lookup(plain)
    assert found is not None
    assert found.role is Role.SUBMITTER
    assert found.name == "api-key:" + hashlib.sha256(plain.encode()).hexdigest()[:8]
    assert ring.lookup(plain + "x") is None
    assert ring.lookup("") is None


def test_digest_entries_match_case_insensitively() -> None:
    key = "uppercase-digest-key-1"
    ring = ApiKeyRing.from_secret(SecretStr("admin:" + hashlib.sha256(key.encode()).hexdigest().upper()))
    found = ring.lookup(key)
    assert found is not None
    assert found.role is Role.ADMIN


def test_secrets_never_appear_in_settings_output(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        api_keys=SecretStr("admin:super-secret-key-value"),
        callback_secret=SecretStr(CALLBACK_SECRET),
    )
    assert "super-secret-key-value" not in repr(settings)
    assert CALLBACK_SECRET not in str(settings.model_dump())


def test_callbacks_need_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SecurityConfigError, match="TRAINCTL_CALLBACK_SECRET"):
        create_app(Settings(data_dir=tmp_path, callback_allowlist=["hooks.example.com"]))
    with pytest.raises(SecurityConfigError):
        create_app(
            Settings(
                data_dir=tmp_path,
                callback_allowlist=["hooks.example.com"],
                callback_secret=SecretStr("short"),
            )
        )


def test_allowlist_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRAINCTL_CALLBACK_ALLOWLIST", " hooks.example.com, *.ci.example.com ,10.0.0.0/8,")
    assert Settings(data_dir=tmp_path).callback_allowlist == [
        "hooks.example.com",
        "*.ci.example.com",
        "10.0.0.0/8",
    ]


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"TRAINCTL_AUTH_MODE": "bogus"}, ["TRAINCTL_AUTH_MODE='bogus'"]),
        (
            {"TRAINCTL_MAX_QUEUED_RUNS": "lots", "TRAINCTL_PORT": "-"},
            ["TRAINCTL_MAX_QUEUED_RUNS", "TRAINCTL_PORT"],
        ),
        ({"TRAINCTL_CALLBACK_MAX_ATTEMPTS": "99"}, ["TRAINCTL_CALLBACK_MAX_ATTEMPTS='99'"]),
    ],
)
def test_bad_settings_stop_the_service_with_one_line_each(
    tmp_path: Path, variables: dict[str, str], named: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINCTL_")}
    env.update(variables, TRAINCTL_DATA_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == len(named), done.stderr
    for variable in named:
        assert any(line.startswith(f"trainctl: invalid setting {variable}") for line in lines), done.stderr
    assert "Traceback" not in done.stderr
