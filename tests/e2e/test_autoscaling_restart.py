"""A group survives a gureum restart (orderly or killed) without duplicating
or losing instances: the same members come back in service, nothing new is
launched, and the group keeps converging afterwards."""

from __future__ import annotations

import time
from typing import Any

import pytest

from .ec2_support import USER_DATA, ec2_gureum, http_get, leftovers, root_only, wait_for

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")


def members(asg: Any) -> dict[str, str]:
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=["keep"])[
        "AutoScalingGroups"][0]
    return {i["InstanceId"]: f"{i['LifecycleState']}/{i['HealthStatus']}"
            for i in group["Instances"]}


def all_in_service(asg: Any, count: int) -> list[str] | None:
    found = members(asg)
    if len(found) == count and set(found.values()) == {"InService/Healthy"}:
        return sorted(found)
    return None


def instances(ec2: Any) -> dict[str, str]:
    return {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]}


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_group_survives_restart(kill: bool) -> None:
    with ec2_gureum() as g:
        asg, ec2 = g.client("autoscaling"), g.client("ec2")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        asg.create_launch_configuration(LaunchConfigurationName="keep-lc", ImageId=image,
                                        InstanceType="t2.nano", UserData=USER_DATA)
        asg.create_auto_scaling_group(AutoScalingGroupName="keep",
                                      LaunchConfigurationName="keep-lc", MinSize=2, MaxSize=2,
                                      AvailabilityZones=["us-east-1a", "us-east-1b"])
        ids: Any = wait_for(lambda: all_in_service(asg, 2), timeout=60, interval=0.5)
        activities = len(asg.describe_scaling_activities(AutoScalingGroupName="keep")[
            "Activities"])

        g.restart(kill=kill)
        asg, ec2 = g.client("autoscaling"), g.client("ec2")
        assert wait_for(lambda: all_in_service(asg, 2), timeout=60, interval=0.5) == ids
        for iid in ids:
            ip = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
                "PrivateIpAddress"]
            wait_for(lambda ip=ip: http_get(f"http://{ip}/"), timeout=30)
        # For several passes of the group loop (5 s apart when steady): still the
        # same two, nothing launched.
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            assert all_in_service(asg, 2) == ids
            assert sorted(i for i, s in instances(ec2).items() if s != "terminated") == ids
            time.sleep(0.5)  # polling an invariant, not waiting for a condition
        assert len(asg.describe_scaling_activities(AutoScalingGroupName="keep")[
            "Activities"]) == activities
        assert set(instances(ec2)) == set(ids)

        # And it still converges.
        asg.update_auto_scaling_group(AutoScalingGroupName="keep", MinSize=1, DesiredCapacity=1)
        wait_for(lambda: all_in_service(asg, 1), timeout=60, interval=0.5)
        asg.delete_auto_scaling_group(AutoScalingGroupName="keep", ForceDelete=True)
        wait_for(lambda: not asg.describe_auto_scaling_groups()["AutoScalingGroups"],
                 timeout=60, interval=0.5)
        assert set(instances(ec2).values()) == {"terminated"}
        assert leftovers(ids, g.data_dir) == []
