"""A gureum in one event loop for Auto Scaling unit tests: the real EC2 service
on the fake compute driver, CloudWatch, and Auto Scaling, with a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.drivers.compute.fake import FakeComputeDriver
from gureum.services.autoscaling import AutoScaling
from gureum.services.autoscaling.core import TIMING_KEY, Timing
from gureum.services.autoscaling.fleet import SERVICES_KEY
from gureum.services.base import Call, Env, Identity, Service
from gureum.services.cloudwatch import CloudWatch
from gureum.services.cloudwatch.sources import sources
from gureum.services.ec2 import EC2
from gureum.services.ec2.catalog import default_image_id
from gureum.services.ec2.core import DRIVER_KEY
from gureum.services.ec2.monitoring import InstanceMetrics
from gureum.store import Store

ACCOUNT = "000000000000"
REGION = "us-east-1"


def call(service: str = "autoscaling", operation: str = "Op") -> Call:
    return Call(service, operation, ACCOUNT, REGION, Identity.root(ACCOUNT), "req")


class World:
    def __init__(self, tmp: Path) -> None:
        self.clock = FakeClock()
        self.driver = FakeComputeDriver()
        self.store = Store.open(tmp / "gureum.db")
        self.loops = LoopRunner()
        services: dict[str, Service] = {}
        self.env = Env(settings=Settings(data_dir=tmp), store=self.store, clock=self.clock,
                       loops=self.loops,
                       extras={DRIVER_KEY: self.driver, SERVICES_KEY: services,
                               TIMING_KEY: Timing()})
        self.ec2 = EC2(self.env)
        self.cloudwatch = CloudWatch(self.env)
        self.asg = AutoScaling(self.env)
        services.update(ec2=self.ec2, cloudwatch=self.cloudwatch, autoscaling=self.asg)

    async def start(self) -> None:
        for service in (self.ec2, self.cloudwatch, self.asg):
            await service.start()
        # The tests publish the members' CPU themselves (``cpu()``); EC2's own
        # source would add the fake driver's idle measurements to the average.
        sources(self.env).remove(InstanceMetrics.name)
        self.loops.start()

    async def settle(self, seconds: float = 1.0, steps: int = 1) -> None:
        for _ in range(steps):
            await self.clock.advance(seconds)
            await self.loops.idle()

    async def stop(self) -> None:
        await self.loops.stop()
        for service in (self.asg, self.cloudwatch, self.ec2):
            await service.stop()
        self.store.close()

    # -- shortcuts -------------------------------------------------------------------

    def api(self, operation: str, **params: Any) -> dict[str, Any]:
        snake = "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")
        out: dict[str, Any] = getattr(self.asg, snake)(call("autoscaling", operation), params)
        return out

    def config(self, name: str = "lc", **params: Any) -> None:
        full = {"ImageId": default_image_id(), "InstanceType": "t3.micro", **params}
        self.api("CreateLaunchConfiguration", LaunchConfigurationName=name, **full)

    def group(self, name: str = "web") -> dict[str, Any]:
        out = self.api("DescribeAutoScalingGroups", AutoScalingGroupNames=[name])
        found: dict[str, Any] = out["AutoScalingGroups"][0]
        return found

    def members(self, name: str = "web", state: str | None = "InService") -> list[str]:
        return sorted(i["InstanceId"] for i in self.group(name)["Instances"]
                      if state is None or i["LifecycleState"] == state)

    def ec2_state(self, instance_id: str) -> str:
        out = self.ec2.describe_instances(call("ec2"), {"InstanceIds": [instance_id]})
        name: str = out["Reservations"][0]["Instances"][0]["State"]["Name"]
        return name

    def running(self) -> list[str]:
        out = self.ec2.describe_instances(call("ec2"), {})
        return sorted(i["InstanceId"] for r in out["Reservations"] for i in r["Instances"]
                      if i["State"]["Name"] in ("pending", "running"))

    def activities(self, name: str = "web") -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.api("DescribeScalingActivities",
                                             AutoScalingGroupName=name)["Activities"]
        return out


def scenario(fn: Callable[[World], Awaitable[None]]) -> Callable[[Path], None]:
    def test(tmp_path: Path) -> None:
        async def main() -> None:
            world = World(tmp_path)
            await world.start()
            try:
                await fn(world)
            finally:
                await world.stop()

        asyncio.run(asyncio.wait_for(main(), 60))

    test.__name__ = fn.__name__
    return test
