"""Refuse to serve an unauthenticated API on anything but the loopback interface."""

from __future__ import annotations

import ipaddress

from app.settings import Settings


class UnsafeBindingError(RuntimeError):
    """Raised before the server starts; the message tells the operator how to fix it."""


def is_loopback_host(host: str) -> bool:
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        # Any other name could resolve to a public interface; only literals are trusted.
        return False


def ensure_safe_binding(settings: Settings, host: str | None = None) -> None:
    """Raise UnsafeBindingError when auth is off and the service would listen beyond loopback.

    `host` is the address the server will bind (the CLI's --host); it defaults to
    settings.host. Call this before starting uvicorn.
    """
    bind = settings.host if host is None else host
    if settings.auth_mode == "none" and not is_loopback_host(bind):
        raise UnsafeBindingError(
            f"refusing to start: TRAINCTL_AUTH_MODE=none while binding to {bind!r} would let anyone "
            "who can reach this machine submit and cancel training runs. Bind to 127.0.0.1, or set "
            "TRAINCTL_AUTH_MODE=api-key (with TRAINCTL_API_KEYS) or TRAINCTL_AUTH_MODE=entra."
        )
