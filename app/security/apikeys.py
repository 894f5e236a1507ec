"""API keys from configuration: kept only as SHA-256 digests, matched in constant time.

TRAINCTL_API_KEYS is a comma-separated list of `role:credential` entries. The credential is
the key's SHA-256 digest as 64 hex digits (preferred: the configuration then holds nothing a
caller could replay) or the key itself, which is hashed at start-up and never kept.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass

from pydantic import SecretStr

from app.security.roles import Principal, Role

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
MIN_PLAIN_KEY_LENGTH = 16
_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


class SecurityConfigError(ValueError):
    """The security settings are unusable; raised at start-up, never at request time."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Entry:
    role: Role
    digest: bytes


class ApiKeyRing:
    def __init__(self, entries: list[_Entry]) -> None:
        if not entries:
            raise SecurityConfigError("TRAINCTL_AUTH_MODE=api-key needs a key in TRAINCTL_API_KEYS")
        self._entries = entries

    @classmethod
    def from_secret(cls, configured: SecretStr | None) -> ApiKeyRing:
        raw = configured.get_secret_value() if configured is not None else ""
        entries: list[_Entry] = []
        plain = 0
        for position, item in enumerate((p.strip() for p in raw.split(",")), start=1):
            if not item:
                continue
            role_name, sep, credential = item.partition(":")
            role = Role.parse(role_name)
            # Error messages name the entry's position, never its content: it may be a key.
            if not sep or role is None:
                raise SecurityConfigError(
                    f"TRAINCTL_API_KEYS entry {position} must look like role:sha256hex with role "
                    "reader, submitter or admin"
                )
            credential = credential.strip()
            if _DIGEST.fullmatch(credential):
                entries.append(_Entry(role, credential.lower().encode()))
                continue
            if len(credential) < MIN_PLAIN_KEY_LENGTH:
                raise SecurityConfigError(
                    f"TRAINCTL_API_KEYS entry {position}: a key must have at least "
                    f"{MIN_PLAIN_KEY_LENGTH} characters (or give its SHA-256 digest)"
                )
            plain += 1
            entries.append(_Entry(role, digest(credential).encode()))
        if plain:
            log.warning(
                "%d API key(s) configured in plain text; configure their SHA-256 digests instead "
                "(see docs/security.md)",
                plain,
            )
        return cls(entries)

    @staticmethod
    def fingerprint(presented: str) -> str:
        """What a dashboard session remembers of the key it was opened with: part of its
        digest, never the key (and never enough of the digest to stand in for it)."""
        return digest(presented)[:16]

    def by_fingerprint(self, fingerprint: str) -> Principal | None:
        """The caller whose key has this fingerprint, if that key is still configured (so
        removing a key also ends the sessions opened with it)."""
        wanted = fingerprint.encode()
        found: _Entry | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest[:16], wanted) and found is None:
                found = entry
        if found is None:
            return None
        return Principal(name=f"api-key:{found.digest[:8].decode()}", role=found.role, via="api-key")

    def lookup(self, presented: str) -> Principal | None:
        candidate = digest(presented).encode()
        found: _Entry | None = None
        # Compare against every entry, without stopping at a match, so the time taken does
        # not tell a caller how many keys exist or where theirs sits.
        for entry in self._entries:
            if hmac.compare_digest(candidate, entry.digest) and found is None:
                found = entry
        if found is None:
            return None
        # A short digest prefix identifies the key in logs without revealing it.
        return Principal(name=f"api-key:{found.digest[:8].decode()}", role=found.role, via="api-key")
