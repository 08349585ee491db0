"""The built-in proxy driver: one proxy process per load balancer, written on
asyncio (and uvloop), used when HAProxy is not installed.

The driver (in gureum) starts worker processes (``python -m
gureum.drivers.proxy.builtin``) for each proxy and talks to each over a Unix
socket in the proxy's directory: the whole spec is sent on every change and
the worker makes its listeners and backends match it, keeping the health of
servers that stay. Health and
counters are read back the same way. Traffic never touches gureum's own
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gureum.drivers import sockdir

from ..base import Counters, ProxySpec, ServerHealth
from ..haproxy import ProxyError
from . import wire
from .wire import control_socket

START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0


def default_workers() -> int:
    """As many workers as HAProxy has threads by default (one per CPU), at
    most 2: a Python worker costs memory."""
    return max(1, min(2, len(os.sched_getaffinity(0))))


@dataclass
class _Proxy:
    name: str
    dir: Path
    procs: list[asyncio.subprocess.Process | None] = field(default_factory=list)
    spec: ProxySpec | None = None

    def socket(self, worker: int) -> Path:
        return control_socket(self.dir, worker)

    def alive(self, worker: int) -> bool:
        proc = self.procs[worker] if worker < len(self.procs) else None
        return proc is not None and proc.returncode is None


async def ask(socket: Path, message: dict[str, Any], timeout: float = 5.0) -> Any:
    """One control request; its answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(socket)), timeout)
    try:
        writer.write(wire.encode(message))
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
        return json.loads(line)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class BuiltinDriver:
    """``workers`` processes per proxy share its ports (SO_REUSEPORT); each
    runs the whole spec with its own health checks. Health merges the
    workers' views; counters are summed over the workers."""

    kind = "builtin"

    def __init__(self, root: Path, python: str = sys.executable,
                 workers: int | None = None) -> None:
        self.root = Path(root)
        self.python = python
        self.workers = workers or default_workers()
        self._proxies: dict[str, _Proxy] = {}

    def running(self, name: str) -> bool:
        p = self._proxies.get(name)
        return p is not None and all(p.alive(w) for w in range(self.workers))

    def names(self) -> list[str]:
        return [n for n in self._proxies if self.running(n)]

    async def apply(self, spec: ProxySpec) -> None:
        p = self._proxies.get(spec.name)
        if p is None:
            p = self._proxies[spec.name] = _Proxy(spec.name, self.root / spec.name)
            p.dir.mkdir(parents=True, exist_ok=True)
        if p.spec == spec and self.running(spec.name):
            return
        p.spec = None
        await asyncio.gather(*(self._start(p, w) for w in range(self.workers)
                               if not p.alive(w)))
        message = {"op": "apply", "spec": wire.dumps(spec)}
        for w in range(self.workers):
            try:
                answer = await ask(p.socket(w), message)
            except (OSError, TimeoutError, ValueError) as e:
                raise ProxyError(f"proxy {spec.name} did not answer: {e}") from e
            if "error" in answer:
                raise ProxyError(f"could not configure {spec.name}: {answer['error']}")
        p.spec = spec

    async def _start(self, p: _Proxy, worker: int) -> None:
        while len(p.procs) <= worker:
            p.procs.append(None)
        log_file = open(p.dir / f"proxy-{worker}.log", "ab")  # noqa: SIM115 - to the child
        try:
            proc = p.procs[worker] = await asyncio.create_subprocess_exec(
                self.python, "-m", "gureum.drivers.proxy.builtin", str(p.dir),
                str(os.getpid()), str(worker), stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file, stderr=log_file)
        finally:
            log_file.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and proc.returncode is None:
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                answer = await ask(p.socket(worker), {"op": "ping"}, timeout=0.5)
                if answer.get("pid") == proc.pid:
                    return
            await asyncio.sleep(0.05)
        await _stop(proc)
        tail = (p.dir / f"proxy-{worker}.log").read_bytes()[-2000:].decode(errors="replace")
        raise ProxyError(f"proxy {p.name} did not start: {tail}")

    async def remove(self, name: str) -> None:
        p = self._proxies.pop(name, None)
        if p is not None:
            await asyncio.gather(*(_stop(proc) for proc in p.procs))
            sockdir.remove_link(p.dir)

    async def _ask(self, name: str, op: str, worker: int) -> Any:
        p = self._proxies.get(name)
        if p is None or not p.alive(worker):
            return None
        try:
            return await ask(p.socket(worker), {"op": op})
        except (OSError, TimeoutError, ValueError):
            return None

    async def health(self, name: str) -> dict[str, dict[str, ServerHealth]]:
        """A server is healthy once every worker's checks pass (so that no
        worker answers 503 for it) and unhealthy as soon as one worker's fail."""
        views = await self._summed(name, "health")
        if not views:
            return {}
        out: dict[str, dict[str, ServerHealth]] = {}
        for b, servers in views[0].items():
            out[b] = {}
            for s in servers:
                seen = [ServerHealth(*v[b][s]) for v in views if s in v.get(b, {})]
                bad = [h for h in seen if h.state == "unhealthy"]
                if bad:
                    out[b][s] = bad[0]
                elif all(h.state == "healthy" for h in seen):
                    out[b][s] = seen[0]
                else:
                    out[b][s] = next(h for h in seen if h.state != "healthy")
        return out

    async def _summed(self, name: str, op: str) -> list[Any]:
        return [x for x in await asyncio.gather(*(self._ask(name, op, w)
                                                  for w in range(self.workers))) if x]

    async def counters(self, name: str) -> dict[str, Counters]:
        out: dict[str, list[Counters]] = {}
        for found in await self._summed(name, "counters"):
            for b, c in found.items():
                out.setdefault(b, []).append(Counters(**c))
        return {b: _sum(cs) for b, cs in out.items()}

    async def totals(self, name: str) -> Counters:
        return _sum([Counters(**c) for c in await self._summed(name, "totals")])

    async def shutdown(self) -> None:
        proxies = list(self._proxies.values())
        self._proxies.clear()
        await asyncio.gather(*(_stop(proc) for p in proxies for proc in p.procs))


def _sum(parts: list[Counters]) -> Counters:
    if not parts:
        return Counters()
    responses: dict[str, int] = {}
    for c in parts:
        for k, v in c.responses.items():
            responses[k] = responses.get(k, 0) + v
    timed = [c for c in parts if c.response_time_ms]
    return Counters(
        requests=sum(c.requests for c in parts), responses=responses,
        active_connections=sum(c.active_connections for c in parts),
        response_time_ms=sum(c.response_time_ms for c in timed) / len(timed) if timed else 0.0,
        connections=sum(c.connections for c in parts),
        bytes_in=sum(c.bytes_in for c in parts), bytes_out=sum(c.bytes_out for c in parts))


async def _stop(proc: asyncio.subprocess.Process | None) -> None:
    if proc is None or proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
