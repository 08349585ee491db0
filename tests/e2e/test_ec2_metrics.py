"""Instance metrics in CloudWatch, measured from the real processes: a
CPU-burning instance's CPUUtilization near its allowance and an idle one's
low, network bytes and packets from its veth, memory for the agent's
namespace, and MonitorInstances/UnmonitorInstances. The clocks run 30 times
faster (GUREUM_TIME_SCALE), so detailed monitoring publishes every 2 s."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from gureum.testing.server import RunningGureum, running_gureum

from .ec2_support import http_get, leftovers, root_only, sweep, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")

BURN = "#!/bin/bash\nwhile :; do :; done\n"
SERVE = "#!/bin/bash\ncd /tmp && echo ok > index.html && exec python3 -m http.server 80\n"


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with running_gureum(env={"GUREUM_TIME_SCALE": "30"}) as g:
        try:
            yield g
        finally:
            g.stop()
            sweep(g.data_dir)


def stats(cw: Any, instance_id: str, name: str, namespace: str = "AWS/EC2") -> list[Any]:
    now = dt.datetime.now(dt.UTC)
    points: list[Any] = cw.get_metric_statistics(
        Namespace=namespace, MetricName=name,
        Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
        StartTime=now - dt.timedelta(minutes=10), EndTime=now + dt.timedelta(minutes=1),
        Period=60, Statistics=["Average", "Maximum", "Sum", "SampleCount"])["Datapoints"]
    return points


def test_cpu_network_memory(cloud: RunningGureum) -> None:
    ec2, cw = cloud.client("ec2"), cloud.client("cloudwatch")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids: list[str] = []
    try:
        burner = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                                   UserData=BURN, Monitoring={"Enabled": True})["Instances"][0]
        ids.append(burner["InstanceId"])
        idle = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t2.micro",
                                 UserData=SERVE)["Instances"][0]
        ids.append(idle["InstanceId"])
        assert burner["Monitoring"]["State"] == "enabled"
        assert idle["Monitoring"]["State"] == "disabled"
        ec2.get_waiter("instance_running").wait(InstanceIds=ids,
                                                WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        for _ in range(5):
            wait_for(lambda: http_get(f"http://{idle['PrivateIpAddress']}/"))

        # One vCPU burnt by a busy loop: near 100 % of its allowance when the host
        # has a core to spare (it is shared with other work, hence the margin).
        wait_for(lambda: any(p["Maximum"] >= 50 for p in stats(
            cw, burner["InstanceId"], "CPUUtilization")), timeout=60)
        # Basic monitoring (every 10 s here): the idle instance's datapoints are low.
        points = wait_for(lambda: stats(cw, idle["InstanceId"], "CPUUtilization"), timeout=40)
        assert isinstance(points, list) and all(p["Maximum"] < 10 for p in points)
        wait_for(lambda: sum(p["Sum"] for p in stats(cw, idle["InstanceId"], "NetworkIn")) > 0,
                 timeout=40)
        assert sum(p["Sum"] for p in stats(cw, idle["InstanceId"], "NetworkPacketsOut")) > 0
        memory = stats(cw, idle["InstanceId"], "mem_used_percent", "CWAgent")
        assert memory and 0 < memory[0]["Average"] < 100
        names = {m["MetricName"] for m in cw.list_metrics(Namespace="AWS/EC2", Dimensions=[
            {"Name": "InstanceId", "Value": burner["InstanceId"]}])["Metrics"]}
        assert {"CPUUtilization", "NetworkIn", "NetworkOut", "NetworkPacketsIn",
                "NetworkPacketsOut"} <= names

        out = ec2.monitor_instances(InstanceIds=[idle["InstanceId"]])["InstanceMonitorings"]
        assert out[0]["Monitoring"]["State"] == "pending"
        ec2.unmonitor_instances(InstanceIds=[burner["InstanceId"]])
        states = {i["InstanceId"]: i["Monitoring"]["State"] for r in ec2.describe_instances(
            InstanceIds=ids)["Reservations"] for i in r["Instances"]}
        assert states == {idle["InstanceId"]: "enabled", burner["InstanceId"]: "disabled"}
    finally:
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    assert leftovers(ids, cloud.data_dir) == []
