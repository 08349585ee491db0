"""The built-in proxy driver: one proxy process per load balancer, written on
asyncio (and uvloop), used when HAProxy is not installed.

The driver (in gureum) starts ``python -m gureum.drivers.proxy.builtin`` for
each proxy and talks to it over a Unix socket in the proxy's directory: the
whole spec is sent on every change and the process makes its listeners and
backends match it, keeping the health of servers that stay. Health and
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Counters, ProxySpec, ServerHealth
from ..haproxy import ProxyError
from . import wire

START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0


@dataclass
class _Proc:
    name: str
    dir: Path
    proc: asyncio.subprocess.Process | None = None
    spec: ProxySpec | None = None

    @property
    def socket(self) -> Path:
        return self.dir / "ctl.sock"


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
    kind = "builtin"

    def __init__(self, root: Path, python: str = sys.executable) -> None:
        self.root = Path(root)
        self.python = python
        self._procs: dict[str, _Proc] = {}

    def running(self, name: str) -> bool:
        p = self._procs.get(name)
        return p is not None and p.proc is not None and p.proc.returncode is None

    def names(self) -> list[str]:
        return [n for n in self._procs if self.running(n)]

    async def apply(self, spec: ProxySpec) -> None:
        p = self._procs.get(spec.name)
        if p is None:
            p = self._procs[spec.name] = _Proc(spec.name, self.root / spec.name)
            p.dir.mkdir(parents=True, exist_ok=True)
        if p.spec == spec and self.running(spec.name):
            return
        if not self.running(spec.name):
            await self._start(p)
        try:
            answer = await ask(p.socket, {"op": "apply", "spec": wire.dumps(spec)})
        except (OSError, TimeoutError, ValueError) as e:
            raise ProxyError(f"proxy {spec.name} did not answer: {e}") from e
        if "error" in answer:
            raise ProxyError(f"could not configure {spec.name}: {answer['error']}")
        p.spec = spec

    async def _start(self, p: _Proc) -> None:
        log_file = open(p.dir / "proxy.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            p.proc = await asyncio.create_subprocess_exec(
                self.python, "-m", "gureum.drivers.proxy.builtin", str(p.dir),
                str(os.getpid()), stdin=asyncio.subprocess.DEVNULL, stdout=log_file,
                stderr=log_file)
        finally:
            log_file.close()
        p.spec = None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and p.proc.returncode is None:
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                answer = await ask(p.socket, {"op": "ping"}, timeout=0.5)
                if answer.get("pid") == p.proc.pid:
                    return
            await asyncio.sleep(0.05)
        await self._stop(p)
        tail = (p.dir / "proxy.log").read_bytes()[-2000:].decode(errors="replace")
        raise ProxyError(f"proxy {p.name} did not start: {tail}")

    async def _stop(self, p: _Proc) -> None:
        proc = p.proc
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

    async def remove(self, name: str) -> None:
        p = self._procs.pop(name, None)
        if p is not None:
            await self._stop(p)

    async def _ask(self, name: str, op: str) -> Any:
        if not self.running(name):
            return None
        try:
            return await ask(self._procs[name].socket, {"op": op})
        except (OSError, TimeoutError, ValueError):
            return None

    async def health(self, name: str) -> dict[str, dict[str, ServerHealth]]:
        found = await self._ask(name, "health") or {}
        return {b: {s: ServerHealth(v[0], v[1], v[2]) for s, v in servers.items()}
                for b, servers in found.items()}

    async def counters(self, name: str) -> dict[str, Counters]:
        found = await self._ask(name, "counters") or {}
        return {b: Counters(**c) for b, c in found.items()}

    async def totals(self, name: str) -> Counters:
        found = await self._ask(name, "totals")
        return Counters(**found) if found else Counters()

    async def shutdown(self) -> None:
        procs = list(self._procs.values())
        self._procs.clear()
        await asyncio.gather(*(self._stop(p) for p in procs))
