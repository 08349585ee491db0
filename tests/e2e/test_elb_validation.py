"""End to end through boto3: ELB answers bad input with AWS's error codes and
statuses (never a 500) and makes nothing.

A target group in a VPC that does not exist, ARNs that are malformed or of
another region, targets outside any private range or outside the VPC
without ``AvailabilityZone`` ``all``, values the model lets through; and a
sweep of bad values over the other operations that must answer 4xx. On a
host with no range left for the default VPC's network (a second gureum told
by ``GUREUM_INSTANCE_RANGES`` that only the first's range may be its own, as
in test_data_tier_capacity), CreateLoadBalancer answers ``InvalidSubnet``
(400), not EC2's ``InsufficientInstanceCapacity`` (500)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum, running_gureum

PROXY = {"GUREUM_PROXY_DRIVER": "builtin"}


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with running_gureum(env=PROXY) as g:
        yield g


def answer(call: Any, **params: Any) -> tuple[str, int, str]:
    """(code, status, message) of a call that must fail."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response
    return (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"],
            error["Error"]["Message"])


def test_vpcs_arns_and_targets(cloud: RunningGureum) -> None:
    elb, ec2 = cloud.client("elbv2"), cloud.client("ec2")
    for vpc in ("vpc-x", "vpc-0123456789abcdef0"):
        assert answer(elb.create_target_group, Name="tg", Protocol="HTTP", Port=80,
                      VpcId=vpc) == ("ValidationError", 400, f"The VPC ID '{vpc}' is not found")
    assert elb.describe_target_groups()["TargetGroups"] == []

    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    tg = elb.create_target_group(Name="ips", Protocol="HTTP", Port=80, TargetType="ip",
                                 VpcId=vpc)["TargetGroups"][0]
    assert tg["VpcId"] == vpc
    arn = tg["TargetGroupArn"]
    assert answer(elb.register_targets, TargetGroupArn=arn,
                  Targets=[{"Id": "8.8.8.8", "AvailabilityZone": "all"}])[:2] == (
        "InvalidTarget", 400)
    code, status, message = answer(elb.register_targets, TargetGroupArn=arn,
                                   Targets=[{"Id": "192.168.5.5"}])
    assert (code, status) == ("ValidationError", 400)
    assert "Availability Zone is required for IP address '192.168.5.5'" in message
    elb.register_targets(TargetGroupArn=arn, Targets=[
        {"Id": "10.77.0.9"}, {"Id": "192.168.5.5", "AvailabilityZone": "all"}])
    described = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert sorted(t["Target"]["Id"] for t in described) == ["10.77.0.9", "192.168.5.5"]

    # ARNs: malformed or of another region is ValidationError; of nothing, NotFound.
    other_region = arn.replace(":us-east-1:", ":eu-west-1:")
    for bad in ("x", other_region):
        code, status, message = answer(elb.describe_target_groups, TargetGroupArns=[bad])
        assert (code, status) == ("ValidationError", 400)
        assert message == f"'{bad}' is not a valid target group ARN"
        assert answer(elb.delete_load_balancer, LoadBalancerArn=bad)[:2] == (
            "ValidationError", 400)
    gone = arn.rsplit("/", 1)[0] + "/0123456789abcdef"
    assert answer(elb.describe_target_groups, TargetGroupArns=[gone])[:2] == (
        "TargetGroupNotFound", 400)
    with pytest.raises(elb.exceptions.TargetGroupNotFoundException):
        elb.add_tags(ResourceArns=[gone], Tags=[{"Key": "a", "Value": "b"}])
    elb.delete_target_group(TargetGroupArn=gone)  # (deleting what is gone succeeds)
    elb.delete_target_group(TargetGroupArn=arn)


