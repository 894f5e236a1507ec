"""Which callback URLs the service may call, checked at submit time and again before sending.

Entries of TRAINCTL_CALLBACK_ALLOWLIST are host names (`hooks.example.com`), wildcard
subdomains (`*.example.com`), IP addresses or CIDR ranges. A name that resolves to a
loopback, private, link-local or otherwise non-public address is refused unless that address
is itself on the list, so a DNS answer cannot steer the service at internal systems; the
connection then goes to the very address that was checked (no second lookup to rebind).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import AnyHttpUrl, ValidationError

from app.domain.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FIELD = "body.callback_url"


class CallbackRefused(Exception):
    """The URL may not be called; `permanent` is False when a retry might succeed (DNS down)."""

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class Target:
    """Where to send: the URL with its host replaced by the checked address."""

    url: httpx.URL
    host_header: str
    extensions: dict[str, Any]


def _ip(host: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    # ::ffff:127.0.0.1 is 127.0.0.1 to the kernel; judge it as such.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


class CallbackPolicy:
    def __init__(self, entries: list[str]) -> None:
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower().rstrip(".")
            if entry.startswith("*."):
                self.suffixes.append(entry[1:])
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.names.add(entry)

    @property
    def enabled(self) -> bool:
        return bool(self.names or self.suffixes or self.networks)

    def host_allowed(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        address = _ip(name)
        if address is not None:
            return self.address_listed(address)
        return name in self.names or any(name.endswith(s) for s in self.suffixes)

    def address_listed(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)

    def check_submitted(self, url: str) -> None:
        """Raise a 422 naming body.callback_url unless `url` may be called at all."""
        try:
            parsed = AnyHttpUrl(url)
        except ValidationError:
            return  # not a URL: the request schema reports that itself
        if not self.enabled:
            raise InvalidInput(
                "completion callbacks are disabled on this service (TRAINCTL_CALLBACK_ALLOWLIST is empty)",
                invalid=[(FIELD, "callbacks are disabled")],
            )
        if parsed.username or parsed.password:
            # The URL is shown to every reader of the run; the signature authenticates trainctl.
            raise InvalidInput(
                "callback_url must not carry user:password", invalid=[(FIELD, "remove the user info")]
            )
        host = parsed.host or ""
        if not self.host_allowed(host):
            raise InvalidInput(
                f"callback host {host!r} is not on this service's allowlist (TRAINCTL_CALLBACK_ALLOWLIST)",
                invalid=[(FIELD, f"host {host!r} is not allowed")],
            )

    async def target(self, url: str) -> Target:
        """Check `url` as it stands now, resolve it, and pin the connection to a checked address."""
        parsed = httpx.URL(url)
        host = parsed.host
        if parsed.scheme not in ("http", "https") or not host:
            raise CallbackRefused(f"not an http(s) URL: {url!r}")
        if not self.host_allowed(host):
            raise CallbackRefused(f"host {host!r} is not on the callback allowlist")
        addresses = await self._resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))
        for address in addresses:
            # Every answer must pass: the resolver's order is not ours to trust.
            if not (self.address_listed(address) or (address.is_global and not address.is_multicast)):
                raise CallbackRefused(
                    f"{host!r} resolves to {address}, a {_kind(address)} address that is not on the "
                    "callback allowlist"
                )
        pinned = addresses[0]
        netloc = parsed.netloc.decode("ascii")
        extensions = {"sni_hostname": host} if parsed.scheme == "https" and _ip(host) is None else {}
        return Target(parsed.copy_with(host=str(pinned)), netloc, extensions)

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        literal = _ip(host)
        if literal is not None:
            return [literal]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise CallbackRefused(f"cannot resolve {host!r}: {error}", permanent=False) from None
        found: list[IPAddress] = []
        for info in infos:
            address = _ip(str(info[4][0]).split("%")[0])  # drop an IPv6 zone id
            if address is not None and address not in found:
                found.append(address)
        if not found:
            raise CallbackRefused(f"{host!r} resolves to no address", permanent=False)
        return found


def _kind(address: IPAddress) -> str:
    # Most specific first: loopback and link-local ranges also count as "private".
    for kind in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}", False):
            return kind.replace("_", "-")
    return "non-public"
