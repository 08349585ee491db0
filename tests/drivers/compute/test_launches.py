"""The launch server (``guest.py serve``): launchers are forks of it, known by
the command line a ``launch`` would have, and its answers carry their pid or
why they failed. Launchers here stop before anything that needs root: one
waits on a FIFO given as its network namespace, one cannot join its cgroup."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import pytest

from gureum.drivers.compute.hostnet import CommandError
from gureum.drivers.compute.launches import LaunchServer
from gureum.drivers.compute.namespaces import GUEST_SCRIPT, host_python


def config(d: Path, **extra: object) -> dict[str, object]:
    return {"id": "i-0123456789abcdef0", "mkdir": [str(d / "volume/upper")],
            "user_data": str(d / "user-data"), "user_data_b64": "IyEvYmluL3NoCg==",
            "cgroup_setup": {}, "cgroups": [], "console": str(d / "console.log"),
            "pidfile": str(d / "launcher.pid"), "wait_ready": 0.3, **extra}


def test_a_launcher_is_a_fork_known_by_its_launch_command_line(tmp_path: Path) -> None:
    d = tmp_path / "guests" / "i-0123456789abcdef0"
    os.mkfifo(tmp_path / "netns")  # the launcher blocks opening it: alive, harmless
    pids: list[int] = []

    async def main() -> None:
        server = LaunchServer(host_python(), GUEST_SCRIPT, title_room=len(str(tmp_path)) + 512)
        try:
            pid = await server.launch(str(d / "config.json"),
                                      config(d, netns=str(tmp_path / "netns"),
                                             hosts=str(d / "hosts"), hosts_text="10.0.0.1 a\n"))
            assert pid is not None
            pids.append(pid)
            assert server.pid is not None
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            assert cmdline[-3:] == [b"launch", str(d / "config.json").encode(), b"-"]
            assert cmdline[-4].endswith(b"guest.py")
            assert int((d / "launcher.pid").read_text()) == pid
            assert (d / "user-data").read_bytes() == b"#!/bin/sh\n"  # written by the launcher
            assert (d / "volume/upper").is_dir() and (d / "config.json").exists()
            assert (d / "hosts").read_text() == "10.0.0.1 a\n"  # (its hosts file, as given)
            assert "hosts_text" not in (d / "config.json").read_text()
            own = Path(f"/proc/{server.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            assert own[-1] == b"serve"  # (its padding is gone)
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await server.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_launcher_that_fails_says_why_and_a_dead_server_is_replaced(
        tmp_path: Path) -> None:
    d = tmp_path / "guests" / "i-0123456789abcdef0"

    async def main() -> None:
        server = LaunchServer(host_python(), GUEST_SCRIPT, title_room=len(str(tmp_path)) + 512)
        try:
            bad = config(d, cgroups=[str(tmp_path / "no-such-cgroup" / "cgroup.procs")])
            with pytest.raises(CommandError, match="no-such-cgroup"):
                await server.launch(str(d / "config.json"), bad)
            first = server.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await asyncio.sleep(0.2)
            with pytest.raises(CommandError):  # the launcher fails again, from a new server
                await server.launch(str(d / "config.json"), bad)
            assert server.pid not in (None, first)
        finally:
            await server.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_launcher_failing_after_the_wait_is_over_ends(tmp_path: Path) -> None:
    """A launcher that fails once nobody waits for it any more (its ready pipe is
    closed) ends: it never goes on as a second launch server."""
    d = tmp_path / "guests" / "i-0123456789abcdef0"
    d.mkdir(parents=True)
    os.mkfifo(d / "user-data")  # the launcher blocks writing it until this test reads

    async def main() -> None:
        server = LaunchServer(host_python(), GUEST_SCRIPT, title_room=len(str(tmp_path)) + 512)
        try:
            bad = config(d, wait_ready=0,
                         cgroups=[str(tmp_path / "no-such-cgroup" / "cgroup.procs")])
            pid = await server.launch(str(d / "config.json"), bad)  # the wait is over
            assert pid is not None and server.pid is not None
            fifo = os.open(d / "user-data", os.O_RDONLY | os.O_NONBLOCK)  # it goes on, fails
            try:
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
                    if not children.read_text().split():
                        break
                assert children.read_text().split() == []
            finally:
                os.close(fifo)
        finally:
            await server.close()

    asyncio.run(asyncio.wait_for(main(), 30))
