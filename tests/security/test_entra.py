"""Entra ID bearer tokens: signed locally, keys served from a loopback JWKS endpoint."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from app.api.errors import status_of
from app.domain.errors import Unavailable
from app.security.apikeys import SecurityConfigError
from app.security.entra import EntraTokenValidator, JwksCache, TokenError, validator_from_settings
from app.settings import Settings
from tests.support.auth import AUDIENCE, ISSUER, TENANT, Signer, bearer, entra_settings
from tests.support.fakebackend import AppFactory, build
from tests.support.http import Receiver

RUNS = "/v1/training-runs"


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, module_receiver: Receiver, signer: Signer
) -> Iterator[TestClient]:
    module_receiver.documents["/keys"] = {"keys": [signer.jwk()]}
    built = build(tmp_path_factory.mktemp("entra"), **entra_settings(f"{module_receiver.url}/keys"))
    with TestClient(built.app) as found:
        yield found


def refused(client: TestClient, token: str, reason: str) -> None:
    response = client.get(RUNS, headers=bearer(token))
    assert response.status_code == 401, response.text
    assert reason in response.json()["detail"]
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge


def test_valid_reader_token(client: TestClient, signer: Signer) -> None:
    assert client.get(RUNS, headers=bearer(signer.token(roles=["reader"]))).status_code == 200


def test_v1_issuer_is_accepted_by_default(client: TestClient, signer: Signer) -> None:
    token = signer.token(roles=["reader"], iss=f"https://sts.windows.net/{TENANT}/")
    assert client.get(RUNS, headers=bearer(token)).status_code == 200


def test_expired(client: TestClient, signer: Signer) -> None:
    past = int(time.time()) - 3600
    refused(client, signer.token(roles=["admin"], iat=past - 600, nbf=past - 600, exp=past), "expired")


def test_wrong_audience(client: TestClient, signer: Signer) -> None:
    refused(client, signer.token(roles=["admin"], aud="api://some-other-api"), "audience")


def test_wrong_issuer(client: TestClient, signer: Signer) -> None:
    other = "https://login.microsoftonline.com/99999999-0000-0000-0000-000000000000/v2.0"
    refused(client, signer.token(roles=["admin"], iss=other), "issuer")


def test_wrong_key_with_the_tenant_key_id(client: TestClient, impostor: Signer) -> None:
    refused(client, impostor.token(roles=["admin"]), "signature")


def test_unknown_key_id(client: TestClient) -> None:
    stranger = Signer.generate("not-published")
    refused(client, stranger.token(roles=["admin"]), "not one of the tenant's published keys")


def test_missing_claims(client: TestClient, signer: Signer) -> None:
    refused(client, signer.token(roles=["admin"], exp=None), "exp")
    refused(client, signer.token(roles=["admin"], aud=None), "aud")


def test_missing_role_is_forbidden(client: TestClient, signer: Signer) -> None:
    response = client.get(RUNS, headers=bearer(signer.token(roles=None)))
    assert response.status_code == 403
    assert response.json()["required_role"] == "reader"
    unknown = client.get(RUNS, headers=bearer(signer.token(roles=["Task.Write", "owner"])))
    assert unknown.status_code == 403


def test_reader_cannot_submit(client: TestClient, signer: Signer) -> None:
    response = client.post(RUNS, json={"kind": "job"}, headers=bearer(signer.token(roles=["reader"])))
    assert response.status_code == 403
    assert "'submitter' role" in response.json()["detail"]
    ok = client.post(RUNS, json={"kind": "job"}, headers=bearer(signer.token(roles=["reader", "submitter"])))
    assert ok.status_code == 202


def test_algorithm_confusion_is_refused(client: TestClient, signer: Signer) -> None:
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "roles": ["admin"]},
        key=None,  # type: ignore[arg-type]  # alg=none takes no key
        algorithm="none",
        headers={"kid": signer.kid},
    )
    refused(client, unsigned, "RS256")
    # HS256 keyed with the public key: the classic confusion attack.
    public_pem = signer.jwk()["n"]
    forged = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "roles": ["admin"]},
        key=public_pem.encode() * 2,
        algorithm="HS256",
        headers={"kid": signer.kid},
    )
    refused(client, forged, "RS256")


def test_garbage_and_other_schemes(client: TestClient) -> None:
    refused(client, "not.a.jwt", "not a JWT")
    basic = client.get(RUNS, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert basic.status_code == 401


def test_keys_are_fetched_once_and_cached(
    client: TestClient, module_receiver: Receiver, signer: Signer
) -> None:
    for _ in range(5):
        assert client.get(RUNS, headers=bearer(signer.token(roles=["reader"]))).status_code == 200
    assert module_receiver.gets.count("/keys") == 1


def test_unreachable_keys_are_a_503_not_a_401(make_app: AppFactory, signer: Signer) -> None:
    settings = entra_settings("http://127.0.0.1:9/keys")  # discard port: nothing listens
    with TestClient(make_app(**settings).app) as client:
        response = client.get(RUNS, headers=bearer(signer.token(roles=["reader"])))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]


# -- the key cache on its own, with an injected fetcher and clock --------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache_with(
    documents: list[Mapping[str, Any] | Exception], clock: Clock, **kwargs: Any
) -> tuple[JwksCache, list[str]]:
    calls: list[str] = []

    async def fetch(url: str) -> Mapping[str, Any]:
        calls.append(url)
        item = documents[min(len(calls), len(documents)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return JwksCache("https://keys.invalid/keys", fetch, clock=clock, **kwargs), calls


def test_rotation_refetches_on_an_unknown_key_id(signer: Signer) -> None:
    rotated = Signer.generate("tenant-key-2")
    clock = Clock()
    cache, calls = cache_with([{"keys": [signer.jwk()]}, {"keys": [signer.jwk(), rotated.jwk()]}], clock)
    validator = EntraTokenValidator(cache, audiences=[AUDIENCE], issuers=[ISSUER])

    asyncio.run(validator.validate(signer.token()))
    with pytest.raises(TokenError):  # too soon after the last fetch: no refetch storm
        asyncio.run(validator.validate(rotated.token()))
    assert len(calls) == 1
    clock.now += 61
    claims = asyncio.run(validator.validate(rotated.token(roles=["admin"])))
    assert claims["roles"] == ["admin"]
    assert len(calls) == 2


def test_fetch_failure_keeps_the_known_keys(signer: Signer) -> None:
    clock = Clock()
    cache, calls = cache_with([{"keys": [signer.jwk()]}, OSError("down")], clock, max_age_seconds=10)
    validator = EntraTokenValidator(cache, audiences=[AUDIENCE], issuers=[ISSUER])
    asyncio.run(validator.validate(signer.token()))
    clock.now += 11  # stale: refetch fails, the cached key still serves
    asyncio.run(validator.validate(signer.token()))
    assert len(calls) == 2


def test_no_keys_at_all_is_unavailable(signer: Signer) -> None:
    cache, _ = cache_with([OSError("down")], Clock())
    validator = EntraTokenValidator(cache, audiences=[AUDIENCE], issuers=[ISSUER])
    with pytest.raises(Unavailable) as raised:
        asyncio.run(validator.validate(signer.token()))
    assert status_of(raised.value) == 503


def test_settings_are_checked(tmp_path: Any) -> None:
    with pytest.raises(SecurityConfigError, match="TRAINCTL_ENTRA_TENANT_ID"):
        validator_from_settings(Settings(auth_mode="entra", data_dir=tmp_path))
    with pytest.raises(SecurityConfigError, match="https"):
        validator_from_settings(
            Settings(
                auth_mode="entra",
                entra_tenant_id=TENANT,
                entra_audience=AUDIENCE,
                entra_jwks_url="http://keys.example.com/keys",
                data_dir=tmp_path,
            )
        )
    defaults = validator_from_settings(
        Settings(
            auth_mode="entra",
            entra_tenant_id=TENANT,
            entra_audience=f"{AUDIENCE}, client-id",
            data_dir=tmp_path,
        )
    )
    assert defaults.keys.url == f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys"
    assert defaults.issuers == [ISSUER, f"https://sts.windows.net/{TENANT}/"]
    assert defaults.audiences == [AUDIENCE, "client-id"]


@pytest.mark.parametrize("kid", ["ключ-🔑", 'a"b\\c', "x" * 5000, "line\r\nX-Injected: 1"])
def test_hostile_key_ids_get_a_clean_401(client: TestClient, kid: str) -> None:
    stranger = Signer.generate(kid)
    response = client.get(RUNS, headers=bearer(stranger.token(roles=["admin"])))
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.isascii()
    assert "\n" not in challenge
    assert len(challenge) < 400
    assert "x-injected" not in response.headers
