"""A token credential that never touches the network and issues real (unsigned-for-trust) JWTs.

azure-ai-ml decodes the https://ml.azure.com token of a pipeline submission and checks its
`aud`, so an opaque string is not enough.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import jwt
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

TENANT_ID = "00000000-0000-0000-0000-0000000000aa"
OBJECT_ID = "00000000-0000-0000-0000-0000000000bb"
_SIGNING_KEY = "fake-workspace-signing-key-0123456789abcdef"


class FakeCredential:
    """Counts calls, can be told to fail, and records every scope asked for."""

    def __init__(self, client_id: str = "11111111-2222-3333-4444-555555555555") -> None:
        self.client_id = client_id
        self.fail_with: str | None = None  # a message: every get_token raises
        self.fail_scopes: set[str] = set()  # scopes this identity gets no token for
        self.delay_seconds = 0.0
        self.scopes: list[str] = []
        self._lock = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        with self._lock:
            self.scopes.extend(scopes)
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self.fail_with is not None:
            raise ClientAuthenticationError(self.fail_with)
        if refused := self.fail_scopes.intersection(scopes):
            raise ClientAuthenticationError(f"AADSTS500011: no token for {', '.join(sorted(refused))}")
        audience = scopes[0].removesuffix("/.default") if scopes else "https://management.azure.com"
        expires = int(time.time()) + 3600
        claims = {
            "aud": audience,
            "tid": TENANT_ID,
            "oid": OBJECT_ID,
            "appid": self.client_id,
            "iss": f"https://sts.windows.net/{TENANT_ID}/",
            "exp": expires,
        }
        return AccessToken(jwt.encode(claims, _SIGNING_KEY, algorithm="HS256"), expires)

    def close(self) -> None:
        pass
