"""Where webhooks may go: the callback URL rules, the public-address check, a connection pinned to it.

A callback URL is chosen by a caller, and the delivery worker posts to it from inside our network:
without a check a subscriber could make us call the cloud metadata endpoint, a service's own port
or anything on a private network, and read what answered from ``lastError`` (issue 14). So:

- the URL is ``https`` (``http`` too outside production), with a host, no credentials, no
  fragment, no whitespace or control characters, and an IP address only in its ordinary form;
- its host must resolve, and **every** address it resolves to must be public (:func:`is_public`),
  unless the host or the address is on the development allow-list (``webhook_allowed_hosts``);
- the check runs when the subscription is created (a 400) and again for every connection the
  worker opens: :class:`PinnedBackend` resolves, checks and connects to the checked address in one
  step, so a name that is re-pointed at an internal address after the subscription was made
  (DNS rebinding) is refused, and there is no window between check and connect. TLS still
  verifies the certificate against the URL's host name (SNI), and the Host header is the URL's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from lmx_common.events.settings import EventSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it resolves to (strings as getaddrinfo gives them)
Resolver = Callable[[str, int], Awaitable[list[str]]]

RESOLVE_TIMEOUT_SECONDS = 5.0
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is in the last 32 bits
# Numbers that resolvers read as IPv4 in odd forms: 2130706433, 0x7f000001, 0177.0.0.1, 127.1
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)

NOT_PUBLIC = "Must be a host on the public internet: it must resolve, and only to public addresses."


class AddressNotAllowed(Exception):
    """The callback host does not resolve, or resolves to an address that is not public."""


async def system_resolver(host: str, port: int) -> list[str]:
    """getaddrinfo on the event loop's executor (never blocks the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64) that could be reached."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(ip: IPAddress) -> bool:
    """A global unicast address: not loopback, link-local, private, shared (CGNAT), multicast,
    unspecified, reserved or documentation; for IPv6 also not one carrying such an IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        if any(not is_public(v4) for v4 in _embedded_ipv4(ip)):
            return False
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 address itself
            return True
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_reserved or ip.is_unspecified
    )


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True)
class CallbackPolicy:
    """The rules for one service's callback URLs (from its :class:`EventSettings`)."""

    require_https: bool = False
    allowed_names: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default=system_resolver, compare=False)
    resolve_timeout: float = RESOLVE_TIMEOUT_SECONDS

    @classmethod
    def from_settings(
        cls, settings: EventSettings, *, require_https: bool = False, resolver: Resolver | None = None
    ) -> CallbackPolicy:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in settings.webhook_allowed_hosts:
            value = entry.strip().lower().strip("[]").rstrip(".")
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
            except ValueError:
                names.add(value)
        production = getattr(settings, "environment", None) == "production"
        return cls(
            require_https=require_https or settings.webhook_require_https or production,
            allowed_names=frozenset(names),
            allowed_networks=tuple(networks),
            resolver=resolver or system_resolver,
        )

    def form_problem(self, url: str) -> str | None:
        """What is wrong with the URL's form (no resolving), or None."""
        if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
            return "Must not contain spaces, line breaks or control characters."
        allowed = ("https",) if self.require_https else ("https", "http")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return f"Must be an absolute {' or '.join(allowed)} URL."
        if parts.scheme not in allowed or not parts.hostname:
            return f"Must be an absolute {' or '.join(allowed)} URL."
        if "@" in parts.netloc or parts.fragment:
            return "Must not carry credentials or a fragment."
        if port == 0:
            return "Must not name port 0."
        host = parts.hostname
        if _literal(host) is None and _NUMERIC_HOST.match(host):
            return "Write an IP address in its ordinary form (dotted decimal, or IPv6 in brackets)."
        return None

    def _allowed(self, host: str, ip: IPAddress) -> bool:
        if is_public(ip) or host in self.allowed_names:
            return True
        plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        return any(plain in network or ip in network for network in self.allowed_networks)

    async def addresses(self, host: str, port: int, within: float | None = None) -> list[IPAddress]:
        """The addresses to connect to for ``host``; every one it resolves to must be allowed.

        Raises :class:`AddressNotAllowed` otherwise, and when the host does not resolve.
        """
        host = host.lower().strip("[]").rstrip(".")
        literal = _literal(host)
        if literal is not None:
            found = [literal]
        else:
            try:
                limit = min(within, self.resolve_timeout) if within else self.resolve_timeout
                answers = await asyncio.wait_for(self.resolver(host, port), limit)
                found = [ipaddress.ip_address(a) for a in answers]
            except (OSError, TimeoutError, UnicodeError, ValueError) as exc:
                raise AddressNotAllowed(f"{host} does not resolve") from exc
        if not found:
            raise AddressNotAllowed(f"{host} does not resolve")
        refused = [ip for ip in found if not self._allowed(host, ip)]
        if refused:
            raise AddressNotAllowed(f"{host} resolves to non-public {', '.join(map(str, refused))}")
        return found

    async def problem(self, url: str) -> str | None:
        """What is wrong with a callback URL (form, then where its host resolves), or None."""
        form = self.form_problem(url)
        if form is not None:
            return form
        parts = urlsplit(url)
        assert parts.hostname is not None
        try:
            await self.addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        except AddressNotAllowed:
            return NOT_PUBLIC  # the same words whether unresolvable or internal: no DNS oracle
        return None


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host itself, then connects to a checked address (never re-resolves)."""

    def __init__(self, policy: CallbackPolicy, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.policy.addresses(host, port, timeout)
        error: Exception | None = None
        for ip in addresses:
            try:
                return await self.inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressNotAllowed("unix sockets are not callback addresses")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def webhook_client(policy: CallbackPolicy) -> httpx.AsyncClient:
    """The delivery worker's HTTP client: connections pinned to checked addresses, no redirects,
    and no proxy from the environment (a proxy would connect wherever it is told)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    limits = httpx.Limits()
    # httpx has no public way to choose httpcore's network backend, so its pool is replaced by
    # an equal one (TLS verification as httpx's default, its default limits) with ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=PinnedBackend(policy),
    )
    return httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
