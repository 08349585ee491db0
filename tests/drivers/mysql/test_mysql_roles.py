"""The MariaDB driver's Multi-AZ roles without a running server: the option
file a primary and its standby start with, and when a standby being promoted
counts as having applied what it received."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gureum.drivers.mysql import MariaDBServers, find_mariadbd
from gureum.drivers.mysql import server as mysql_server
from gureum.drivers.postgres import EngineSpec

pytestmark = pytest.mark.skipif(find_mariadbd() is None, reason="MariaDB is not installed")

APPLIED = "Slave has read all relay log; waiting for more updates"


def servers(tmp_path: Path) -> MariaDBServers:
    return MariaDBServers(tmp_path / "mysql")


def conf(s: MariaDBServers, id: str, *markers: str) -> list[str]:
    s.dir(id).mkdir(parents=True, exist_ok=True)
    for name in markers:
        (s.dir(id) / name).write_text("m0000000000b")
    return s._write_conf(EngineSpec(id, "127.0.0.9", 3306)).read_text().splitlines()


def test_roles_in_the_option_file(tmp_path: Path) -> None:
    s = servers(tmp_path)
    primary = conf(s, "m0000000000a", "sync-standby")
    assert "rpl_semi_sync_master_enabled = ON" in primary
    assert "rpl_semi_sync_master_wait_point = AFTER_SYNC" in primary
    assert "rpl_semi_sync_master_wait_no_slave = ON" in primary
    assert f"rpl_semi_sync_master_timeout = {int(mysql_server.SYNC_TIMEOUT * 1000)}" in primary
    assert not any(line.startswith("rpl_semi_sync_slave") for line in primary)
    standby = conf(s, "m0000000000b", "replica", "standby")
    assert "rpl_semi_sync_slave_enabled = ON" in standby and "read_only = 1" in standby
    assert not any(line.startswith("rpl_semi_sync_master") for line in standby)
    # A read replica (no standby marker) and a plain instance stay asynchronous.
    for lines in (conf(s, "m0000000000c", "replica"), conf(s, "m0000000000d")):
        assert not any(line.startswith("rpl_semi_sync") for line in lines)


def status(exec_pos: int, read_pos: int, state: str = "Reading event from the relay log",
           sql: str = "Yes") -> dict[str, str]:
    return {"Slave_SQL_Running": sql, "Relay_Master_Log_File": "mysql-bin.000002",
            "Master_Log_File": "mysql-bin.000002", "Exec_Master_Log_Pos": str(exec_pos),
            "Read_Master_Log_Pos": str(read_pos), "Slave_SQL_Running_State": state}


def polls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          answers: list[dict[str, str]]) -> int:
    """How many times ``_wait_applied`` asked for the replica's status."""
    s = servers(tmp_path)
    asked = 0

    async def fake_status(id: str) -> dict[str, str]:
        nonlocal asked
        asked += 1
        return answers[min(asked, len(answers)) - 1]

    monkeypatch.setattr(s, "_slave_status", fake_status)
    monkeypatch.setattr(mysql_server, "POLL", 0.001)
    asyncio.run(asyncio.wait_for(s._wait_applied("m0000000000b"), 10))
    return asked


def test_waits_until_the_relay_log_is_applied(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    behind = [status(100, 900)] * 20
    assert polls(tmp_path, monkeypatch, [*behind, status(900, 900)]) == 21
    # Waiting for more with everything applied is no reason to stop early...
    waiting = [status(100, 900, APPLIED)] * 3
    assert polls(tmp_path, monkeypatch, [*waiting, status(500, 900), status(900, 900)]) == 5


def test_an_incomplete_transaction_or_a_stopped_applier_ends_the_wait(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # ...but a position that stays put while the applier waits for the rest of
    # a transaction its primary never finished sending does, after a few polls.
    assert polls(tmp_path, monkeypatch, [status(100, 900, APPLIED)]) == 6
    assert polls(tmp_path, monkeypatch, [status(100, 900, sql="No")]) == 1
    assert polls(tmp_path, monkeypatch, [{}]) == 1


def test_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mysql_server, "APPLY_TIMEOUT", 0.05)
    assert polls(tmp_path, monkeypatch, [status(100, 900)]) < 1000
