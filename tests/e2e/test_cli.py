"""The ``gureum`` command as a user runs it: real processes, real ports."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

GUREUM = [sys.executable, "-m", "gureum"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GUREUM_", "AWS_"))}
    full_env.update(env or {})
    return subprocess.run(
        [*GUREUM, *args], capture_output=True, text=True, timeout=60, env=full_env
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _state_pid(data_dir: Path) -> int | None:
    try:
        pid = json.loads((data_dir / "gureum.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None
    return int(pid)


@contextlib.contextmanager
def _killed_at_exit(data_dir: Path) -> Iterator[list[int]]:
    """Kill (by process group) every gureum this test started, whatever happens."""
    pids: list[int] = []
    try:
        yield pids
    finally:
        pid = _state_pid(data_dir)
        for p in {*pids, *([pid] if pid else [])}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGKILL)


def _assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gureum: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


def test_up_status_env_aws_down(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    with _killed_at_exit(data) as pids:
        up = _run("up", "--detach", "--port", str(port), "--data-dir", str(data))
        pid = _state_pid(data)
        if pid:
            pids.append(pid)
        assert up.returncode == 0, up.stderr
        assert f"http://localhost:{port}" in up.stdout
        assert "test" in up.stdout and "000000000000" in up.stdout
        assert "gureum env" in up.stdout
        assert pid is not None and _alive(pid)
        assert (data / "gureum.log").exists()

        status = _run("status", "--data-dir", str(data))
        assert status.returncode == 0, status.stderr
        assert "running" in status.stdout
        assert f"http://localhost:{port}" in status.stdout
        assert str(pid) in status.stdout
        assert any(line.split()[:1] == ["sts"] for line in status.stdout.splitlines())

        as_json = json.loads(_run("status", "--json", "--data-dir", str(data)).stdout)
        assert as_json["pid"] == pid and "sts" in as_json["services"]

        by_endpoint = _run("status", "--endpoint", f"http://127.0.0.1:{port}")
        assert by_endpoint.returncode == 0 and str(pid) in by_endpoint.stdout

        env = _run("env", "--data-dir", str(data), env={"GUREUM_REGION": "eu-west-1"})
        assert env.returncode == 0, env.stderr
        exports = {}
        for line in env.stdout.splitlines():
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").partition("=")
                exports[name] = shlex.split(value)[0]
        assert exports == {
            "AWS_ENDPOINT_URL": f"http://localhost:{port}",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_REGION": "eu-west-1",
        }
        # The exports work in a real shell.
        shell = subprocess.run(
            ["bash", "-c", f'eval "{env.stdout}"; echo "$AWS_ENDPOINT_URL $AWS_REGION"'],
            capture_output=True, text=True, timeout=30,
        )
        assert shell.stdout.strip() == f"http://localhost:{port} eu-west-1"

        aws = _run(
            "aws", "sts", "get-caller-identity", "--output", "json",
            env={"GUREUM_DATA_DIR": str(data), "AWS_SESSION_TOKEN": "stale"},
        )
        assert aws.returncode == 0, aws.stderr
        assert json.loads(aws.stdout)["Account"] == "000000000000"
        # The AWS CLI's exit code passes through.
        bad = _run("aws", "sts", "no-such-operation", env={"GUREUM_DATA_DIR": str(data)})
        assert bad.returncode == 2, (bad.returncode, bad.stderr)  # awscli v1: usage error

        # A second gureum on the same data directory is refused.
        again = _run("up", "--port", str(_free_port()), "--data-dir", str(data))
        _assert_one_line_error(again, "already running", str(pid))

        down = _run("down", "--data-dir", str(data))
        assert down.returncode == 0, down.stderr
        assert not _alive(pid)
        assert not (data / "gureum.json").exists()

        gone = _run("status", "--data-dir", str(data))
        assert gone.returncode == 1
        assert "gureum is not running" in gone.stderr
        down_again = _run("down", "--data-dir", str(data))
        assert down_again.returncode == 1
        assert "gureum is not running" in down_again.stderr


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detach"])
def test_busy_port_is_a_one_line_error(tmp_path: Path, detach: bool) -> None:
    data = tmp_path / "data"
    with socket.socket() as busy, _killed_at_exit(data):
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        flags = ["--detach"] if detach else []
        result = _run("up", *flags, "--port", str(port), "--data-dir", str(data))
        _assert_one_line_error(result, str(port))
        assert _state_pid(data) is None


@pytest.mark.parametrize("detach", [False, True], ids=["foreground", "detach"])
def test_unusable_data_dir_is_a_one_line_error(tmp_path: Path, detach: bool) -> None:
    regular = tmp_path / "a-file"
    regular.write_text("not a directory")
    data = regular / "data"
    flags = ["--detach"] if detach else []
    result = _run("up", *flags, "--port", str(_free_port()), "--data-dir", str(data))
    _assert_one_line_error(result, str(data))


def test_status_and_down_when_nothing_runs(tmp_path: Path) -> None:
    port = str(_free_port())
    for command in ("status", "down"):
        result = _run(command, "--port", port, "--data-dir", str(tmp_path))
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"gureum is not running (nothing answers at http://localhost:{port})"
        )


def test_env_without_a_running_gureum_uses_the_settings(tmp_path: Path) -> None:
    result = _run(
        "env", "--data-dir", str(tmp_path),
        env={"GUREUM_PORT": "4999", "GUREUM_ACCESS_KEY": "AKID", "GUREUM_SECRET_KEY": "s e"},
    )
    assert result.returncode == 0
    assert "export AWS_ENDPOINT_URL=http://localhost:4999" in result.stdout
    assert "export AWS_ACCESS_KEY_ID=AKID" in result.stdout
    assert "export AWS_SECRET_ACCESS_KEY='s e'" in result.stdout


def test_aws_missing_says_how_to_install(tmp_path: Path) -> None:
    # A Python with no aws beside it and nothing on PATH.
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.symlink_to(sys.executable)
    code = (
        "import sys; sys.executable = sys.argv[1]; sys.argv[1:] = ['aws', 's3', 'ls'];"
        "from gureum.cli import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(python)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PATH": str(tmp_path / "empty")},
    )
    assert result.returncode == 1
    assert "pip install 'gureum[cli]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_down_waits_for_the_process(tmp_path: Path) -> None:
    """``down`` returns only once the server process is gone, within seconds."""
    port = _free_port()
    data = tmp_path / "data"
    with _killed_at_exit(data) as pids:
        assert _run("up", "--detach", "--port", str(port), "--data-dir", str(data)).returncode == 0
        pid = _state_pid(data)
        assert pid is not None
        pids.append(pid)
        started = time.monotonic()
        assert _run("down", "--port", str(port), "--data-dir", str(data)).returncode == 0
        assert time.monotonic() - started < 15
        assert not _alive(pid)
