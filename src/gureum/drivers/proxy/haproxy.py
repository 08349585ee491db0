"""The HAProxy proxy driver: one HAProxy process per proxy, a child of gureum.

Each proxy has a directory holding its rendered configuration, its admin
socket (the runtime API) and its server-state file. A changed configuration is
loaded by starting a new process that takes the listening sockets from the old
one (``-x``) and tells it to finish its connections and exit (``-sf``): no
connection is refused during a reload. Health-check state is carried over in
the server-state file; servers that are new are forced down until their checks
pass (HAProxy would otherwise start them up). Health and counters are read
back with ``show stat``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from gureum.drivers import sockdir

from .base import Counters, ProxySpec, ServerHealth
from .haproxy_config import certificate_files, render

log = logging.getLogger("gureum.proxy")

START_TIMEOUT = 10.0
OK_CHECKS = {"L4OK", "L6OK", "L7OK", "L7OKC"}
TIMEOUTS = {"L4TOUT", "L6TOUT", "L7TOUT"}


class ProxyError(Exception):
    """The proxy could not be (re)configured."""


def available() -> bool:
    return shutil.which("haproxy") is not None


ADMIN_SOCKET = "admin.sock"


@dataclass
class _Proxy:
    name: str
    dir: Path
    proc: asyncio.subprocess.Process | None = None
    pid: int | None = None
    config: str = ""
    servers: set[str] = field(default_factory=set)  # "backend/server" already checked
    pending: set[str] = field(default_factory=set)  # new servers not yet forced down

    @property
    def socket(self) -> Path:
        # (through a short link when the directory is deep: see drivers.sockdir)
        return sockdir.socket_dir(self.dir, ADMIN_SOCKET) / ADMIN_SOCKET

    @property
    def state_file(self) -> Path:
        return self.dir / "servers.state"

    @property
    def cfg(self) -> Path:
        return self.dir / "haproxy.cfg"

    @property
    def pidfile(self) -> Path:
        return self.dir / "haproxy.pid"


async def command(socket: Path, line: str, timeout: float = 2.0) -> str:
    """One runtime-API command; its whole answer."""
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(socket)), timeout)
    try:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
        return data.decode(errors="replace")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


class HAProxyDriver:
    kind = "haproxy"

    def __init__(self, root: Path, binary: str = "haproxy") -> None:
        self.root = Path(root)
        self.binary = shutil.which(binary) or binary
        self._proxies: dict[str, _Proxy] = {}
        self._old: set[asyncio.Task[int]] = set()

    def _proxy(self, name: str) -> _Proxy:
        p = self._proxies.get(name)
        if p is None:
            p = self._proxies[name] = _Proxy(name, self.root / name)
            p.dir.mkdir(parents=True, exist_ok=True)
            # A process left by an earlier gureum keeps serving until replaced.
            with contextlib.suppress(OSError, ValueError):
                pid = int(p.pidfile.read_text())
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if _alive(pid) and str(p.cfg).encode() in cmdline:
                    p.pid = pid
        return p

    def running(self, name: str) -> bool:
        p = self._proxies.get(name)
        return p is not None and p.pid is not None and _alive(p.pid)

    def names(self) -> list[str]:
        return [n for n in self._proxies if self.running(n)]

    async def apply(self, spec: ProxySpec) -> None:
        p = self._proxy(spec.name)
        text = render(spec, p.socket, p.state_file)
        pems = {f: pem for lst in spec.listeners
                for f, pem in certificate_files(p.dir, lst).items()}
        stale = any(not f.exists() or f.read_text() != pem for f, pem in pems.items())
        if text == p.config and not stale and self.running(spec.name):
            return
        for f, pem in pems.items():
            f.touch(mode=0o600)
            f.write_text(pem)
        p.cfg.write_text(text)
        await self._check(p)
        old = p.pid if p.pid is not None and _alive(p.pid) else None
        if old is not None:
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                p.state_file.write_text(await command(p.socket, "show servers state"))
        else:
            p.state_file.write_text("")
            p.servers.clear()
        # HAProxy starts servers up; until they are forced down they count as new.
        p.pending = {f"b_{b.name}/{s.name}" for b in spec.backends for s in b.servers}
        p.pending -= p.servers
        await self._start(p, old)
        p.config = text
        await self._force_new_down(p, spec)

    async def _check(self, p: _Proxy) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.binary, "-c", "-f", str(p.cfg),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise ProxyError(f"invalid configuration for {p.name}: {out.decode()[-2000:]}")

    async def _start(self, p: _Proxy, old: int | None) -> None:
        args = [self.binary, "-f", str(p.cfg), "-p", str(p.pidfile)]
        if old is not None:
            args += ["-x", str(p.socket), "-sf", str(old)]
        log_file = open(p.dir / "haproxy.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = await asyncio.create_subprocess_exec(
                *args, stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file)
        finally:
            log_file.close()
        if p.proc is not None and p.proc.returncode is None:
            task = asyncio.ensure_future(p.proc.wait())  # reap the old one when it is done
            self._old.add(task)
            task.add_done_callback(self._old.discard)
        p.proc, p.pid = proc, proc.pid
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                break
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                info = await command(p.socket, "show info", timeout=0.5)
                if f"Pid: {proc.pid}\n" in info:
                    return
            await asyncio.sleep(0.02)
        tail = (p.dir / "haproxy.log").read_bytes()[-2000:].decode(errors="replace")
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        p.pid = None
        raise ProxyError(f"haproxy for {p.name} did not start: {tail}")

    async def _force_new_down(self, p: _Proxy, spec: ProxySpec) -> None:
        current = {f"b_{b.name}/{s.name}" for b in spec.backends for s in b.servers}
        for key in sorted(current - p.servers):
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                await command(p.socket, f"set server {key} health down")
        p.servers = current
        p.pending = set()

    async def remove(self, name: str) -> None:
        p = self._proxy(name)
        if p.pid is not None and _alive(p.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
            if p.proc is not None and p.proc.pid == p.pid:
                try:
                    await asyncio.wait_for(p.proc.wait(), 5)
                except TimeoutError:
                    p.proc.kill()
                    await p.proc.wait()
            else:
                for _ in range(250):
                    if not _alive(p.pid):
                        break
                    await asyncio.sleep(0.02)
                else:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(p.pid, signal.SIGKILL)
        for task in list(self._old):  # earlier generations still finishing connections
            task.cancel()
        self._proxies.pop(name, None)
        sockdir.remove_link(p.dir)
        shutil.rmtree(p.dir, ignore_errors=True)

    async def _stat(self, name: str) -> list[dict[str, str]]:
        if not self.running(name):
            return []
        try:
            text = await command(self._proxies[name].socket, "show stat")
        except (TimeoutError, OSError):
            return []
        text = text.lstrip("# ")
        return list(csv.DictReader(io.StringIO(text)))

    async def health(self, name: str) -> dict[str, dict[str, ServerHealth]]:
        out: dict[str, dict[str, ServerHealth]] = {}
        pending = self._proxies[name].pending if name in self._proxies else set()
        for row in await self._stat(name):
            px, sv = row.get("pxname", ""), row.get("svname", "")
            if not px.startswith("b_") or sv in ("FRONTEND", "BACKEND"):
                continue
            new = f"{px}/{sv}" in pending
            out.setdefault(px[2:], {})[sv] = ServerHealth("initial") if new else \
                _server_health(row)
        return out

    async def counters(self, name: str) -> dict[str, Counters]:
        """Per backend, summed over its servers' rows: a weighted forward's
        combined backend (``w_…``) has servers named ``<backend>__<server>``."""
        sums: dict[str, dict[str, float]] = {}
        rtime: dict[str, float] = {}
        for row in await self._stat(name):
            px, sv = row.get("pxname", ""), row.get("svname", "")
            if sv == "FRONTEND":
                continue
            if sv == "BACKEND":
                if px.startswith("b_"):
                    rtime[px[2:]] = _num(row, "rtime")
                continue
            if px.startswith("b_"):
                backend = px[2:]
            elif px.startswith("w_") and "__" in sv:
                backend = sv.split("__", 1)[0]
            else:
                continue
            acc = sums.setdefault(backend, {})
            for key, value in _row_counts(row).items():
                acc[key] = acc.get(key, 0.0) + value
        return {b: _counters(acc, rtime.get(b, 0.0)) for b, acc in sums.items()} | {
            b: Counters(response_time_ms=t) for b, t in rtime.items() if b not in sums}

    async def totals(self, name: str) -> Counters:
        acc: dict[str, float] = {}
        for row in await self._stat(name):
            if row.get("svname") != "FRONTEND":
                continue
            for key, value in _row_counts(row).items():
                acc[key] = acc.get(key, 0.0) + value
        return _counters(acc, 0.0)

    async def shutdown(self) -> None:
        for name in list(self._proxies):
            p = self._proxies[name]
            if p.proc is not None and p.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.proc.kill()
                await p.proc.wait()
            elif p.pid is not None and _alive(p.pid):  # adopted from an earlier gureum
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
        for task in list(self._old):
            task.cancel()
        self._proxies.clear()


def _server_health(row: dict[str, str]) -> ServerHealth:
    status = row.get("status", "")
    check = (row.get("check_status") or "").lstrip("* ")
    code = int(row["check_code"]) if (row.get("check_code") or "").isdigit() else None
    if status.startswith("UP") or status == "no check":
        return ServerHealth("healthy", "", code)
    if status.startswith("DOWN") or status.startswith("NOLB"):
        if check in OK_CHECKS or check in ("INI", ""):
            return ServerHealth("initial", "", code)
        if check == "L7STS":
            return ServerHealth("unhealthy", "status", code)
        if check in TIMEOUTS:
            return ServerHealth("unhealthy", "timeout", code)
        return ServerHealth("unhealthy", "connect", code)
    if status.startswith("DRAIN"):
        return ServerHealth("draining", "", code)
    return ServerHealth("initial", "", code)


def _num(row: dict[str, str], key: str) -> float:
    try:
        return float(row.get(key) or 0)
    except ValueError:
        return 0.0


RESPONSE_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


def _row_counts(row: dict[str, str]) -> dict[str, float]:
    """The additive counters of one ``show stat`` row."""
    tcp = row.get("mode") == "tcp"
    out = {f"hrsp_{c}": _num(row, f"hrsp_{c}") for c in RESPONSE_CLASSES}
    out.update(
        # HTTP: requests; TCP: every stream is one "request".
        requests=_num(row, "stot") if tcp or not row.get("req_tot") else _num(row, "req_tot"),
        scur=_num(row, "scur"), bin=_num(row, "bin"), bout=_num(row, "bout"),
        # conn_tot is a frontend's accepted connections; a server's are its sessions.
        conns=_num(row, "conn_tot") if row.get("conn_tot") else _num(row, "stot"))
    return out


def _counters(acc: dict[str, float], rtime: float) -> Counters:
    return Counters(
        requests=int(acc.get("requests", 0)),
        responses={c: int(acc.get(f"hrsp_{c}", 0)) for c in RESPONSE_CLASSES},
        active_connections=int(acc.get("scur", 0)), response_time_ms=rtime,
        connections=int(acc.get("conns", 0)), bytes_in=int(acc.get("bin", 0)),
        bytes_out=int(acc.get("bout", 0)))
