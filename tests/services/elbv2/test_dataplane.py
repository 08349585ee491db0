"""The load-balancer loop on the fake proxy driver with a fake clock: a load
balancer turns active once its proxy runs, specs follow listeners, rules and
targets, drains end after the deregistration delay, deletion stops the proxy,
and target health maps the driver's observations to AWS's states."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.drivers.names import MemoryNames
from gureum.drivers.proxy import FakeProxyDriver
from gureum.services.base import Call, Env, Identity
from gureum.services.common.addresses import AddressPool
from gureum.services.elbv2 import ELBv2
from gureum.services.elbv2.core import DRIVER_KEY
from gureum.store import Store

CALL = Call("elbv2", "Test", "000000000000", "us-east-1", Identity.root("000000000000"), "r")


class World:
    def __init__(self, tmp: Path) -> None:
        self.clock = FakeClock()
        self.driver = FakeProxyDriver()
        self.store = Store.open(tmp / "gureum.db")
        self.loops = LoopRunner()
        self.names = MemoryNames()
        env = Env(settings=Settings(data_dir=tmp), store=self.store, clock=self.clock,
                  loops=self.loops, names=self.names,
                  addresses=AddressPool(self.store, "127.250"),
                  extras={DRIVER_KEY: self.driver})
        self.elb = ELBv2(env)

    async def start(self) -> None:
        await self.elb.start()
        self.loops.start()

    async def settle(self, seconds: float = 0.1) -> None:
        await self.clock.advance(seconds)
        await self.loops.idle()

    async def stop(self) -> None:
        await self.loops.stop()
        await self.elb.stop()
        self.store.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_lifecycle_rules_drain_and_health(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        elb = w.elb
        lb = elb.create_load_balancer(CALL, {"Name": "web"})["LoadBalancers"][0]
        tg = elb.create_target_group(CALL, {"Name": "tg", "Protocol": "HTTP", "Port": 80,
                                            "TargetType": "ip"})["TargetGroups"][0]
        elb.register_targets(CALL, {"TargetGroupArn": tg["TargetGroupArn"],
                                    "Targets": [{"Id": "10.0.0.1"}, {"Id": "10.0.0.2"}]})
        await w.settle()
        out = elb.describe_load_balancers(CALL, {})["LoadBalancers"][0]
        assert out["State"]["Code"] == "active"
        assert w.names.names()[lb["DNSName"]].startswith("127.250.")
        health = await elb.describe_target_health(CALL, {"TargetGroupArn": tg["TargetGroupArn"]})
        assert {d["TargetHealth"]["Reason"] for d in health["TargetHealthDescriptions"]} == {
            "Target.NotInUse"}

        elb.create_listener(CALL, {"LoadBalancerArn": lb["LoadBalancerArn"], "Protocol": "HTTP",
                                   "Port": 80, "DefaultActions": [
                                       {"Type": "forward",
                                        "TargetGroupArn": tg["TargetGroupArn"]}]})
        await w.settle()
        (spec,) = w.driver.specs.values()
        assert spec.listeners[0].port == 80
        assert [s.host for s in spec.backends[0].servers] == ["10.0.0.1", "10.0.0.2"]

        w.driver.set_health("10.0.0.1", 80, "healthy")
        w.driver.set_health("10.0.0.2", 80, "unhealthy", "timeout")
        health = await elb.describe_target_health(CALL, {"TargetGroupArn": tg["TargetGroupArn"]})
        got = {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
               for d in health["TargetHealthDescriptions"]}
        assert got == {"10.0.0.1": ("healthy", None),
                       "10.0.0.2": ("unhealthy", "Target.Timeout")}

        elb.modify_target_group_attributes(CALL, {
            "TargetGroupArn": tg["TargetGroupArn"],
            "Attributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}]})
        elb.deregister_targets(CALL, {"TargetGroupArn": tg["TargetGroupArn"],
                                      "Targets": [{"Id": "10.0.0.2"}]})
        await w.settle()
        (spec,) = w.driver.specs.values()
        assert [s.draining for s in spec.backends[0].servers] == [False, True]
        await w.settle(31)
        (spec,) = w.driver.specs.values()
        assert [s.host for s in spec.backends[0].servers] == ["10.0.0.1"]

        elb.delete_load_balancer(CALL, {"LoadBalancerArn": lb["LoadBalancerArn"]})
        await w.settle()
        assert w.driver.specs == {}
        assert w.names.names() == {}
        await w.stop()

    run(scenario())
