"""A test world for services that take addresses on EC2's instance network
(load balancers, DB instances, cache nodes): the real EC2 service and the
services under test in one ``Env``, on fake drivers, with a fake clock. The
compute driver's network is isolated (as the namespace driver's) unless
``isolated`` is False (the loopback fallback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.drivers.compute import NetworkPlan
from gureum.drivers.compute.fake import FakeComputeDriver
from gureum.drivers.names import MemoryNames
from gureum.services.base import Call, Env, Identity, Service
from gureum.services.common.addresses import AddressPool
from gureum.services.ec2 import EC2
from gureum.services.ec2.core import DRIVER_KEY as COMPUTE_KEY
from gureum.store import Store

ACCOUNT = "000000000000"


def call(service: str) -> Call:
    return Call(service, "Test", ACCOUNT, "us-east-1", Identity.root(ACCOUNT), "r")


class ServiceWorld:
    """EC2 and ``services`` (name -> class) on fake drivers (``extras``: the
    services' own driver keys); started in order, stopped in reverse."""

    def __init__(self, tmp: Path, services: dict[str, type[Service]], extras: dict[str, Any],
                 *, isolated: bool = True, loopback: str = "127.251",
                 compute: FakeComputeDriver | None = None) -> None:
        self.clock = FakeClock()
        self.compute = compute or FakeComputeDriver(
            NetworkPlan("172.31.0.0/16", "172.31.0.1", 0, isolated=isolated))
        self.store = Store.open(tmp / "gureum.db")
        self.loops = LoopRunner()
        self.names = MemoryNames()
        registry: dict[str, Service] = {}
        self.env = Env(settings=Settings(data_dir=tmp), store=self.store, clock=self.clock,
                       loops=self.loops, names=self.names,
                       addresses=AddressPool(self.store, loopback),
                       extras={COMPUTE_KEY: self.compute, **extras, "services": registry})
        self.ec2 = EC2(self.env)
        registry["ec2"] = self.ec2
        for name, cls in services.items():
            registry[name] = cls(self.env)
        self.services = list(registry.values())

    async def start(self) -> None:
        for s in self.services:
            await s.start()
        self.loops.start()

    async def stop(self) -> None:
        await self.loops.stop()
        for s in reversed(self.services):
            await s.stop()
        self.store.close()
