"""The built-in proxy's state in its own process: listeners (``Front``) and
backends (``Pool``) made to match each spec it is given, with their counters
and health read back by the control socket."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import ssl
import time
from pathlib import Path
from typing import Any

from ..base import Action, Listener, ProxySpec
from .http import HttpClient
from .pools import Pool, Tally, Turns, Weighted
from .rules import compile_rules
from .tcp import TcpClient

SWEEP = 0.5  # seconds between idle/timeout sweeps
_VERSIONS = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
             "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def _front_key(lst: Listener) -> tuple[Any, ...]:
    """What a listening socket is made with: a change restarts it."""
    return (lst.mode, lst.certificate, lst.sni_certificates, lst.tls_versions, lst.ciphers)


def _names(pem: str) -> list[str]:
    """The DNS names a certificate PEM is for (its SANs, else its CN)."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        return [n.lower() for n in san.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        return [str(a.value).lower() for a in cert.subject
                if a.oid == x509.NameOID.COMMON_NAME]


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("*."):
        return name.partition(".")[2] == pattern[2:]
    return pattern == name


def _context(lst: Listener, pem: str, path: Path) -> ssl.SSLContext:
    path.touch(mode=0o600)
    path.write_text(pem)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    versions = [_VERSIONS[v] for v in _VERSIONS if v in lst.tls_versions]
    if versions:
        context.minimum_version, context.maximum_version = versions[0], versions[-1]
    tls12 = [c for c in lst.ciphers if not c.startswith("TLS_")]
    if tls12:  # (Python sets no TLS 1.3 suites: OpenSSL's defaults are AWS's)
        with contextlib.suppress(ssl.SSLError):  # none known here: the defaults
            context.set_ciphers(":".join(tls12))
    context.load_cert_chain(str(path))
    return context


def _tls_context(lst: Listener, stem: Path) -> ssl.SSLContext:
    """The listener's TLS context: its certificate, or the SNI certificate
    holding the name a client asks for."""
    assert lst.certificate is not None
    context = _context(lst, lst.certificate, stem.with_name(stem.name + ".pem"))
    if not lst.sni_certificates:
        return context
    by_name = [(_names(pem), _context(lst, pem, stem.with_name(f"{stem.name}-{n}.pem")))
               for n, pem in enumerate(lst.sni_certificates, start=1)]
    default_names = _names(lst.certificate)

    def pick(sock: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        wanted = (name or "").lower()
        if not wanted or any(_matches(p, wanted) for p in default_names):
            return
        for patterns, ctx in by_name:
            if any(_matches(p, wanted) for p in patterns):
                sock.context = ctx
                return

    context.sni_callback = pick  # type: ignore[assignment]
    return context


class Front:
    """One listener: its socket, its rules and its open client connections."""

    def __init__(self, proxy: Proxy, listener: Listener) -> None:
        self.proxy = proxy
        self.conns: set[HttpClient | TcpClient] = set()
        self.server: asyncio.Server | None = None
        self.key = _front_key(listener)
        self.update(listener)

    def update(self, listener: Listener) -> None:
        self.listener = listener
        self.tls = listener.certificate is not None
        self.rules = compile_rules(listener)
        self.forwarded = (f"X-Forwarded-Proto: {'https' if self.tls else 'http'}\r\n"
                          f"X-Forwarded-Port: {listener.port}")
        self.forwarded_bytes = self.forwarded.encode()
        # Response headers set on every answer, and the server's own to drop
        self.response_headers = "".join(
            f"{n}: {v}\r\n" for n, v in listener.response_headers).encode("latin-1")
        self.replaced = (re.compile(rb"\r\n(?:" + b"|".join(
            re.escape(n.encode("latin-1")) for n, _ in listener.response_headers)
            + rb")[ \t]*:[^\r]*", re.IGNORECASE) if listener.response_headers else None)
        self.weighted: dict[Action, Weighted] = {}

    def pool_for(self, action: Action) -> Pool | None:
        pools = self.proxy.pools
        if len(action.targets) == 1:
            return pools.get(action.targets[0][0])
        w = self.weighted.get(action)
        if w is None:
            w = self.weighted[action] = Weighted(action.targets)
        return w.pick(pools)

    async def start(self, addresses: tuple[str, ...], directory: Path, tag: str) -> None:
        lst = self.listener
        context = None
        if lst.certificate:
            context = _tls_context(lst, directory / f"l{lst.port}-{tag}")
        loop = asyncio.get_running_loop()
        # (a list of hosts: one server listening on each address)
        if lst.mode == "tcp":
            self.server = await loop.create_server(lambda: TcpClient(self), list(addresses),
                                                   lst.port, reuse_address=True,
                                                   reuse_port=True, backlog=1024)
        else:
            self.server = await loop.create_server(lambda: HttpClient(self), list(addresses),
                                                   lst.port, reuse_address=True,
                                                   reuse_port=True, backlog=1024,
                                                   ssl=context)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.conns):
            conn.close()


class Proxy:
    def __init__(self, directory: Path, tag: str = "0") -> None:
        self.dir = directory
        self.tag = tag  # the worker's number: its files are its own
        self.turns = Turns(directory / "turns.map")
        self.pools: dict[str, Pool] = {}
        self.fronts: dict[int, Front] = {}
        self.tally = Tally()
        self.addresses: tuple[str, ...] = ()
        self._sweeper: asyncio.Task[None] | None = None

    async def apply(self, spec: ProxySpec) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep())
        for b in spec.backends:
            pool = self.pools.get(b.name)
            if pool is None:
                self.pools[b.name] = Pool(b, self.turns)
            elif pool.spec != b:
                pool.update(b)
        for name in set(self.pools) - {b.name for b in spec.backends}:
            self.pools.pop(name).close()
        wanted = {lst.port: lst for lst in spec.listeners}
        for port in set(self.fronts) - set(wanted):
            self.fronts.pop(port).close()
        for port, lst in wanted.items():
            front = self.fronts.get(port)
            if (front is not None and front.key == _front_key(lst)
                    and spec.addresses == self.addresses):
                front.update(lst)
                continue
            if front is not None:
                self.fronts.pop(port).close()
            front = Front(self, lst)
            await front.start(spec.addresses, self.dir, self.tag)
            self.fronts[port] = front
        self.addresses = spec.addresses

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP)
            now = time.monotonic()
            for front in list(self.fronts.values()):
                for conn in list(front.conns):
                    conn.expire(now)

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, pool in self.pools.items():
            out[name] = {}
            for s, st in pool.servers.items():
                h = st.health()
                out[name][s] = [h.state, h.reason, h.code]
        return out

    def counters(self) -> dict[str, Any]:
        return {name: dataclasses.asdict(pool.tally.counters())
                for name, pool in self.pools.items()}

    def totals(self) -> dict[str, Any]:
        return dataclasses.asdict(self.tally.counters())

    def close(self) -> None:
        for front in self.fronts.values():
            front.close()
        for pool in self.pools.values():
            pool.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        with contextlib.suppress(OSError):
            for f in self.dir.glob(f"l*-{self.tag}.pem"):
                os.unlink(f)

