"""The launch servers (``guest.py serve``, and ``launchd.c`` where a C compiler
is): launchers are known by the command line a ``launch`` would have, and the
answers carry their pid or why they failed. Launchers here stop before
anything that needs root: one waits on a FIFO given as its network namespace,
one cannot join its cgroup."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from gureum.drivers.compute.hostnet import CommandError
from gureum.drivers.compute.launches import LaunchServer, compiled_guest, native_server
from gureum.drivers.compute.namespaces import GUEST_SCRIPT, host_python

HAS_CC = shutil.which("cc") is not None or shutil.which("gcc") is not None
KINDS = ["python", pytest.param("native", marks=pytest.mark.skipif(
    not HAS_CC, reason="no C compiler: the Python launch server is used"))]


def server(tmp_path: Path, kind: str) -> LaunchServer:
    return LaunchServer(host_python(), GUEST_SCRIPT, title_room=len(str(tmp_path)) + 512,
                        native_dir=tmp_path / "bin" if kind == "native" else None)


def config(d: Path, **extra: object) -> dict[str, object]:
    return {"id": "i-0123456789abcdef0", "mkdir": [str(d / "volume/upper")],
            "user_data": str(d / "user-data"), "user_data_b64": "IyEvYmluL3NoCg==",
            "cgroup_setup": {}, "cgroups": [], "console": str(d / "console.log"),
            "pidfile": str(d / "launcher.pid"), "wait_ready": 0.3, **extra}


@pytest.mark.parametrize("kind", KINDS)
def test_a_launcher_is_known_by_its_launch_command_line(tmp_path: Path, kind: str) -> None:
    d = tmp_path / "guests" / "i-0123456789abcdef0"
    os.mkfifo(tmp_path / "netns")  # the launcher blocks opening it: alive, harmless
    pids: list[int] = []

    async def main() -> None:
        launches = server(tmp_path, kind)
        try:
            pid = await launches.launch(str(d / "config.json"),
                                        config(d, netns=str(tmp_path / "netns"),
                                               hosts=str(d / "hosts"),
                                               hosts_text="10.0.0.1 a\n"))
            assert pid is not None
            pids.append(pid)
            assert launches.pid is not None
            assert launches.native is (kind == "native")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            assert cmdline[-3:] == [b"launch", str(d / "config.json").encode(), b"-"]
            assert cmdline[-4].endswith(b"guest.py")
            assert int((d / "launcher.pid").read_text()) == pid
            assert (d / "user-data").read_bytes() == b"#!/bin/sh\n"  # written by the launcher
            assert (d / "volume/upper").is_dir() and (d / "config.json").exists()
            assert (d / "hosts").read_text() == "10.0.0.1 a\n"  # (its hosts file, as given)
            assert "hosts_text" not in (d / "config.json").read_text()
            kept = json.loads((d / "config.json").read_text())  # (kept as JSON text)
            assert kept["id"] == "i-0123456789abcdef0" and kept["wait_ready"] == 0.3
            own = Path(f"/proc/{launches.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            if kind == "native":
                assert own[:2] == [native_server(tmp_path / "bin").encode(), b"serve"]
                # (its launchers import the script as compiled once, not compiling it)
                code = compiled_guest(tmp_path / "bin", host_python(), GUEST_SCRIPT)
                assert code is not None and own[4:] == [code.encode()]
            else:
                assert own[-1] == b"serve"  # (its padding is gone)
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await launches.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", KINDS)
def test_a_launcher_that_fails_says_why_and_a_dead_server_is_replaced(
        tmp_path: Path, kind: str) -> None:
    d = tmp_path / "guests" / "i-0123456789abcdef0"

    async def main() -> None:
        launches = server(tmp_path, kind)
        try:
            bad = config(d, cgroups=[str(tmp_path / "no-such-cgroup" / "cgroup.procs")])
            with pytest.raises(CommandError, match="no-such-cgroup"):
                await launches.launch(str(d / "config.json"), bad)
            first = launches.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            await asyncio.sleep(0.2)
            with pytest.raises(CommandError):  # the launcher fails again, from a new server
                await launches.launch(str(d / "config.json"), bad)
            assert launches.pid not in (None, first)
        finally:
            await launches.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_launcher_failing_after_the_wait_is_over_ends(tmp_path: Path) -> None:
    """A launcher forked by the Python server that fails once nobody waits for it
    any more (its ready pipe is closed) ends: it never goes on as a second launch
    server. (The C server's launchers are programs of their own.)"""
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


@pytest.mark.skipif(not HAS_CC, reason="no C compiler")
def test_the_c_server_is_built_once_per_source_and_kept(tmp_path: Path) -> None:
    built = native_server(tmp_path / "bin")
    assert built is not None and os.access(built, os.X_OK)
    assert native_server(tmp_path / "bin") == built  # (found, not built again)
    assert [p.name for p in (tmp_path / "bin").iterdir()] == [Path(built).name]


def test_the_launchers_script_is_compiled_once_and_imported_without_its_source(
        tmp_path: Path) -> None:
    """Where bytecode is not written (PYTHONDONTWRITEBYTECODE, a read-only
    install), each launcher compiled guest.py at its import; the C server's
    launchers import it compiled once, and its variable does not go on to the
    instance's processes."""
    script = tmp_path / "src" / "guest.py"
    script.parent.mkdir()
    script.write_text("def main(argv):\n    return 0\nVALUE = 1\n")
    code = compiled_guest(tmp_path / "bin", host_python(), script)
    assert code is not None and os.listdir(code) == ["guest.pyc"]
    assert compiled_guest(tmp_path / "bin", host_python(), script) == code  # (kept)
    launchd = (Path(GUEST_SCRIPT).with_name("launchd.c")).read_text()
    line = launchd.split('"import os, sys;', 1)[1].split('",\n', 1)[0]
    prelude = "import os, sys;" + line.replace('"\n', "").replace('                    "', "")
    check = (prelude.split("import guest;")[0]
             + "import guest; print(guest.__file__, guest.VALUE, "
             "'GUREUM_GUEST_CODE' in os.environ)")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "GUREUM_GUEST_CODE": code}
    done = subprocess.run([host_python(), "-S", "-v", "-c", check, str(script)], env=env,
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == [f"{code}/guest.pyc", "1", "False"]
    assert f"code object from '{code}/guest.pyc'" in done.stderr
    script.write_text("def main(argv):\n    return 0\nVALUE = 2\n")  # a new source
    assert compiled_guest(tmp_path / "bin", host_python(), script) not in (None, code)


def test_a_build_that_fails_leaves_nothing_behind(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """A script that does not compile gives None (the launchers compile it
    themselves), says why in the log, and leaves no partial build."""
    script = tmp_path / "src" / "guest.py"
    script.parent.mkdir()
    script.write_text("def main(argv:\n")
    with caplog.at_level("WARNING", logger="gureum.compute"):
        assert compiled_guest(tmp_path / "bin", host_python(), script) is None
    assert "guest.py did not compile" in caplog.text and "SyntaxError" in caplog.text
    assert list((tmp_path / "bin").iterdir()) == []


def test_without_a_c_compiler_the_python_server_is_used(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert native_server(tmp_path / "bin") is None


def test_a_c_server_that_cannot_start_gives_way_to_python(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gureum.drivers.compute.launches as launches_module

    monkeypatch.setattr(launches_module, "native_server",
                        lambda build_dir: str(tmp_path / "not-there" / "launchd"))
    d = tmp_path / "guests" / "i-0123456789abcdef0"

    async def main() -> None:
        launches = server(tmp_path, "native")
        try:
            bad = config(d, cgroups=[str(tmp_path / "no-such-cgroup" / "cgroup.procs")])
            with pytest.raises(CommandError, match="no-such-cgroup"):  # (a launcher said it)
                await launches.launch(str(d / "config.json"), bad)
            assert launches.native is False
            own = Path(f"/proc/{launches.pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            assert own[-1] == b"serve" and own[-2].endswith(b"guest.py")
        finally:
            await launches.close()

    asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.parametrize("kind", KINDS)
def test_a_launcher_derives_its_files_from_its_directory(tmp_path: Path, kind: str) -> None:
    """gureum sends the instance's directory and address; the launcher fills in
    the files, directories and ``ip`` commands that follow, and keeps them in
    CONFIG.json (what a relaunch reads)."""
    d = tmp_path / "guests" / "i-0123456789abcdef0"
    os.mkfifo(tmp_path / "netns")
    pids: list[int] = []

    async def main() -> None:
        launches = server(tmp_path, kind)
        try:
            pid = await launches.launch(str(d / "config.json"), {
                "id": "i-0123456789abcdef0", "dir": str(d), "cgroup_setup": {},
                "cgroups": [], "wait_ready": 0.3, "netns": str(tmp_path / "netns"),
                "address": "10.0.0.5", "prefix": "24", "gateway": "10.0.0.1",
                "user_data_b64": "IyEvYmluL3NoCg=="})
            assert pid is not None
            pids.append(pid)
            assert int((d / "launcher.pid").read_text()) == pid
            assert (d / "user-data").read_bytes() == b"#!/bin/sh\n"
            assert (d / "volume/upper").is_dir() and (d / "volume/work").is_dir()
            kept = json.loads((d / "config.json").read_text())
            assert kept["net"] == ["10.0.0.5", 24, "10.0.0.1"]  # (see guest.address)
            assert kept["root"] == f"{d}/root" and kept["console"] == f"{d}/console.log"
            assert kept["rules"] == f"{d}/rules.nft" and kept["ready"] == f"{d}/ready"
            assert kept["netns"] == str(tmp_path / "netns")  # (given: kept)
            assert "prefix" not in kept and "user_data_b64" not in kept
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            await launches.close()

    asyncio.run(main())


def test_answers_are_read_with_or_without_an_error(tmp_path: Path) -> None:
    async def main() -> None:
        launches = server(tmp_path, "python")
        loop = asyncio.get_running_loop()
        waiting = {n: loop.create_future() for n in range(4)}
        launches._waiting.update(waiting)
        launches._answer(b'{"id": 0, "error": null, "pid": 4242}')
        launches._answer(b'{"id": 1, "error": null, "pid": null}')
        launches._answer(b'{"id": 2, "error": "launch failed: \\"x\\"", "pid": null}')
        launches._answer(b'{"id": 3, "error": null, "pid": 7} trailing')  # (not an answer)
        launches._answer(b'not json')
        assert waiting[0].result() == {"id": 0, "error": None, "pid": 4242}
        assert waiting[1].result() == {"id": 1, "error": None, "pid": None}
        assert waiting[2].result() == {"id": 2, "error": 'launch failed: "x"', "pid": None}
        assert not waiting[3].done()

    asyncio.run(main())
