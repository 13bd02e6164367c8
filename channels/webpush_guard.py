"""The send-time half of the push endpoint check (channels/webpush_hosts.py), in aiohttp.

Two pieces, both installed on the channel's one ``ClientSession``:

- ``PublicOnlyResolver`` is the connector's resolver: it resolves a push service's
  name, refuses the connection if any address is not public, and hands aiohttp exactly
  the addresses it checked. aiohttp connects to those addresses and resolves nothing
  itself, so the connection is pinned to what was checked: a DNS answer that changes
  between check and connect (rebinding) cannot slip in. aiohttp caches the checked
  answers for the session's DNS TTL; a failed check is never cached.
- ``endpoint_guard`` is a client middleware: aiohttp calls it for every request,
  including each redirect it follows, and it applies the URL rules (https, port 443, a
  listed push service, no IP literal). An IP literal never reaches the resolver in
  aiohttp, so this is what refuses ``https://10.0.0.5/`` and a redirect to it.
"""

from __future__ import annotations

import socket
from typing import Any

from aiohttp import ClientRequest, ClientResponse
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_middlewares import ClientHandlerType, ClientMiddlewareType

from channels.webpush_hosts import Lookup, PushHostPolicy, resolve_public, system_lookup


class PublicOnlyResolver(AbstractResolver):
    def __init__(self, lookup: Lookup | None = None) -> None:
        self._lookup = lookup or system_lookup

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = await resolve_public(host.rstrip("."), port, self._lookup)
        return [{"hostname": host, "host": address, "port": port,
                 "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV}
                for address in addresses]

    async def close(self) -> None:
        pass


def endpoint_guard(policy: PushHostPolicy) -> ClientMiddlewareType:
    async def guard(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        url: Any = request.url
        host = str(url.raw_host or "")
        policy.check(str(url.scheme), f"[{host}]" if ":" in host else host,
                     "" if url.explicit_port is None else str(url.explicit_port))
        return await handler(request)

    return guard
