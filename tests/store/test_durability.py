"""A commit survives ``kill -9``: every id reported committed is there after reopen."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from gureum.store import Store

WRITER = """
import sys
from pathlib import Path
from gureum.store import Store

store = Store.open(Path(sys.argv[1]))
i = 0
while True:
    key = f"r{i:08d}"
    with store.tx():
        store.resources.put("record", "000000000000", "us-east-1", key, {"i": i, "pad": "x" * 512})
        store.set_meta("last", key)
    sys.stdout.write(key + "\\n")
    sys.stdout.flush()
    i += 1
"""


def test_kill_9_loses_no_committed_record(tmp_path: Path) -> None:
    path = tmp_path / "gureum.db"
    rng = random.Random()
    target = rng.randint(200, 2000)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    committed: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(committed) < target and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed.append(line.decode().strip())
        assert len(committed) == target, proc.stderr.read().decode() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # Lines written before the kill were committed too; a torn last line is not counted.
        rest = proc.stdout.read().decode()
        committed += [ln for ln in rest.split("\n")[:-1] if ln]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    assert proc.returncode == -signal.SIGKILL
    store = Store.open(path)
    try:
        assert store.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        present = {d["i"] for d in store.resources.list("record")}
        missing = [k for k in committed if int(k[1:]) not in present]
        assert missing == []
        assert store.get_meta("last") is not None
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    finally:
        conn.close()
