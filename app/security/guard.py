"""The FastAPI dependencies that authenticate a caller and check the route's role.

The scheme is chosen once, from TRAINCTL_AUTH_MODE, when the app is built: the dependency
then carries the matching FastAPI security object, so the OpenAPI document declares exactly
that scheme and Swagger UI offers its Authorize button.
"""

# No `from __future__ import annotations` here: the dependencies below close over their
# security scheme in Annotated metadata, which FastAPI must see evaluated.

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.domain.errors import Forbidden, Unauthorized
from app.security.apikeys import API_KEY_HEADER, ApiKeyRing
from app.security.entra import (
    EntraTokenValidator,
    JwksFetcher,
    TokenError,
    caller_name,
    fetch_jwks,
    roles_claim,
    validator_from_settings,
)
from app.security.roles import Principal, Role
from app.settings import Settings

LOCAL_CALLER = Principal(name="local", role=Role.ADMIN, via="none")
Dependency = Callable[..., Awaitable[Principal]]


class Authenticator(Protocol):
    via: str
    challenge: str  # the WWW-Authenticate value of a 401

    @property
    def credential(self) -> Callable[..., Any]:
        """A FastAPI dependency returning the raw credential or None; it declares the scheme."""
        ...

    async def authenticate(self, credential: str) -> Principal: ...


class ApiKeyAuthenticator:
    via = "api-key"
    challenge = f'APIKey realm="trainctl", header="{API_KEY_HEADER}"'

    def __init__(self, ring: ApiKeyRing) -> None:
        self.ring = ring
        self._header = APIKeyHeader(
            name=API_KEY_HEADER,
            scheme_name="ApiKey",
            description="An API key from TRAINCTL_API_KEYS; its role decides what it may call.",
            auto_error=False,
        )

    @property
    def credential(self) -> Callable[..., Any]:
        return self._header

    async def authenticate(self, credential: str) -> Principal:
        principal = self.ring.lookup(credential)
        if principal is None:
            raise Unauthorized(
                f"the {API_KEY_HEADER} header holds no valid key",
                challenge=self.challenge,
            )
        return principal


class EntraAuthenticator:
    via = "entra"
    challenge = 'Bearer realm="trainctl"'

    def __init__(self, validator: EntraTokenValidator) -> None:
        self.validator = validator
        bearer = HTTPBearer(
            bearerFormat="JWT",
            scheme_name="EntraID",
            description="A Microsoft Entra ID access token for this API; app roles reader, submitter, admin.",
            auto_error=False,
        )

        Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]

        async def token(credentials: Credentials) -> str | None:
            return credentials.credentials if credentials else None

        self._token = token

    @property
    def credential(self) -> Callable[..., Any]:
        return self._token

    async def authenticate(self, credential: str) -> Principal:
        try:
            claims = await self.validator.validate(credential)
        except TokenError as error:
            # The reason may quote the token's own header: keep the header value plain ASCII.
            reason = re.sub(r'[^\x20-\x7e]|["\\]', "?", str(error))[:200]
            challenge = f'{self.challenge}, error="invalid_token", error_description="{reason}"'
            raise Unauthorized(str(error), challenge=challenge) from None
        return Principal(name=caller_name(claims), role=Role.highest(roles_claim(claims)), via=self.via)


class Guard:
    """Builds one dependency per role; `None` authenticator means auth is off (loopback only)."""

    def __init__(self, authenticator: Authenticator | None) -> None:
        self.authenticator = authenticator

    def require(self, role: Role) -> Dependency:
        authenticator = self.authenticator
        if authenticator is None:

            async def local_caller(request: Request) -> Principal:
                request.state.principal = LOCAL_CALLER
                return LOCAL_CALLER

            return local_caller

        scheme = authenticator.credential

        async def check(request: Request, credential: Annotated[str | None, Security(scheme)]) -> Principal:
            if not credential:
                raise Unauthorized(
                    f"this endpoint needs credentials: {_how(authenticator)}",
                    challenge=authenticator.challenge,
                )
            principal = await authenticator.authenticate(credential)
            if principal.role is None or principal.role < role:
                has = f"the '{principal.role.label}' role" if principal.role else "no trainctl role"
                raise Forbidden(
                    f"{request.method} {request.url.path} needs the '{role.label}' role (or higher); "
                    f"the caller has {has}",
                    extra={"required_role": role.label},
                )
            request.state.principal = principal
            return principal

        return check


def _how(authenticator: Authenticator) -> str:
    if authenticator.via == "api-key":
        return f"send an API key in the {API_KEY_HEADER} header"
    return "send 'Authorization: Bearer <Entra ID access token>'"


def build_guard(settings: Settings, *, jwks_fetcher: JwksFetcher = fetch_jwks) -> Guard:
    """Raises SecurityConfigError when the chosen mode lacks its settings."""
    if settings.auth_mode == "api-key":
        return Guard(ApiKeyAuthenticator(ApiKeyRing.from_secret(settings.api_keys)))
    if settings.auth_mode == "entra":
        return Guard(EntraAuthenticator(validator_from_settings(settings, jwks_fetcher)))
    return Guard(None)
