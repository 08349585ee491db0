"""Backends of the built-in proxy: their servers, the health checks that move
each server between initial, healthy and unhealthy, server choice (round
robin, least outstanding requests, weighted forwards) and the counters the
metrics feed reads."""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import random
import struct
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from ..base import Backend, Check, Counters, Server, ServerHealth

CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
RECENT = 64  # response times averaged


@dataclass
class Tally:
    """Cumulative counters of a backend or of the whole proxy."""

    requests: int = 0
    responses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    active: int = 0
    connections: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    times: list[float] = field(default_factory=list)

    def response(self, status: int) -> None:
        key = f"{status // 100}xx"
        if key in self.responses:
            self.responses[key] += 1

    def took(self, seconds: float) -> None:
        self.times.append(seconds)
        if len(self.times) > RECENT:
            del self.times[:RECENT // 2]

    def counters(self) -> Counters:
        avg = sum(self.times) / len(self.times) * 1000 if self.times else 0.0
        return Counters(self.requests, dict(self.responses), self.active, round(avg, 3),
                        self.connections, self.bytes_in, self.bytes_out)


class ServerState:
    """One server and what its checks observed."""

    def __init__(self, pool: Pool, spec: Server) -> None:
        self.pool = pool
        self.spec = spec
        self.state = "initial"
        self.reason = ""
        self.code: int | None = None
        self.ok = 0  # consecutive passed checks
        self.failed = 0  # consecutive failed checks
        self.active = 0  # requests in flight
        self.healthy_since = 0.0  # when it last turned healthy (slow start)
        self.task: asyncio.Task[None] | None = None

    @property
    def available(self) -> bool:
        return self.state == "healthy" and not self.spec.draining and self.spec.weight > 0

    def health(self) -> ServerHealth:
        if self.spec.draining and self.state == "healthy":
            return ServerHealth("draining", "", self.code)
        return ServerHealth(self.state, self.reason, self.code)

    def record(self, reason: str, code: int | None) -> None:
        check = self.pool.check
        self.code = code
        before = self.state
        if not reason:
            self.ok, self.failed = self.ok + 1, 0
            if self.state != "healthy" and self.ok >= check.rise:
                self.state, self.reason = "healthy", ""
                self.healthy_since = time.monotonic()
        else:
            self.ok, self.failed = 0, self.failed + 1
            if self.state == "unhealthy":
                self.reason = reason
            elif self.failed >= check.fall:
                self.state, self.reason = "unhealthy", reason
        if self.state != before:
            self.pool.changed()

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def run_checks(self) -> None:
        check = self.pool.check
        await asyncio.sleep(random.uniform(0, min(check.interval, 0.2)))
        while True:
            started = time.monotonic()
            reason, code = await probe(self.spec, check)
            self.record(reason, code)
            await asyncio.sleep(max(0.0, check.interval - (time.monotonic() - started)))


async def probe(server: Server, check: Check) -> tuple[str, int | None]:
    """One health check: ("", code) when it passed, else (reason, code)."""
    port = check.port or server.port
    writer = None
    try:
        async with asyncio.timeout(check.timeout):
            reader, writer = await asyncio.open_connection(
                server.host, port, local_addr=(server.source, 0) if server.source else None)
            if check.protocol == "tcp":
                return "", None
            writer.write(f"GET {check.path} HTTP/1.1\r\nHost: {server.host}:{port}\r\n"
                         "Connection: close\r\nUser-Agent: ELB-HealthChecker/2.0\r\n\r\n"
                         .encode())
            line = await reader.readline()
    except TimeoutError:
        return "timeout", None
    except OSError:
        return "connect", None
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        return "connect", None
    code = int(parts[1])
    return ("" if code in check.codes else "status"), code


class Turns:
    """Round-robin counters that the workers of one proxy share (a small
    mapped file), so that round robin goes round across workers too. An
    increment two workers race on is merely repeated."""

    SLOTS = 512

    def __init__(self, path: Path | None) -> None:
        self._local: dict[str, int] = {}
        self._map: mmap.mmap | None = None
        if path is not None:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_size < self.SLOTS * 8:
                    os.ftruncate(fd, self.SLOTS * 8)
                self._map = mmap.mmap(fd, self.SLOTS * 8)
            finally:
                os.close(fd)

    def next(self, name: str) -> int:
        if self._map is None:
            self._local[name] = self._local.get(name, -1) + 1
            return self._local[name]
        slot = self._local.get(name)
        if slot is None:
            slot = self._local[name] = zlib.crc32(name.encode()) % self.SLOTS * 8
        turn: int = struct.unpack_from("Q", self._map, slot)[0] + 1
        struct.pack_into("Q", self._map, slot, turn)
        return turn


class Pool:
    """A backend: its servers in the spec's order."""

    def __init__(self, spec: Backend, turns: Turns | None = None) -> None:
        self.turns = turns or Turns(None)
        self.spec = spec
        self.check = spec.check
        self.servers: dict[str, ServerState] = {}
        self.tally = Tally()
        self._live: list[ServerState] | None = None
        self.update(spec)

    def update(self, spec: Backend) -> None:
        """Take a new spec; servers that stay (same address and checks) keep
        their health."""
        same_check = spec.check == self.check
        self.spec, self.check = spec, spec.check
        keep: dict[str, ServerState] = {}
        for s in spec.servers:
            old = self.servers.pop(s.name, None)
            if old is not None and same_check and (old.spec.host, old.spec.port) == (s.host,
                                                                                      s.port):
                old.spec = s
                keep[s.name] = old
                continue
            if old is not None:
                old.stop()
            keep[s.name] = ServerState(self, s)
        for gone in self.servers.values():
            gone.stop()
        self.servers = keep
        for st in keep.values():
            if st.task is None:
                st.task = asyncio.ensure_future(st.run_checks())
        self.changed()

    def changed(self) -> None:
        self._live = None

    def live(self) -> list[ServerState]:
        if self._live is None:
            self._live = [s for s in self.servers.values() if s.available]
        return self._live

    def pick(self, sticky: str | None = None) -> ServerState | None:
        live = self.live()
        if not live:
            return None
        if sticky is not None:
            found = self.servers.get(sticky)
            if found is not None and found.available:
                return found
        if self.spec.algorithm == "least_outstanding_requests":
            return min(live, key=lambda s: s.active)
        turn = self.turns.next(self.spec.name)
        if self.spec.slow_start and len(live) > 1:
            return self._slow_start(live, turn)
        return live[turn % len(live)]

    def _slow_start(self, live: list[ServerState], turn: int) -> ServerState:
        """While a server is in its first ``slow_start`` seconds of health its
        share grows linearly from nothing to a full one (ALB's linear ramp):
        choices are then weighted at random; otherwise round robin."""
        now = time.monotonic()
        weights = [min(1.0, max(0.001, (now - s.healthy_since) / self.spec.slow_start))
                   for s in live]
        if min(weights) >= 1.0:
            return live[turn % len(live)]
        return random.choices(live, weights)[0]

    def close(self) -> None:
        for s in self.servers.values():
            s.stop()


class Weighted:
    """Smooth weighted round robin over backends (nginx's algorithm), skipping
    backends with no available server."""

    def __init__(self, targets: tuple[tuple[str, int], ...]) -> None:
        self.targets = [(name, weight) for name, weight in targets if weight > 0]
        self.current = dict.fromkeys((n for n, _ in self.targets), 0)

    def pick(self, pools: dict[str, Pool]) -> Pool | None:
        usable = [(n, w) for n, w in self.targets if n in pools and pools[n].live()]
        if not usable:
            return None
        if len(usable) == 1:
            return pools[usable[0][0]]
        total = sum(w for _, w in usable)
        for n, w in usable:
            self.current[n] += w
        best = max(usable, key=lambda t: self.current[t[0]])[0]
        self.current[best] -= total
        return pools[best]
