"""Caller authentication and roles, request limits and the callback egress policy."""

from app.security.apikeys import SecurityConfigError
from app.security.binding import UnsafeBindingError, ensure_safe_binding, is_loopback_host
from app.security.guard import Guard, build_guard
from app.security.roles import OPEN_PATHS, Principal, Role, required_role

__all__ = [
    "OPEN_PATHS",
    "Guard",
    "Principal",
    "Role",
    "SecurityConfigError",
    "UnsafeBindingError",
    "build_guard",
    "ensure_safe_binding",
    "is_loopback_host",
    "required_role",
]
