"""The names driver: the hosts-file block and the fake keep the same contract;
the real one on a copy of a hosts file, and once on the machine's own file
(a name really resolves, and nothing is left behind)."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.drivers.names import HOSTS, HostsFile, MemoryNames, NameRegistry


@pytest.fixture(params=["memory", "hosts"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> NameRegistry:
    if request.param == "memory":
        return MemoryNames()
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    return HostsFile("test", hosts, tmp_path / "lock")


def test_contract(registry: NameRegistry) -> None:
    registry.add("db.example.rds.localhost", "127.9.0.1")
    registry.add("LB.example.elb.localhost", "127.9.0.2")
    registry.add("db.example.rds.localhost", "127.9.0.3")
    assert registry.names() == {
        "db.example.rds.localhost": "127.9.0.3", "lb.example.elb.localhost": "127.9.0.2"
    }
    registry.remove("db.example.rds.localhost")
    registry.remove("never.added")
    assert registry.names() == {"lb.example.elb.localhost": "127.9.0.2"}
    registry.clear()
    assert registry.names() == {}


def test_blocks_of_two_owners_are_independent(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n::1 ip6-localhost\n")
    a = HostsFile("a", hosts, tmp_path / "lock")
    b = HostsFile("b", hosts, tmp_path / "lock")
    a.add("one.localhost", "127.9.0.1")
    b.add("two.localhost", "127.9.0.2")
    a.clear()
    assert b.names() == {"two.localhost": "127.9.0.2"}
    assert a.names() == {}
    b.clear()
    assert hosts.read_text() == "127.0.0.1 localhost\n::1 ip6-localhost\n"


def test_blocks_of_dead_processes_are_dropped_and_the_newest_comes_first(
    tmp_path: Path,
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    dead = subprocess.Popen(["true"])
    dead.wait()
    gone = HostsFile("gone", hosts, tmp_path / "lock", pid=dead.pid)
    gone.add("db.localhost", "127.9.0.1")
    live = HostsFile("live", hosts, tmp_path / "lock")
    older = HostsFile("older", hosts, tmp_path / "lock", pid=os.getppid())
    older.add("db.localhost", "127.9.0.2")
    live.add("db.localhost", "127.9.0.3")
    text = hosts.read_text()
    assert "127.9.0.1" not in text  # the dead owner's block is gone
    # The most recently edited block comes first: its address wins.
    assert text.index("127.9.0.3") < text.index("127.9.0.2")
    assert older.names() == {"db.localhost": "127.9.0.2"}


@pytest.fixture
def machine_hosts() -> Iterator[HostsFile]:
    if not HostsFile.usable() or os.geteuid() != 0:
        pytest.skip("the machine's hosts file is not writable here")
    tag = f"test-{uuid.uuid4().hex[:8]}"
    registry = HostsFile(tag)
    before = _not_gureums(HOSTS.read_text())
    try:
        yield registry
    finally:
        registry.clear()
        # Its own block is gone and the machine's own lines are as they were
        # (other gureums, e.g. of tests running alongside, edit their blocks).
        after = HOSTS.read_text()
        assert tag not in after
        assert _not_gureums(after) == before


def _not_gureums(text: str) -> list[str]:
    """The lines of a hosts file outside gureums' blocks."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("# BEGIN gureum "):
            inside = True
        elif line.startswith("# END gureum "):
            inside = False
        elif not inside:
            out.append(line)
    return out


def test_a_name_resolves_for_ordinary_clients(machine_hosts: HostsFile) -> None:
    name = f"db-{uuid.uuid4().hex[:8]}.test.rds.localhost"
    machine_hosts.add(name, "127.9.8.7")
    assert socket.gethostbyname(name) == "127.9.8.7"