def test_no_bad_value_answers_a_server_error(cloud: RunningGureum) -> None:
    elb = boto3.client("elbv2", endpoint_url=cloud.endpoint, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test",
                       config=Config(parameter_validation=False,
                                     retries={"max_attempts": 0}))
    lb = elb.create_load_balancer(Name="sweep")["LoadBalancers"][0]
    tg = elb.create_target_group(Name="sweep", Protocol="HTTP", Port=80,
                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP",
                                   Port=80, DefaultActions=forward)["Listeners"][0]
    lb_arn, l_arn = lb["LoadBalancerArn"], listener["ListenerArn"]
    rule = lb_arn.replace(":loadbalancer/", ":listener-rule/") + "/1/2"
    calls: list[tuple[str, dict[str, Any]]] = []
    for bad in ("x", "", "arn:aws:s3:::bucket", rule):
        calls += [
            ("describe_load_balancers", {"LoadBalancerArns": [bad]}),
            ("delete_load_balancer", {"LoadBalancerArn": bad}),
            ("modify_load_balancer_attributes", {"LoadBalancerArn": bad, "Attributes": []}),
            ("modify_target_group", {"TargetGroupArn": bad}),
            ("delete_target_group", {"TargetGroupArn": bad}),
            ("deregister_targets", {"TargetGroupArn": bad, "Targets": [{"Id": "10.0.0.1"}]}),
            ("describe_target_health", {"TargetGroupArn": bad}),
            ("delete_listener", {"ListenerArn": bad}),
            ("modify_listener", {"ListenerArn": bad, "Port": 81}),
            ("describe_rules", {"RuleArns": [bad]}),
            ("delete_rule", {"RuleArn": bad}),
            ("set_rule_priorities", {"RulePriorities": [{"RuleArn": bad, "Priority": 9}]}),
            ("describe_tags", {"ResourceArns": [bad]}),
            ("set_security_groups", {"LoadBalancerArn": bad, "SecurityGroups": []}),
            ("create_target_group", {"Name": "t", "Protocol": "HTTP", "Port": 80,
                                     "VpcId": bad}),
            ("create_target_group", {"Name": "t", "Protocol": "HTTP", "Port": 80,
                                     "ProtocolVersion": bad}),
            ("modify_target_group_attributes", {"TargetGroupArn": tg, "Attributes": [
                {"Key": "load_balancing.cross_zone.enabled", "Value": bad}]}),
            ("modify_load_balancer_attributes", {"LoadBalancerArn": lb_arn, "Attributes": [
                {"Key": "routing.http.xff_header_processing.mode", "Value": bad}]}),
            ("register_targets", {"TargetGroupArn": tg, "Targets": [{"Id": bad}]}),
            ("describe_target_health", {"TargetGroupArn": tg, "Targets": [{"Id": bad}]}),
            ("describe_rules", {"ListenerArn": l_arn, "Marker": bad or "7"}),
        ]
    for port in (0, 65536, -1):
        calls += [("create_listener", {"LoadBalancerArn": lb_arn, "Protocol": "HTTP",
                                       "Port": port, "DefaultActions": forward}),
                  ("register_targets", {"TargetGroupArn": tg,
                                        "Targets": [{"Id": "10.0.0.1", "Port": port}]})]
    for priority in (0, 50001):
        calls.append(("create_rule", {"ListenerArn": l_arn, "Priority": priority,
                                      "Conditions": [{"Field": "path-pattern",
                                                      "Values": ["/a"]}],
                                      "Actions": forward}))
    calls += [("create_listener", {"LoadBalancerArn": lb_arn, "Protocol": "HTTPS", "Port": 443,
                                   "DefaultActions": forward,
                                   "Certificates": [{"CertificateArn": "no-arn"}]}),
              ("create_target_group", {"Name": "t", "Protocol": "HTTP", "Port": 80,
                                       "HealthCheckIntervalSeconds": 4}),
              ("create_target_group", {"Name": "t", "Protocol": "HTTP", "Port": 80,
                                       "Matcher": {"HttpCode": "299-200"}}),
              ("modify_target_group", {"TargetGroupArn": tg, "HealthCheckPort": "70000"}),
              ("modify_target_group_attributes", {"TargetGroupArn": tg, "Attributes": [
                  {"Key": "no.such.key", "Value": "1"}]}),
              ("modify_target_group_attributes", {"TargetGroupArn": tg, "Attributes": [
                  {"Key": "stickiness.type", "Value": "source_ip"}]}),
              ("modify_target_group", {"TargetGroupArn": tg, "HealthCheckProtocol": "TCP"}),
              ("add_tags", {"ResourceArns": [lb_arn], "Tags": [{"Key": "a", "Value": "1"},
                                                               {"Key": "a", "Value": "2"}]}),
              ("describe_load_balancers", {"LoadBalancerArns": [lb_arn], "Names": ["sweep"]}),
              ("modify_load_balancer_attributes", {"LoadBalancerArn": lb_arn, "Attributes": [
                  {"Key": "access_logs.s3.enabled", "Value": "true"}]}),
              ("set_subnets", {"LoadBalancerArn": lb_arn, "SubnetMappings": [
                  {"AllocationId": "eipalloc-0123"}]}),
              ("modify_listener", {"ListenerArn": l_arn, "Protocol": "HTTPS",
                                   "Certificates": [{"CertificateArn": "arn:aws:x:::y"}],
                                   "SslPolicy": "NoSuchPolicy"}),
              ("modify_listener", {"ListenerArn": l_arn, "DefaultActions": [
                  {"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301",
                                                          "Port": "abc"}}]}),
              ("modify_listener", {"ListenerArn": l_arn, "DefaultActions": [
                  {"Type": "forward", "ForwardConfig": {
                      "TargetGroups": [{"TargetGroupArn": tg}],
                      "TargetGroupStickinessConfig": {"Enabled": True,
                                                      "DurationSeconds": 10**9}}}]})]
    other = elb.create_load_balancer(Name="sweep-other")["LoadBalancers"][0]["LoadBalancerArn"]
    calls.append(("create_listener", {"LoadBalancerArn": other, "Protocol": "HTTP", "Port": 80,
                                      "DefaultActions": forward}))
    made = elb.describe_target_groups()["TargetGroups"]
    for operation, params in calls:
        code, status, _ = answer(getattr(elb, operation), **params)
        assert 400 <= status < 500, (operation, params, code, status)
    assert elb.describe_target_groups()["TargetGroups"] == made
    assert elb.describe_listeners(LoadBalancerArn=other)["Listeners"] == []
    elb.delete_load_balancer(LoadBalancerArn=other)
    assert [d["LoadBalancerArn"] for d in elb.describe_load_balancers()["LoadBalancers"]] == [
        lb_arn]
    assert elb.describe_listeners(ListenerArns=[l_arn])["Listeners"] == [listener]
    assert elb.describe_tags(ResourceArns=[lb_arn])["TagDescriptions"][0]["Tags"] == []
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)


@pytest.mark.skipif(os.geteuid() != 0, reason="instance networks need root")
def test_no_range_for_the_default_vpc_is_invalid_subnet(cloud: RunningGureum) -> None:
    cloud.client("ec2").describe_vpcs()  # (the default VPC takes its range)
    cidr = json.loads((cloud.data_dir / "ec2" / "network.json").read_text())["cidr"]
    with running_gureum(env={**PROXY, "GUREUM_INSTANCE_RANGES": cidr}) as second:
        elb = second.client("elbv2")
        for params in ({"Name": "app"}, {"Name": "net", "Type": "network"}):
            code, status, message = answer(elb.create_load_balancer, **params)
            assert (code, status) == ("InvalidSubnet", 400)
            assert message.startswith("The specified subnet is out of available addresses")
            assert "no free private range for instances on this host" in message
        with pytest.raises(elb.exceptions.InvalidSubnetException):
            elb.create_load_balancer(Name="again")
        assert elb.describe_load_balancers()["LoadBalancers"] == []
