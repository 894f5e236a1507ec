"""The callback allowlist on its own: matching, address checks and connection pinning."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from app.domain.errors import InvalidInput
from app.security.egress import CallbackPolicy, CallbackRefused, Target

POLICY = CallbackPolicy(
    [
        "hooks.example.com",
        "hooks.example.com:8443",
        "*.ci.example.com",
        "10.20.0.0/16",
        "127.0.0.1",
        "[::1]:8080",
    ],
    allow_http=True,
)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("hooks.example.com", True),
        ("HOOKS.example.com.", True),
        ("a.ci.example.com", True),
        ("a.b.ci.example.com", True),
        ("ci.example.com", False),
        ("evilci.example.com", False),
        ("hooks.example.com.evil.net", False),
        ("10.20.3.4", True),
        ("10.21.0.1", False),
        ("127.0.0.1", True),
        ("127.0.0.2", False),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.99.0.1", False),
    ],
)
def test_host_matching(host: str, allowed: bool) -> None:
    assert POLICY.host_allowed(host) is allowed


def target(
    policy: CallbackPolicy, url: str, answers: list[str] | None = None, monkeypatch: Any = None
) -> Target:
    if answers is not None:

        async def fake_getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers
            ]

        monkeypatch.setattr(
            asyncio.BaseEventLoop, "getaddrinfo", lambda self, host, port, **kw: fake_getaddrinfo(host, port)
        )
    return asyncio.run(policy.target(url))


@pytest.mark.parametrize(
    ("answers", "kind"),
    [
        (["127.0.0.53"], "loopback"),
        (["10.0.0.8"], "private"),
        (["169.254.169.254"], "link-local"),
        (["93.184.215.14", "192.168.1.1"], "private"),  # one bad answer is enough
        (["::ffff:127.0.0.9"], "loopback"),
        (["fe80::1"], "link-local"),
        (["0.0.0.0"], "unspecified"),
    ],
)
def test_names_resolving_inward_are_refused(
    monkeypatch: pytest.MonkeyPatch, answers: list[str], kind: str
) -> None:
    with pytest.raises(CallbackRefused, match=kind) as refused:
        target(POLICY, "https://hooks.example.com/x", answers, monkeypatch)
    assert refused.value.permanent


def test_listed_addresses_and_public_ones_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = target(POLICY, "https://hooks.example.com:8443/x?y=1", ["93.184.215.14"], monkeypatch)
    assert str(pinned.url) == "https://93.184.215.14:8443/x?y=1"
    assert pinned.host_header == "hooks.example.com:8443"
    assert pinned.extensions == {"sni_hostname": "hooks.example.com"}  # TLS still checks the name
    internal = target(POLICY, "http://a.ci.example.com/x", ["10.20.1.1"], monkeypatch)
    assert internal.url.host == "10.20.1.1"
    assert internal.extensions == {}


def test_ip_literals_need_no_lookup() -> None:
    v6 = target(POLICY, "http://[::1]:8080/hook")
    assert v6.url.host == "::1"
    assert v6.url.port == 8080
    assert v6.host_header == "[::1]:8080"
    with pytest.raises(CallbackRefused, match="not on the callback allowlist"):
        target(POLICY, "http://127.0.0.2/hook")


def test_resolution_failures_are_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(*_: Any, **__: Any) -> Any:
        raise socket.gaierror("Name or service not known")

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", lambda self, *a, **k: fail())
    with pytest.raises(CallbackRefused) as refused:
        target(POLICY, "https://hooks.example.com/")
    assert not refused.value.permanent


def test_a_host_off_the_list_is_refused_at_send_time_too() -> None:
    # The allowlist may have shrunk since the run was submitted.
    with pytest.raises(CallbackRefused, match="allowlist"):
        target(CallbackPolicy(["other.example.com"]), "https://hooks.example.com/")


def test_submit_check_names_the_field() -> None:
    with pytest.raises(InvalidInput) as raised:
        POLICY.check_submitted("https://attacker.example.net/")
    assert raised.value.invalid[0][0] == "body.callback_url"
    POLICY.check_submitted("https://hooks.example.com/done")
    POLICY.check_submitted("not a url")  # left to the request schema


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.com/x", True),
        ("https://hooks.example.com:443/x", True),
        ("https://hooks.example.com:8443/x", True),
        ("https://hooks.example.com:22/x", False),
        ("http://hooks.example.com/x", True),  # port 80, the http default, with http allowed
        ("http://hooks.example.com:8443/x", True),
        ("https://a.ci.example.com:9000/x", False),
        ("http://10.20.1.1:6379/", False),
        ("http://[::1]:8080/", True),
        ("http://[::1]/", False),
    ],
)
def test_ports_are_pinned_by_the_entry_or_the_default(url: str, allowed: bool) -> None:
    parsed = httpx.URL(url)
    assert POLICY.allowed(parsed.scheme, parsed.host, parsed.port) is allowed


def test_plain_http_needs_to_be_allowed() -> None:
    strict = CallbackPolicy(["hooks.example.com"])
    with pytest.raises(InvalidInput, match="https") as raised:
        strict.check_submitted("http://hooks.example.com/done")
    assert raised.value.invalid == [("body.callback_url", "use https")]
    with pytest.raises(CallbackRefused, match="http"):
        target(strict, "http://hooks.example.com/done")
    strict.check_submitted("https://hooks.example.com/done")


def test_a_port_off_the_list_is_named() -> None:
    with pytest.raises(InvalidInput, match="port 6379") as raised:
        POLICY.check_submitted("https://hooks.example.com:6379/")
    assert raised.value.invalid[0][0] == "body.callback_url"
