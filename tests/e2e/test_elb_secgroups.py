"""Load balancers and security groups end to end, on both proxy drivers: real
instances (network namespaces) whose group lets in only the load balancer's
group receive its traffic and health checks; an instance whose group does not
stays out (its target times out); revoking the rule takes the target out."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gureum.testing.server import RunningGureum, running_gureum

from .ec2_support import leftovers, root_only, sweep, wait_for
from .test_elb_support import DRIVERS, curl

pytestmark = pytest.mark.skipif(root_only or shutil.which("curl") is None,
                                reason="the namespace driver needs root; curl is needed")

SERVE = """#!/bin/bash
mkdir -p /srv/www && cd /srv/www && echo "hello from $(hostname)" > index.html
exec python3 -m http.server 80 --bind 0.0.0.0
"""


@pytest.fixture(scope="module", params=DRIVERS)
def cloud(request: pytest.FixtureRequest) -> Iterator[RunningGureum]:
    if request.param == "haproxy" and shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    with running_gureum(env={"GUREUM_PROXY_DRIVER": request.param}) as g:
        try:
            yield g
        finally:
            g.stop()
            sweep(g.data_dir)


def test_instances_let_in_the_load_balancers_group(cloud: RunningGureum) -> None:
    ec2, elb = cloud.client("ec2"), cloud.client("elbv2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    lb_sg = ec2.create_security_group(GroupName="lb-sg", Description="lb")["GroupId"]
    web_sg = ec2.create_security_group(GroupName="web-sg", Description="web")["GroupId"]
    closed_sg = ec2.create_security_group(GroupName="closed-sg", Description="x")["GroupId"]
    from_lb = [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
                "UserIdGroupPairs": [{"GroupId": lb_sg}]}]
    ec2.authorize_security_group_ingress(GroupId=web_sg, IpPermissions=from_lb)
    with pytest.raises(elb.exceptions.InvalidSecurityGroupException):
        elb.create_load_balancer(Name="sg-bad", SecurityGroups=["sg-0123456789abcdef0"])
    ids: list[str] = []
    lb: dict[str, Any] = {}
    try:
        web = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, UserData=SERVE,
                                SecurityGroupIds=[web_sg])["Instances"][0]
        ids.append(web["InstanceId"])
        shut = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, UserData=SERVE,
                                 SecurityGroupIds=[closed_sg])["Instances"][0]
        ids.append(shut["InstanceId"])
        lb = elb.create_load_balancer(Name="sg-web", SecurityGroups=[lb_sg])["LoadBalancers"][0]
        assert lb["SecurityGroups"] == [lb_sg]
        tg = elb.create_target_group(
            Name="sg-web", Protocol="HTTP", Port=80, TargetType="instance",
            HealthCheckPath="/", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2,
            HealthyThresholdCount=2, UnhealthyThresholdCount=2)["TargetGroups"][0][
            "TargetGroupArn"]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": i} for i in ids])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])

        def health() -> dict[str, tuple[str, str]]:
            out = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            return {d["Target"]["Id"]: (d["TargetHealth"]["State"],
                                        d["TargetHealth"].get("Reason", "")) for d in out}

        wait_for(lambda: health()[web["InstanceId"]][0] == "healthy", timeout=90, interval=0.5)
        wait_for(lambda: health()[shut["InstanceId"]][0] == "unhealthy", timeout=30,
                 interval=0.5)
        # The closed group drops the load balancer's packets: its checks time out.
        assert health()[shut["InstanceId"]] == ("unhealthy", "Target.Timeout")
        url = f"http://{lb['DNSName']}/"
        answers = [curl(url) for _ in range(4)]
        assert {code for code, _ in answers} == {200}
        assert all(body.startswith("hello from") for _, body in answers)

        # Without the rule the load balancer is kept out too.
        ec2.revoke_security_group_ingress(GroupId=web_sg, IpPermissions=from_lb)
        went_bad = time.monotonic()
        wait_for(lambda: health()[web["InstanceId"]][0] == "unhealthy", timeout=30,
                 interval=0.5)
        # Reported unhealthy once the first proxy process's checks fail; every
        # process stops sending it traffic within interval x threshold (+ the
        # check's timeout, + 1 s) of its going bad.
        time.sleep(max(0.0, went_bad + 5 * 2 + 2 + 1 - time.monotonic()))
        assert curl(url)[0] == 503
    finally:
        if lb:
            elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        if ids:
            ec2.terminate_instances(InstanceIds=ids)
            ec2.get_waiter("instance_terminated").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    for g in (web_sg, closed_sg, lb_sg):
        ec2.delete_security_group(GroupId=g)
    assert leftovers(ids, cloud.data_dir) == []
