"""Who may call what: the three roles, the caller they describe, and the route policy.

Reads need `reader`; the writes a submitting system needs are listed in SUBMITTER_ROUTES;
any other write needs `admin`, so a new endpoint is closed until someone decides otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    # Ordered: a higher role may do everything a lower one may.
    READER = 1
    SUBMITTER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role | None:
        return cls.__members__.get(value.strip().upper())

    @classmethod
    def highest(cls, values: Iterable[str]) -> Role | None:
        roles = [r for r in (cls.parse(v) for v in values) if r is not None]
        return max(roles) if roles else None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; `role` is None when the credential carries no trainctl role."""

    name: str
    role: Role | None
    via: str  # "none", "api-key" or "entra"


# Never behind auth: probes, the API description and scraping (metrics are aggregate counts).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

SUBMITTER_ROUTES = frozenset(
    {
        ("POST", "/v1/training-runs"),
        ("POST", "/v1/training-runs/{run_id}/cancel"),
        ("POST", "/v1/data-assets"),
    }
)


def required_role(methods: Iterable[str], path: str) -> Role:
    """The least role that may call `path` with every one of `methods`."""
    needed = Role.READER
    for method in methods:
        if method.upper() in SAFE_METHODS:
            continue
        needed = max(needed, Role.SUBMITTER if (method.upper(), path) in SUBMITTER_ROUTES else Role.ADMIN)
    return needed
