"""Names published from a control loop (instances' private DNS names) are
written in batches: a burst of changes is one update of the registry -- one
rewrite of the hosts file and of each instance's -- made off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from pathlib import Path

from gureum.drivers.names import GuestNames, HostsFile, MemoryNames, Publisher, own_hosts


class Counting(MemoryNames):
    def __init__(self) -> None:
        super().__init__()
        self.updates: list[tuple[dict[str, str], set[str]]] = []
        self.threads: set[int] = set()

    def update(self, added: dict[str, str], removed: Iterable[str] = ()) -> None:
        gone = set(removed)
        self.updates.append((dict(added), gone))
        self.threads.add(threading.get_ident())
        super().update(added, gone)


def test_a_burst_of_puts_is_one_update_off_the_event_loop() -> None:
    registry = Counting()
    publisher = Publisher(registry)

    async def burst() -> None:
        for i in range(50):
            publisher.put(f"i-{i}", f"ip-172-31-0-{i}.ec2.internal", f"172.31.0.{i}")
            await asyncio.sleep(0)  # (reconciles of a burst run on successive ticks)
        await publisher.flushed()

    asyncio.run(burst())
    assert len(registry.updates) == 1
    assert len(registry.names()) == 50
    assert registry.names()["ip-172-31-0-7.ec2.internal"] == "172.31.0.7"
    assert threading.get_ident() not in registry.threads


def test_puts_spaced_under_the_delay_are_one_update() -> None:
    registry = Counting()
    publisher = Publisher(registry, delay=0.05, longest=2.0)

    async def calls() -> None:  # (RunInstances called one after another)
        for i in range(10):
            publisher.put(f"i-{i}", f"ip-172-31-0-{i}.ec2.internal", f"172.31.0.{i}")
            await asyncio.sleep(0.01)
        await publisher.flushed()

    asyncio.run(calls())
    assert len(registry.updates) == 1 and len(registry.names()) == 10


def test_puts_again_as_they_were_write_nothing_and_drops_remove() -> None:
    registry = Counting()
    publisher = Publisher(registry)

    async def run() -> None:
        publisher.put("i-1", "ip-172-31-0-1.ec2.internal", "172.31.0.1")
        publisher.put("i-2", "ip-172-31-0-2.ec2.internal", "172.31.0.2")
        await publisher.flushed()
        publisher.put("i-1", "ip-172-31-0-1.ec2.internal", "172.31.0.1")  # (a resync)
        publisher.drop("i-unknown")
        await publisher.flushed()
        assert len(registry.updates) == 1
        publisher.drop("i-1")
        publisher.drop("i-1")
        await publisher.flushed()
        assert registry.updates[-1] == ({}, {"ip-172-31-0-1.ec2.internal"})
        assert registry.names() == {"ip-172-31-0-2.ec2.internal": "172.31.0.2"}
        # A put then a drop within one batch publishes nothing.
        publisher.put("i-3", "ip-172-31-0-3.ec2.internal", "172.31.0.3")
        publisher.drop("i-3")
        publisher.drop_all()
        await publisher.flushed()
        assert registry.names() == {}
        assert len(registry.updates) == 3

    asyncio.run(run())


def test_no_registry_publishes_nothing() -> None:
    async def run() -> None:
        publisher = Publisher(None)
        publisher.put("i-1", "ip-172-31-0-1.ec2.internal", "172.31.0.1")
        await publisher.flushed()

    asyncio.run(run())


def test_update_writes_the_hosts_file_and_guests_once(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    inner = HostsFile("t1", path=hosts, lock=tmp_path / "lock")
    writes: list[int] = []
    real = inner._write

    def counted(*args: object) -> None:
        writes.append(1)
        real(*args)  # type: ignore[arg-type]

    inner._write = counted  # type: ignore[method-assign]
    names = GuestNames(inner)
    guest = tmp_path / "guests" / "i-1" / "hosts"
    names.write_guest(guest, own_hosts("10.0.1.5", "ip-10-0-1-5.ec2.internal", "ip-10-0-1-5"))
    names.watch(tmp_path / "guests")
    names.add("old.example", "10.0.9.9")
    writes.clear()
    names.update({f"ip-10-0-2-{i}.ec2.internal": f"10.0.2.{i}" for i in range(20)},
                 ["old.example", "never.example"])
    assert len(writes) == 1
    text = hosts.read_text()
    assert "10.0.2.7 ip-10-0-2-7.ec2.internal" in text and "old.example" not in text
    assert "10.0.2.19 ip-10-0-2-19.ec2.internal" in guest.read_text()
    assert "old.example" not in guest.read_text()
    names.update({"ip-10-0-2-3.ec2.internal": "10.0.2.3"}, ["old.example"])  # (as it was)
    assert len(writes) == 1
