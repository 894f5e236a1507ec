"""Which callback URLs the service may call, checked at submit time and again before sending.

Entries of TRAINCTL_CALLBACK_ALLOWLIST are host names (`hooks.example.com`), wildcard
subdomains (`*.example.com`), IP addresses or CIDR ranges, each optionally with a port
(`hooks.example.com:8443`, `[::1]:9000`, `10.0.0.0/8:8080`, or `:*` for any port, an explicit
choice). An entry without a port allows only
the scheme's default port (443, or 80 where plain http is allowed at all: it is refused unless
TRAINCTL_CALLBACK_ALLOW_HTTP is set, since the signed body would travel in clear text).

A name that resolves to a
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
MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
ANY_PORT = -1


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


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host[:port]`, `[v6][:port]`, `cidr[:port]`; a bare IPv6 literal has no port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, _port(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, _port(port)
    return entry, None


def _port(text: str) -> int | None:
    if text == "*":
        return ANY_PORT
    return int(text) if text.isdigit() else None


class CallbackPolicy:
    def __init__(self, entries: list[str], *, allow_http: bool = False) -> None:
        self.allow_http = allow_http
        #: (name, port) pairs; port None means the scheme's default port.
        self.names: set[tuple[str, int | None]] = set()
        self.suffixes: list[tuple[str, int | None]] = []
        self.networks: list[tuple[IPNetwork, int | None]] = []
        for raw in entries:
            host, port = _split_port(raw.strip().lower())
            host = host.rstrip(".")
            if host.startswith("*."):
                self.suffixes.append((host[1:], port))
                continue
            try:
                self.networks.append((ipaddress.ip_network(host, strict=False), port))
            except ValueError:
                self.names.add((host, port))

    @property
    def enabled(self) -> bool:
        return bool(self.names or self.suffixes or self.networks)

    def _ports_for(self, host: str) -> set[int | None]:
        name = host.lower().rstrip(".")
        address = _ip(name)
        if address is not None:
            return {port for net, port in self.networks if address.version == net.version and address in net}
        ports = {port for listed, port in self.names if listed == name}
        return ports | {port for suffix, port in self.suffixes if name.endswith(suffix)}

    def host_allowed(self, host: str) -> bool:
        """The host is on the list (on some port)."""
        return bool(self._ports_for(host))

    def allowed(self, scheme: str, host: str, port: int | None) -> bool:
        """The host and port are on the list: a listed port, or the default port when the
        entry names none."""
        default = DEFAULT_PORTS.get(scheme)
        effective = port if port is not None else default
        return any(
            listed in (effective, ANY_PORT) or (listed is None and effective == default)
            for listed in self._ports_for(host)
        )

    def address_listed(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net for net, _ in self.networks)

    def scheme_allowed(self, scheme: str) -> bool:
        return scheme == "https" or (scheme == "http" and self.allow_http)

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
        if not self.scheme_allowed(parsed.scheme):
            raise InvalidInput(
                "callback_url must use https (plain http needs TRAINCTL_CALLBACK_ALLOW_HTTP=true)",
                invalid=[(FIELD, "use https")],
            )
        host = parsed.host or ""
        if not self.host_allowed(host):
            raise InvalidInput(
                f"callback host {host!r} is not on this service's allowlist (TRAINCTL_CALLBACK_ALLOWLIST)",
                invalid=[(FIELD, f"host {host!r} is not allowed")],
            )
        if not self.allowed(parsed.scheme, host, parsed.port):
            raise InvalidInput(
                f"port {parsed.port} of {host!r} is not on this service's allowlist "
                "(an entry without a port allows only the default port; list host:port)",
                invalid=[(FIELD, f"port {parsed.port} is not allowed")],
            )

    async def target(self, url: str) -> Target:
        """Check `url` as it stands now, resolve it, and pin the connection to a checked address."""
        parsed = httpx.URL(url)
        host = parsed.host
        if parsed.scheme not in ("http", "https") or not host:
            raise CallbackRefused(f"not an http(s) URL: {url[:200]!r}")
        if not self.scheme_allowed(parsed.scheme):
            raise CallbackRefused("plain http callbacks are not allowed (TRAINCTL_CALLBACK_ALLOW_HTTP)")
        if not self.allowed(parsed.scheme, host, parsed.port):
            raise CallbackRefused(f"host {host!r} (port {parsed.port}) is not on the callback allowlist")
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
