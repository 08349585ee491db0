"""The launch server: one process per namespace driver, started at the first
launch, that starts each instance's launcher.

Where a C compiler is, the server is ``launchd.c`` (built once per source
into the cache directory): each launch is a vfork of that small process that
joins the instance's cgroups and execs ``guest.py launch`` (imported as
compiled once into the cache directory: see ``compiled_guest``), so that the
launcher's interpreter starts up as the instance's own work (its boot), and
the server's part of a launch is little more than making and joining the
instance's CPU accounting group (~0.1-0.15 ms). Elsewhere it is
``guest.py serve``, whose launchers are forks of a Python interpreter: less
CPU in all, but each fork copies an interpreter's page tables and runs its
after-fork work before it can join the instance's cgroups (~1.3 ms of the
server's CPU per launch). Either way gureum writes a request on the server's
stdin (see ``guest.HEAD``; the config in marshal's format) and awaits the
answer line on its stdout; the server exits when its stdin closes (gureum
stopped, or was killed), and the launchers it started belong to the host's
init.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import marshal
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from . import hostnet

log = logging.getLogger("gureum.compute")
NATIVE_SOURCE = Path(__file__).with_name("launchd.c")

HEAD = 64  # bytes: a request's head (as ``guest.HEAD``)
MARSHAL_VERSION = 4  # (the config's format: read by any Python 3 from 3.4 on)
# An answer without an error, read without the JSON decoder.
_BOOTED = re.compile(rb'\{"id": (\d+), "error": null, "pid": (\d+|null)\}')


class _Answers(asyncio.Protocol):
    def __init__(self, server: LaunchServer) -> None:
        self.server = server
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.server._answer(line)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._lost(self)


def _build(target: Path, parent: Path | None, command: list[str], timeout: float,
           failed: str) -> bool:
    """Build ``target`` once: ``command`` (where ``{partial}`` is the path it
    builds) makes a partial file (``parent``: the directory to make for it) or,
    with ``parent`` None, fills a partial directory, renamed to ``target`` when
    done; so a gureum killed meanwhile, or another building the same at once,
    leaves no half-built ``target``. False (said in the log with ``failed``)
    if it did not build."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        (parent or partial).mkdir(parents=True, exist_ok=True)
        done = subprocess.run([part.replace("{partial}", str(partial)) for part in command],
                              capture_output=True, timeout=timeout)
        if done.returncode != 0:
            # (the end: a compiler's or a traceback's last lines say what failed)
            log.warning(failed, done.stderr.decode(errors="replace").strip()[-500:])
            return False
        os.replace(partial, target)
    except (OSError, subprocess.SubprocessError) as exc:
        if target.exists():
            return True  # (made meanwhile by another gureum)
        log.warning(failed, exc)
        return False
    finally:
        if parent is None:
            shutil.rmtree(partial, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                partial.unlink()
    return True


def native_server(build_dir: Path) -> str | None:
    """The C launch server, compiled once per source into ``build_dir``; None
    where there is no C compiler (or it failed: said in the log)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source = NATIVE_SOURCE.read_bytes()
    target = build_dir / f"launchd-{hashlib.sha256(source).hexdigest()[:16]}"
    if target.exists():
        return str(target)
    if not _build(target, build_dir, [compiler, "-O2", "-o", "{partial}", str(NATIVE_SOURCE)],
                  120, "the C launch server did not build (%s): launching with Python"):
        return None
    return str(target)


def compiled_guest(build_dir: Path, python: str, script: Path) -> str | None:
    """A directory holding ``guest.pyc``: ``script`` compiled once by ``python``
    (the instances' interpreter), for the C server's launchers to import.
    Otherwise each launcher's import compiles the script again (~6 ms of the
    instance's CPU) wherever its ``__pycache__`` is not written: bytecode
    writing turned off (PYTHONDONTWRITEBYTECODE), a read-only install, or a
    cache that another Python keeps stale. None if it could not be made (the
    launchers then import the script as before)."""
    source = script.read_bytes()
    key = hashlib.sha256(source + b"\0" + python.encode()).hexdigest()[:16]
    target = build_dir / f"guest-{key}"
    if (target / "guest.pyc").exists():
        return str(target)
    command = [python, "-S", "-c", "import py_compile, sys; "
               "py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
               str(script), "{partial}/guest.pyc"]
    if not _build(target, None, command, 60,
                  "guest.py did not compile (%s): its launchers compile it"):
        return None
    return str(target)


class LaunchServer:
    def __init__(self, python: str, script: Path, title_room: int,
                 native_dir: Path | None = None) -> None:
        """``native_dir``: where the C server is built (None: the Python one)."""
        self.python = python
        self.script = script
        self.native_dir = native_dir
        self.native: bool | None = None  # which server runs (None: none yet)
        # The server rewrites its forks' command lines (``guest.py launch CONFIG``, as
        # an instance's processes are known by): its own must leave room for them.
        self.title_room = title_room
        self._proc: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._answers: _Answers | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0
        self._starting = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def launch(self, config_path: str, config: dict[str, Any]) -> int | None:
        """Have the server start an instance; return once it booted (or the wait is
        over), with the pid of its launcher if the server said it."""
        proc = await self._ensure()
        assert proc.stdin is not None
        number = self._next
        self._next += 1
        # (the fork joins the instance's cgroups, given as plain paths, before
        # anything else, then the config is parsed: see ``guest.serve``)
        join = "\0".join(config.get("cgroups") or []).encode()
        path = config_path.encode()
        # (marshal's format: written by C at once, and read by the launcher without
        # importing json and re, which cost each boot more than the rest of its imports)
        text = marshal.dumps(config, MARSHAL_VERSION)
        head = (f"{number} {float(config.get('wait_ready') or 0)} {len(join)} {len(path)} "
                f"{len(text)}").encode()
        if len(head) >= HEAD:
            raise hostnet.CommandError("a launch request too large for the launch server")
        line = b"".join((head.ljust(HEAD - 1), b"\n", join, path, text))
        answer = asyncio.get_running_loop().create_future()
        self._waiting[number] = answer
        try:
            view = memoryview(line)
            while view:  # (a blocking pipe the server keeps reading: written at once)
                view = view[os.write(proc.stdin.fileno(), view):]
        except OSError as exc:
            self._waiting.pop(number, None)
            raise hostnet.CommandError(f"the launch server is gone: {exc}") from exc
        said = await answer
        if said.get("error") is not None:
            raise hostnet.CommandError(str(said["error"]))
        pid = said.get("pid")
        return pid if isinstance(pid, int) else None

    async def _ensure(self) -> subprocess.Popen[bytes]:
        async with self._starting:
            if self._proc is not None and self._transport is not None:
                return self._proc
            await self.close()
            # (-S: no site, whose .pth files import modules it does not need: ~3 MB
            # less to copy the page tables of at each fork)
            argv = [self.python, "-S", str(self.script), "serve", "-" * self.title_room]
            native_dir = self.native_dir

            def start() -> subprocess.Popen[bytes]:
                # (from a worker thread: the event loop's own spawn forks the whole gureum)
                native = code = None
                if native_dir is not None:
                    native = native_server(native_dir)
                    if native is not None:
                        code = compiled_guest(native_dir, self.python, self.script)
                if native is not None:
                    try:
                        proc = subprocess.Popen(
                            [native, "serve", self.python, str(self.script),
                             *([code] if code is not None else [])],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
                    except OSError as exc:  # (a cache directory mounted noexec, say)
                        log.warning("the C launch server did not start (%s): launching "
                                    "with Python", exc)
                    else:
                        self.native = True
                        return proc
                self.native = False
                return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        close_fds=True)

            loop = asyncio.get_running_loop()
            proc = await loop.run_in_executor(hostnet._commands, start)
            assert proc.stdout is not None
            answers = _Answers(self)
            self._transport, _ = await loop.connect_read_pipe(lambda: answers, proc.stdout)
            self._answers = answers
            self._proc = proc
            return proc

    def _answer(self, line: bytes) -> None:
        answer: dict[str, Any]
        try:
            booted = _BOOTED.fullmatch(line)
            if booted is not None:  # (the usual answer, as both servers write it)
                pid = booted[2]
                answer = {"id": int(booted[1]), "error": None,
                          "pid": None if pid == b"null" else int(pid)}
            else:
                answer = json.loads(line)
            waiter = self._waiting.pop(int(answer["id"]))
        except (ValueError, KeyError, TypeError):
            return
        if not waiter.done():
            waiter.set_result(answer)

    def _lost(self, answers: _Answers) -> None:
        if answers is not self._answers:
            return  # a server closed before this one started
        self._transport = self._answers = None
        waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            if not waiter.done():
                waiter.set_exception(hostnet.CommandError("the launch server exited"))

    async def close(self) -> None:
        """Stop the server (its end of input) and reap it; launched instances go on."""
        proc, self._proc = self._proc, None
        if self._answers is not None:
            self._lost(self._answers)
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()

        def reap() -> None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

        await asyncio.get_running_loop().run_in_executor(hostnet._commands, reap)
