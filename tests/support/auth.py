"""Credentials for tests: one API key per role (configured both as digests and in plain text),
and Entra-style RS256 tokens signed with a locally generated key."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

# One key per role. The admin key is configured in plain text, the others as digests, so
# both configuration forms are exercised by every auth test.
KEYS = {
    "reader": "reader-key-4f1c9a2e7b",
    "submitter": "submitter-key-93d0e1f6",
    "admin": "admin-key-5a7c2b8d9e0f",
}
TENANT = "11111111-2222-3333-4444-555555555555"
AUDIENCE = "api://trainctl-tests"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"
CALLBACK_SECRET = "callback-secret-for-tests-0123456789"


def api_keys_setting() -> SecretStr:
    digest = {role: hashlib.sha256(key.encode()).hexdigest() for role, key in KEYS.items()}
    return SecretStr(f"reader:{digest['reader']}, submitter:{digest['submitter']}, admin:{KEYS['admin']}")


def key_headers(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


@dataclass
class Signer:
    """An RSA key pair standing in for one of the tenant's signing keys."""

    kid: str
    key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str | None = None) -> Signer:
        return cls(kid or uuid.uuid4().hex, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**public, "kid": self.kid, "use": "sig"}

    def token(self, *, kid: str | None = None, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "azp": "caller-app",
            "tid": TENANT,
        }
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.key, algorithm=algorithm, headers={"kid": kid or self.kid})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entra_settings(jwks_url: str) -> dict[str, Any]:
    return {
        "auth_mode": "entra",
        "entra_tenant_id": TENANT,
        "entra_audience": AUDIENCE,
        "entra_jwks_url": jwks_url,
    }
