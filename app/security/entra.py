"""Microsoft Entra ID bearer tokens: RS256 JWTs checked against the tenant's published keys.

The keys document (JWKS) is fetched once, cached, and fetched again when a token names a key
id the cache does not know (Entra rotates keys without notice), at most once per
`min_refetch_seconds` so random key ids cannot turn the service into a load generator.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from app.domain.errors import Unavailable
from app.security.apikeys import SecurityConfigError
from app.security.binding import is_loopback_host
from app.settings import Settings

log = logging.getLogger(__name__)

JwksFetcher = Callable[[str], Awaitable[Mapping[str, Any]]]
LOGIN = "https://login.microsoftonline.com"
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,127}")


class TokenError(Exception):
    """Why a token was refused; the message is safe to show to the caller."""


class KeysUnavailable(Unavailable):
    code, title = "auth-keys-unavailable", "Cannot validate tokens right now"


async def fetch_jwks(url: str) -> Mapping[str, Any]:
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        response = await client.get(url)
        response.raise_for_status()
        document: Mapping[str, Any] = response.json()
        return document


class JwksCache:
    def __init__(
        self,
        url: str,
        fetch: JwksFetcher = fetch_jwks,
        *,
        max_age_seconds: float = 24 * 3600,
        min_refetch_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._fetch = fetch
        self._max_age = max_age_seconds
        self._min_refetch = min_refetch_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        age = self._clock() - self._fetched_at
        stale = self._keys is None or age > self._max_age
        unknown = self._keys is not None and kid not in self._keys and age >= self._min_refetch
        if stale or unknown:
            await self._refresh(self._fetched_at)
        if not self._keys:
            raise KeysUnavailable(
                "the identity provider's signing keys could not be fetched; retry shortly",
                retry_after=30,
            )
        found = self._keys.get(kid)
        if found is None:
            raise TokenError(
                f"the token's signing key {kid[:64]!r} is not one of the tenant's published keys"
            )
        return found

    async def _refresh(self, seen: float) -> None:
        async with self._lock:
            if self._fetched_at != seen:  # another request refreshed while this one waited
                return
            try:
                keys = _parse(await self._fetch(self.url))
            except Exception as error:
                # Keep the keys we have (a rotation keeps old keys published for weeks) and
                # count the failure as a fetch, so an outage is not retried on every request.
                log.warning("could not fetch the token signing keys from %s: %s", self.url, error)
                keys = self._keys or {}
            self._keys, self._fetched_at = keys, self._clock()


def _parse(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for item in document.get("keys", []):
        if not isinstance(item, Mapping) or item.get("kty") != "RSA" or not isinstance(item.get("kid"), str):
            continue
        try:
            keys[item["kid"]] = jwt.PyJWK(dict(item), algorithm="RS256")
        except jwt.PyJWTError:
            continue  # one odd key must not take the others down
    if not keys:
        raise ValueError("the keys document holds no usable RSA key")
    return keys


class EntraTokenValidator:
    def __init__(
        self, keys: JwksCache, *, audiences: list[str], issuers: list[str], leeway_seconds: float = 60
    ) -> None:
        self.keys = keys
        self.audiences = audiences
        self.issuers = issuers
        self.leeway = leeway_seconds

    async def validate(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenError("the bearer token is not a JWT") from None
        # Pin the algorithm before touching the key: never let the token choose (alg=none, HS256).
        if header.get("alg") != "RS256":
            raise TokenError("the token must be signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("the token names no signing key (kid)")
        key = await self.keys.key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=["RS256"],
                audience=self.audiences,
                issuer=self.issuers,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError("the token was issued for another audience (aud)") from None
        except jwt.InvalidIssuerError:
            raise TokenError("the token was issued by another issuer (iss)") from None
        except jwt.InvalidSignatureError:
            raise TokenError("the token's signature does not verify") from None
        except jwt.PyJWTError as error:
            raise TokenError(f"the token is not valid: {error}") from None
        return claims


def roles_claim(claims: Mapping[str, Any]) -> list[str]:
    roles = claims.get("roles")
    return [r for r in roles if isinstance(r, str)] if isinstance(roles, list) else []


def caller_name(claims: Mapping[str, Any]) -> str:
    for claim in ("preferred_username", "azp", "appid", "oid", "sub"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value
    return "entra-caller"


def validator_from_settings(settings: Settings, fetch: JwksFetcher = fetch_jwks) -> EntraTokenValidator:
    tenant, audience = settings.entra_tenant_id, settings.entra_audience
    if not tenant or not audience:
        raise SecurityConfigError(
            "TRAINCTL_AUTH_MODE=entra needs TRAINCTL_ENTRA_TENANT_ID and TRAINCTL_ENTRA_AUDIENCE "
            "(the API's App ID URI, e.g. api://trainctl, and/or its client id)"
        )
    if not _TENANT.fullmatch(tenant):
        raise SecurityConfigError("TRAINCTL_ENTRA_TENANT_ID must be a tenant id (GUID) or domain name")
    url = settings.entra_jwks_url or f"{LOGIN}/{tenant}/discovery/v2.0/keys"
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(parts.hostname or "")):
        # Keys fetched in clear text could be swapped by anyone on the path.
        raise SecurityConfigError("TRAINCTL_ENTRA_JWKS_URL must use https (http only on loopback)")
    issuers = _split(settings.entra_issuer) or [
        f"{LOGIN}/{tenant}/v2.0",
        f"https://sts.windows.net/{tenant}/",
    ]
    return EntraTokenValidator(JwksCache(url, fetch), audiences=_split(audience), issuers=issuers)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]
