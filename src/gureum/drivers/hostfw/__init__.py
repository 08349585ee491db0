"""Ingress filters for servers the host runs on instances' networks (database
and cache engines listening on addresses the host holds on a bridge).

An ``Endpoint`` is one address and TCP port with the rules that may reach it:
``(protocol, from port, to port, source CIDR)`` tuples, as EC2 gives an
instance's security groups; ``also`` are ports of the same server filtered
as that port is (the sources the rules admit to it, and no others: a Redis
cluster node's bus port, ``port + 10000``). ``apply`` makes the whole set so, atomically;
``clear`` removes everything. Only connections that come in from a network
(not from the host itself: its programs reach the address over ``lo``) are
filtered, and only to the endpoint's own address and port.

The real driver keeps one nftables table of the host (``table ip NAME``,
one per gureum: NAME names its network), rewritten as a whole in one ``nft``
transaction; an empty set deletes the table. The fake keeps what it was given.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Sequence
from typing import NamedTuple, Protocol

Rule = tuple[str, int, int, str]  # (protocol, from port, to port, source CIDR)


class Endpoint(NamedTuple):
    address: str
    port: int
    rules: tuple[Rule, ...]
    also: tuple[int, ...] = ()


class HostFirewall(Protocol):
    async def apply(self, endpoints: Sequence[Endpoint]) -> None: ...

    async def clear(self) -> None: ...


def _admits(rule: Rule, port: int) -> bool:
    proto, low, high, _ = rule
    return proto in ("-1", "all") or (proto == "tcp" and low <= port <= high)


def render(table: str, endpoints: Sequence[Endpoint]) -> str:
    """The nft script that makes ``table`` hold exactly ``endpoints``' filters."""
    lines = [f"add table ip {table}", f"delete table ip {table}"]
    if not endpoints:
        return "\n".join(lines) + "\n"
    lines += [f"table ip {table} {{", "  chain input {",
              "    type filter hook input priority 0; policy accept;"]
    for e in sorted(endpoints):
        sources = sorted({cidr for rule in e.rules if _admits(rule, e.port)
                          for cidr in [rule[3]] if ":" not in cidr})
        for port in (e.port, *e.also):
            match = f"ip daddr {e.address} tcp dport {port}"
            lines.append(f'    {match} iifname "lo" accept')
            if "0.0.0.0/0" in sources:
                lines.append(f"    {match} accept")
                continue
            # (one rule per source: ranges may overlap, which one set refuses)
            lines += [f"    {match} ip saddr {cidr} accept" for cidr in sources]
            lines.append(f"    {match} drop")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def table_name(cidr: str) -> str:
    """The table of the gureum whose instance network is ``cidr``."""
    return "gureum_data_" + cidr.replace(".", "_").replace("/", "_")


def drop(cidr: str) -> None:
    """Delete the table of the network ``cidr`` if it is there (what a
    gureum killed with SIGKILL left; one running would make it again)."""
    import shutil

    if os.geteuid() == 0 and shutil.which("nft") is not None:
        subprocess.run(["nft", "-f", "-"], input=render(table_name(cidr), ()).encode(),
                       capture_output=True, close_fds=True, check=False)


class NftHostFirewall:
    kind = "nftables"

    def __init__(self, table: str) -> None:
        self.table = table
        self._applied: str | None = None

    async def apply(self, endpoints: Sequence[Endpoint]) -> None:
        script = render(self.table, endpoints)
        if script == self._applied:
            return
        await asyncio.to_thread(_nft, script)
        self._applied = script

    async def clear(self) -> None:
        await asyncio.to_thread(_nft, render(self.table, ()))
        self._applied = None


def _nft(script: str) -> None:
    done = subprocess.run(["nft", "-f", "-"], input=script.encode(), capture_output=True,
                          close_fds=True)
    if done.returncode != 0:
        raise OSError(f"nft: {done.stderr.decode(errors='replace').strip()}")


class FakeHostFirewall:
    kind = "fake"

    def __init__(self) -> None:
        self.endpoints: dict[tuple[str, int], Endpoint] = {}
        self.also: dict[tuple[str, int], Endpoint] = {}  # (other ports of those endpoints)

    async def apply(self, endpoints: Sequence[Endpoint]) -> None:
        self.endpoints = {(e.address, e.port): e for e in endpoints}
        self.also = {(e.address, p): e for e in endpoints for p in e.also}

    async def clear(self) -> None:
        self.endpoints, self.also = {}, {}

    def admits(self, address: str, port: int, source: str) -> bool:
        """Whether a connection from ``source`` (on a network) gets in."""
        import ipaddress

        e = self.endpoints.get((address, port)) or self.also.get((address, port))
        if e is None:
            return True
        return any(_admits(r, e.port) and ":" not in r[3]
                   and ipaddress.IPv4Address(source) in ipaddress.IPv4Network(r[3])
                   for r in e.rules)
