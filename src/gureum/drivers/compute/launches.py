"""The launch server: one ``guest.py serve`` process per namespace driver,
started at the first launch, that forks each instance's launcher.

Starting a fresh interpreter per launch (``guest.py launch``) cost ~20 ms of
CPU (the host's python starting up) for every RunInstances; a fork of a
process that has started once costs well under one. gureum writes one
request line on the server's stdin and awaits the answer line on its stdout;
the server exits when its stdin closes (gureum stopped, or was killed), and
the launchers it forked belong to the host's init, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from . import hostnet


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


class LaunchServer:
    def __init__(self, python: str, script: Path, title_room: int) -> None:
        self.python = python
        self.script = script
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
        answer = asyncio.get_running_loop().create_future()
        self._waiting[number] = answer
        # (the server reads the head; the fork joins the instance's cgroups, as
        # plain paths, before anything else, then parses the config)
        line = (json.dumps({"id": number, "path": config_path,
                            "wait": config.get("wait_ready") or 0}) + "\t"
                + "\0".join(config.get("cgroups") or []) + "\t"
                + json.dumps(config, separators=(",", ":")) + "\n").encode()
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

            def start() -> subprocess.Popen[bytes]:
                # (from a worker thread: the event loop's own spawn forks the whole gureum)
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
        try:
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
