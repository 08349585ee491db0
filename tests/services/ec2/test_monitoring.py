"""The EC2 metric source: CPU as a percent of the instance's vCPUs, counters
as deltas, basic (5 min) against detailed (1 min) cadence, reboots."""

from __future__ import annotations

import asyncio
from typing import Any

from gureum.drivers.compute import Usage
from gureum.services.ec2.monitoring import InstanceMetrics


class Clock:
    t = 1000.0

    def monotonic(self) -> float:
        return self.t


class Store:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.resources = self
        self.docs = docs

    def list(self, kind: str, where: Any = None) -> list[dict[str, Any]]:
        return [d for d in self.docs if where is None or where(d)]


class Driver:
    def __init__(self) -> None:
        self.used: dict[str, Usage] = {}

    def usage(self, id: str) -> Usage | None:
        return self.used.get(id)


def doc(id: str, monitoring: str) -> dict[str, Any]:
    return {"id": id, "account": "1", "region": "r", "state": "running", "type": "t3.micro",
            "image_id": "ami-1", "monitoring": monitoring}


def test_cpu_percent_of_allowance_and_cadence() -> None:
    clock, driver = Clock(), Driver()
    source = InstanceMetrics(Store([doc("i-d", "enabled"), doc("i-b", "disabled")]), driver,
                             clock)
    for i in ("i-d", "i-b"):
        driver.used[i] = Usage(10.0, 100, 1000, bytes_in=5, packets_in=1)
    assert list(asyncio.run(source.collect(0.0))) == []  # the baseline
    clock.t += 60
    # t3.micro has 2 vCPUs: 60 s of CPU in 60 s is half its allowance.
    driver.used["i-d"] = Usage(70.0, 500, 1000, bytes_in=105, packets_in=3)
    driver.used["i-b"] = Usage(70.0, 500, 1000)
    got = {(s.name, s.dimensions): s.value for s in asyncio.run(source.collect(0.0))}
    assert got[("CPUUtilization", (("InstanceId", "i-d"),))] == 50.0
    assert got[("NetworkIn", (("InstanceId", "i-d"),))] == 100
    assert got[("NetworkPacketsIn", (("InstanceId", "i-d"),))] == 2
    assert got[("mem_used_percent", (("InstanceId", "i-d"),))] == 50.0
    assert not any(dims == (("InstanceId", "i-b"),) for _, dims in got)  # basic: not yet
    clock.t += 240
    got = {(s.name, s.dimensions): s.value for s in asyncio.run(source.collect(0.0))}
    assert got[("CPUUtilization", (("InstanceId", "i-b"),))] == round(100 * 60 / 600, 3)
    # A reboot resets the counters: a new baseline, no negative datapoint.
    clock.t += 60
    driver.used["i-d"] = Usage(1.0, 500, 1000)
    assert not any(s.dimensions == (("InstanceId", "i-d"),)
                   for s in asyncio.run(source.collect(0.0)))


class KeptStore(Store):
    """Records read one by one (``get``), each read counted."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        super().__init__(docs)
        self.gets: list[str] = []

    def get(self, kind: str, account: str, region: str, id: str) -> dict[str, Any] | None:
        self.gets.append(id)
        return next((d for d in self.docs if d["id"] == id), None)


def test_running_instances_given_read_only_records_with_a_datapoint_due() -> None:
    docs = [doc("i-d", "enabled"), doc("i-b", "disabled"),
            {**doc("i-t", "enabled"), "state": "terminated"}]
    clock, driver = Clock(), Driver()
    kept = KeptStore(docs)
    given = InstanceMetrics(kept, driver, clock,
                            running=lambda: [("1", "r", "i-d"), ("1", "r", "i-b")])
    listed = InstanceMetrics(Store(docs), Driver(), Clock())
    listed.driver, listed.clock = driver, clock
    for i in ("i-d", "i-b", "i-t"):
        driver.used[i] = Usage(10.0, 100, 1000)
    assert list(asyncio.run(given.collect(0.0))) == list(asyncio.run(listed.collect(0.0))) == []
    clock.t += 30
    assert list(asyncio.run(given.collect(0.0))) == [] and kept.gets == []  # none due
    clock.t += 30
    driver.used["i-d"] = Usage(40.0, 300, 1000)
    driver.used["i-b"] = Usage(20.0, 300, 1000)
    ours = list(asyncio.run(given.collect(0.0)))
    assert ours and ours == list(asyncio.run(listed.collect(0.0)))
    assert sorted(kept.gets) == ["i-b", "i-d"]  # (i-b read, found not due at 5 minutes)
    # A record no longer running when read gives nothing.
    kept.gets.clear()
    docs[0]["state"] = "stopping"
    clock.t += 60
    assert list(asyncio.run(given.collect(0.0))) == [] and kept.gets == ["i-d", "i-b"]
