"""Which hosts a web push endpoint may name: the defence against SSRF through push.

A push subscription's endpoint is a URL that a browser hands us and that we later
POST to. Anyone holding a subscribe token can hand us any URL, so an endpoint is
accepted only when it is ``https`` on port 443 of a known push service, named by a
DNS name (never an IP literal, in any spelling), and that name resolves only to public
addresses. The built-in list holds the browsers' push services; ``push_services`` in
the channel settings adds more. The check runs when a subscription is stored and again
right before each connection (channels/webpush_guard.py), from the same resolution
the connection then uses, so a name that re-resolves to 127.0.0.1 later (DNS
rebinding) is refused too.

For development against a push service on this machine, ``unsafe_dev_push_services``
lists loopback origins that skip these rules; the settings refuse it unless
``DISPATCHER_UNSAFE_DEV_PUSH_SERVICES=1`` is also set, so a copied config cannot turn
it on by itself.

This module needs no HTTP library: the subscribe endpoint uses it on a web-only install.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# The push services of the browsers people use (a leading "*." matches any subdomain).
BUILT_IN_PUSH_SERVICES = (
    "fcm.googleapis.com",  # Chrome, Edge on Android, Opera, Brave, Samsung Internet
    "updates.push.services.mozilla.com",  # Firefox (Mozilla autopush)
    "*.push.apple.com",  # Safari (web.push.apple.com)
    "*.notify.windows.com",  # Edge on Windows (WNS)
)
UNSAFE_DEV_ENV = "DISPATCHER_UNSAFE_DEV_PUSH_SERVICES"

# A host name as DNS spells it: letters, digits, hyphens, dots; the last label has a
# letter (so "2130706433" or "127.1" is never a name).
_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+"
                   r"[a-z0-9-]{0,62}[a-z][a-z0-9-]{0,62}")
# What an endpoint's authority may hold: a name or an IPv6 literal, an optional port.
# No userinfo, no percent-escapes, no backslashes: nothing two parsers read differently.
_AUTHORITY = re.compile(r"([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
_LOOPBACK_HOSTS = ("127.0.0.1", "[::1]")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

# (host, port) -> the addresses it resolves to; socket.getaddrinfo unless injected.
Lookup = Callable[[str, int], Awaitable[list[str]]]


class PushEndpointRefused(ValueError):
    """An endpoint we will not connect to. ``address_invalid``: refused for what the
    URL says (it never can be sent to), rather than for what its name resolves to now.
    The message names the host, never the endpoint (a capability URL)."""

    def __init__(self, reason: str, address_invalid: bool = True) -> None:
        self.reason = reason
        self.address_invalid = address_invalid
        super().__init__(f"push endpoint refused: {reason}")


def is_public_address(text: str) -> bool:
    """True for a globally routable unicast address; loopback, private, link-local,
    shared (CGNAT), reserved, multicast, unspecified and documentation ranges are not.
    An IPv6 address that embeds an IPv4 one (mapped, 6to4, Teredo, NAT64) is judged by
    the IPv4 address too."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        candidates += [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
        if address.teredo is not None:
            candidates += list(address.teredo)
        if address in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(a.is_global and not (a.is_multicast or a.is_reserved or a.is_loopback
                                    or a.is_link_local or a.is_private or a.is_unspecified)
               for a in candidates)


def valid_service_pattern(pattern: str) -> bool:
    """A push service entry: a DNS name, or ``*.`` and a name (any subdomain of it)."""
    name = pattern.removeprefix("*.")
    return bool(_NAME.fullmatch(name)) and not name.endswith(".localhost")


def dev_origin(entry: str) -> tuple[str, str, str] | None:
    """``(scheme, host, port)`` of an ``unsafe_dev_push_services`` entry such as
    ``http://127.0.0.1:8123`` or ``http://127.0.0.1:*`` (any port); None when the entry
    is not a loopback origin with a port."""
    match = re.fullmatch(r"(https?)://(127\.0\.0\.1|\[::1\]):([0-9]{1,5}|\*)/?", entry.strip())
    return (match.group(1), match.group(2), match.group(3)) if match else None


@dataclass(frozen=True)
class PushHostPolicy:
    """Which endpoints may be stored and sent to (see the module docstring)."""

    extra_services: tuple[str, ...] = ()
    dev_origins: tuple[tuple[str, str, str], ...] = ()  # (scheme, host, port or "*")

    @classmethod
    def build(cls, extra_services: Iterable[str] = (),
              unsafe_dev_origins: Iterable[str] = ()) -> PushHostPolicy:
        origins = []
        for entry in unsafe_dev_origins:
            origin = dev_origin(entry)
            if origin is None:
                raise ValueError(f"not a loopback origin with a port: {entry!r}")
            origins.append(origin)
        return cls(tuple(s.lower() for s in extra_services), tuple(origins))

    @property
    def services(self) -> tuple[str, ...]:
        return BUILT_IN_PUSH_SERVICES + self.extra_services

    def is_dev_origin(self, scheme: str, host: str, port: str) -> bool:
        return any(scheme == s and host == h and p in ("*", port)
                   for s, h, p in self.dev_origins)

    def check_url(self, url: str) -> str | None:
        """The host name to resolve before connecting to ``url``, or None for an allowed
        loopback development origin (an IP literal: nothing to resolve).
        PushEndpointRefused otherwise."""
        parts = urlsplit(url)
        if not _AUTHORITY.fullmatch(parts.netloc):
            raise PushEndpointRefused("the endpoint's host part is not a plain host name")
        host, port = parts.netloc, ""
        if re.search(r":[0-9]+$", host):
            host, _, port = host.rpartition(":")
        return self.check(parts.scheme, host, port)

    def check(self, scheme: str, host: str, port: str) -> str | None:
        """``check_url`` for a URL already split (IPv6 hosts in brackets; port '' when
        the URL names none). The send path calls this with the HTTP client's own
        reading of each URL it is about to request, redirects included."""
        scheme, host = scheme.lower(), host.lower()
        if self.is_dev_origin(scheme, host, port):
            return None
        if scheme != "https":
            raise PushEndpointRefused("the endpoint must be an https URL")
        if port not in ("", "443"):
            raise PushEndpointRefused("push services listen on port 443 only")
        name = host.rstrip(".")
        if host.startswith("[") or _is_numeric_host(name):
            raise PushEndpointRefused("the endpoint must name a push service by its host "
                                      "name, not an IP address")
        if not _NAME.fullmatch(name):
            raise PushEndpointRefused(f"{name} is not a public host name")
        if not any(_matches(name, pattern) for pattern in self.services):
            raise PushEndpointRefused(f"{name} is not a known push service (add it to "
                                      f"channels.push.push_services if it is one)")
        return name


def _is_numeric_host(name: str) -> bool:
    """Any spelling a resolver may read as an IPv4 address: 2130706433, 0x7f.1, 127.1."""
    return all(re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", label) for label in name.split("."))


def _matches(name: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and len(name) > len(pattern) - 1
    return name == pattern


async def system_lookup(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, from the system resolver."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_public(host: str, port: int, lookup: Lookup) -> list[str]:
    """The addresses of ``host``, all of them public; PushEndpointRefused when any is
    not (one private answer is enough to refuse: a connection may use any of them).
    A failed lookup raises OSError: a temporary problem, not a refusal."""
    addresses = await lookup(host, port)
    if not addresses:
        raise OSError(f"{host} has no address")
    private = [a for a in addresses if not is_public_address(a)]
    if private:
        raise PushEndpointRefused(f"{host} resolves to a non-public address "
                                  f"({', '.join(private[:3])})", address_invalid=False)
    return addresses
