"""The ELB health check end to end: a group behind a real load balancer with
HealthCheckType ELB. When an instance's web server dies but the instance
keeps running (EC2 sees nothing wrong), the target group reports it
unhealthy and the group replaces it, saying why; the load balancer answers
from the replacement."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.testing.server import RunningGureum

from .ec2_support import USER_DATA, ec2_gureum, http_get, leftovers, root_only, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with ec2_gureum() as g:
        yield g


def web_server_pids(instance_id: str) -> list[int]:
    """The instance's ``python3 -m http.server`` processes (not its init)."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if f"/gureum/{instance_id}" in (proc / "cgroup").read_text() and \
                        b"http.server" in (proc / "cmdline").read_bytes():
                    out.append(int(proc.name))
    return out


def test_dead_web_server_is_replaced_by_elb_health_check(cloud: RunningGureum) -> None:
    asg, ec2, elb = cloud.client("autoscaling"), cloud.client("ec2"), cloud.client("elbv2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    subnets = ec2.describe_subnets()["Subnets"][:2]
    ec2.create_launch_template(LaunchTemplateName="elb-web", LaunchTemplateData={
        "ImageId": image, "InstanceType": "t2.nano",
        "UserData": base64.b64encode(USER_DATA.encode()).decode()})
    lb = elb.create_load_balancer(Name="elb-web", Subnets=[s["SubnetId"] for s in subnets])[
        "LoadBalancers"][0]
    tg = elb.create_target_group(
        Name="elb-web", Protocol="HTTP", Port=80, VpcId=subnets[0]["VpcId"],
        HealthCheckPath="/", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=4,
        HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    asg.create_auto_scaling_group(
        AutoScalingGroupName="elb-web", MinSize=1, MaxSize=1,
        LaunchTemplate={"LaunchTemplateName": "elb-web", "Version": "$Latest"},
        VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets), TargetGroupARNs=[tg],
        HealthCheckType="ELB", HealthCheckGracePeriod=15)

    def healthy() -> set[str]:
        out = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        return {d["Target"]["Id"] for d in out if d["TargetHealth"]["State"] == "healthy"}

    def members() -> dict[str, Any]:
        group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["elb-web"])[
            "AutoScalingGroups"][0]
        return {i["InstanceId"]: i for i in group["Instances"]}

    url = f"http://{lb['DNSName']}/"
    first: Any = wait_for(lambda: len(healthy()) == 1 and next(iter(healthy())), timeout=90,
                          interval=0.5)
    assert f"id={first}" in str(wait_for(lambda: http_get(url, timeout=5), timeout=30))

    pids = web_server_pids(first)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    # EC2 still reports the instance running; the ELB health check takes it out.
    assert ec2.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0][
        "State"]["Name"] == "running"

    def replaced() -> str | None:
        now = healthy() - {first}
        return next(iter(now)) if now and first not in members() else None

    second: Any = wait_for(replaced, timeout=120, interval=0.5)
    assert f"id={second}" in str(wait_for(lambda: http_get(url, timeout=5), timeout=30))
    causes = [a["Cause"] for a in asg.describe_scaling_activities(
        AutoScalingGroupName="elb-web")["Activities"]]
    assert any("ELB system health check failure" in c for c in causes), causes
    assert ec2.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0][
        "State"]["Name"] in ("shutting-down", "terminated")

    asg.delete_auto_scaling_group(AutoScalingGroupName="elb-web", ForceDelete=True)
    wait_for(lambda: not asg.describe_auto_scaling_groups(
        AutoScalingGroupNames=["elb-web"])["AutoScalingGroups"], timeout=60, interval=0.5)
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: elb.delete_target_group(TargetGroupArn=tg) is not None, timeout=30)
    ec2.delete_launch_template(LaunchTemplateName="elb-web")
    assert leftovers([first, second], cloud.data_dir) == []
