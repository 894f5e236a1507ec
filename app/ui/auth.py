"""Who is looking at the dashboard, and the forms' protection against cross-site requests.

- `none`: everyone is the local admin (the service only listens on loopback then).
- `api-key`: a sign-in form takes the key once and sets a signed, HttpOnly, SameSite=Strict
  session cookie holding the key's fingerprint and an expiry, never the key; each request
  looks the fingerprint up among the configured keys, so removing a key ends its sessions and
  a changed role applies at once. An `X-API-Key` header works too (scripts).
- `entra`: each request carries `Authorization: Bearer <token>` (put an authenticating proxy
  in front of the dashboard; see docs/security.md).

Forms carry a token derived from a random per-browser value kept in its own SameSite=Strict
cookie (double submit, signed): a cross-site form has neither the cookie nor the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response

from app.domain.errors import Unauthorized
from app.security import Principal
from app.security.apikeys import ApiKeyRing
from app.security.guard import LOCAL_CALLER, ApiKeyAuthenticator, Guard
from app.settings import Settings

SESSION_COOKIE = "trainctl_session"
CSRF_COOKIE = "trainctl_csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Viewer:
    """The dashboard's caller: who, and whether a sign-in would help (api-key mode)."""

    principal: Principal | None
    can_sign_in: bool


class UiAuth:
    def __init__(self, settings: Settings, guard: Guard) -> None:
        self.mode = settings.auth_mode
        self.guard = guard
        secret = settings.ui_session_secret
        # Without a configured secret, sessions and form tokens last as long as this process.
        self._key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
        self.session_seconds = int(settings.ui_session_hours * 3600)

    # -- signing ------------------------------------------------------------------------------

    def _sign(self, payload: bytes) -> str:
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return _b64(payload) + "." + _b64(mac)

    def _verify(self, token: str) -> bytes | None:
        body, _, mac = token.partition(".")
        try:
            payload, given = _unb64(body), _unb64(mac)
        except ValueError:
            return None
        expected = hmac.new(self._key, payload, hashlib.sha256).digest()
        return payload if hmac.compare_digest(given, expected) else None

    # -- who is calling -----------------------------------------------------------------------

    @property
    def _ring(self) -> ApiKeyRing | None:
        authenticator = self.guard.authenticator
        return authenticator.ring if isinstance(authenticator, ApiKeyAuthenticator) else None

    async def viewer(self, request: Request) -> Viewer:
        if self.guard.authenticator is None:
            return Viewer(LOCAL_CALLER, can_sign_in=False)
        principal: Principal | None = None
        ring = self._ring
        if ring is not None:
            principal = self._from_session(request.cookies.get(SESSION_COOKIE, ""), ring)
            if principal is None and request.headers.get("x-api-key"):
                principal = await self._authenticate(request.headers["x-api-key"])
        else:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token:
                principal = await self._authenticate(token.strip())
        return Viewer(principal, can_sign_in=ring is not None)

    async def _authenticate(self, credential: str) -> Principal | None:
        assert self.guard.authenticator is not None
        try:
            return await self.guard.authenticator.authenticate(credential)
        except Unauthorized:
            return None

    def _from_session(self, cookie: str, ring: ApiKeyRing) -> Principal | None:
        payload = self._verify(cookie) if cookie else None
        if payload is None:
            return None
        try:
            session = json.loads(payload)
            fingerprint, expires = str(session["k"]), float(session["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < time.time():
            return None
        return ring.by_fingerprint(fingerprint)

    async def sign_in(self, key: str, response: Response, *, secure: bool) -> Principal | None:
        """Check `key`; when it is valid, set the session cookie on `response`."""
        ring = self._ring
        principal = ring.lookup(key) if ring is not None else None
        if principal is None or ring is None:
            return None
        session = {"k": ring.fingerprint(key), "e": time.time() + self.session_seconds}
        response.set_cookie(
            SESSION_COOKIE,
            self._sign(json.dumps(session, separators=(",", ":")).encode()),
            max_age=self.session_seconds,
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/ui",
        )
        return principal

    @staticmethod
    def sign_out(response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/ui", httponly=True, samesite="strict")

    # -- forms ----------------------------------------------------------------------------------

    def csrf_token(self, request: Request, response: Response | None = None) -> str:
        """The token this browser's forms carry; sets its cookie on `response` when new."""
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if len(nonce) != 32 or not nonce.isalnum():
            nonce = secrets.token_hex(16)
            request.state.new_csrf_nonce = nonce
        if response is not None and getattr(request.state, "new_csrf_nonce", None) == nonce:
            self.set_csrf_cookie(response, nonce, secure=request.url.scheme == "https")
        return self._sign(nonce.encode())

    @staticmethod
    def set_csrf_cookie(response: Response, nonce: str, *, secure: bool) -> None:
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=secure, path="/ui")

    def form_is_genuine(self, request: Request, token: str | None) -> bool:
        """The form came from one of our pages in this browser: same origin (when the browser
        says), its cookie present, and the token signed for that cookie."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            return False
        nonce = request.cookies.get(CSRF_COOKIE, "")
        payload = self._verify(token or "")
        return bool(nonce) and payload is not None and hmac.compare_digest(payload, nonce.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as error:
        raise ValueError("not base64") from error
