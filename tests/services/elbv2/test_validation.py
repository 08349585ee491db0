"""Bad input to ELB answers AWS's errors (code and status), never a 500, and
makes nothing: ARNs that are malformed or of another region (ValidationError)
or of nothing (the NotFound of their kind), target groups' VPCs, targets
outside their group's VPC or in no private range, a host with no range for
the default VPC's network (InvalidSubnet, not EC2's 500), and values the
model lets through (protocol versions, matcher ranges, attribute values,
private addresses, pagination markers, certificates). With the real EC2
service on a fake compute driver whose network is isolated (172.31.0.0/16)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gureum.drivers.compute import NetworkPlan, NoFreeNetwork
from gureum.drivers.compute.fake import FakeComputeDriver
from gureum.drivers.proxy import FakeProxyDriver
from gureum.errors import AWSError
from gureum.services.ec2.catalog import default_image_id
from gureum.services.elbv2 import ELBv2
from gureum.services.elbv2.core import DRIVER_KEY as PROXY_KEY
from gureum.services.elbv2.core import LB, TG

from ..common.test_host_capacity import FullHost
from ..common.world import ServiceWorld, call

C = call("elbv2")
PREFIX = "arn:aws:elasticloadbalancing:us-east-1:000000000000:"


class World(ServiceWorld):
    def __init__(self, tmp: Path, full: bool = False) -> None:
        super().__init__(tmp, {"elbv2": ELBv2}, {PROXY_KEY: FakeProxyDriver()},
                         loopback="127.249", compute=FullHost() if full else None)
        self.elb: ELBv2 = self.env.extras["services"]["elbv2"]


def in_world(tmp: Path, body: Callable[[World], Awaitable[None]], full: bool = False) -> None:
    async def scenario() -> None:
        w = World(tmp, full)
        await w.start()
        try:
            await body(w)
        finally:
            await w.stop()
    asyncio.run(scenario())


def refused(code: str, operation: Callable[[dict[str, Any]], Any], params: dict[str, Any],
            says: str = "") -> AWSError:
    with pytest.raises(AWSError) as caught:
        operation(params)
    assert (caught.value.code, caught.value.status) == (code, 400), caught.value
    assert says in caught.value.message
    return caught.value


def tg_params(name: str, **more: Any) -> dict[str, Any]:
    return {"Name": name, "Protocol": "HTTP", "Port": 80, **more}


def test_arns_malformed_or_elsewhere_are_validation_errors(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        lb = elb.create_load_balancer(C, {"Name": "web"})["LoadBalancers"][0]["LoadBalancerArn"]
        tg = elb.create_target_group(C, tg_params("tg", TargetType="ip"))[
            "TargetGroups"][0]["TargetGroupArn"]
        other_region = lb.replace("us-east-1", "eu-west-1")
        for bad in ("x", "", other_region, tg):  # (a target group's ARN is no load balancer's)
            refused("ValidationError", lambda p: elb.describe_load_balancers(C, p),
                    {"LoadBalancerArns": [bad]}, "is not a valid load balancer ARN")
            refused("ValidationError", lambda p: elb.delete_load_balancer(C, p),
                    {"LoadBalancerArn": bad}, "is not a valid load balancer ARN")
            refused("ValidationError", lambda p: elb.describe_load_balancer_attributes(C, p),
                    {"LoadBalancerArn": bad}, "is not a valid load balancer ARN")
        for bad in ("x", lb, tg.replace("000000000000", "111111111111")):
            refused("ValidationError", lambda p: elb.delete_target_group(C, p),
                    {"TargetGroupArn": bad}, "is not a valid target group ARN")
            refused("ValidationError", lambda p: elb.register_targets(C, p),
                    {"TargetGroupArn": bad, "Targets": [{"Id": "10.0.0.1"}]})
            refused("ValidationError", lambda p: elb.create_listener(C, p),
                    {"LoadBalancerArn": lb, "Protocol": "HTTP", "Port": 80,
                     "DefaultActions": [{"Type": "forward", "TargetGroupArn": bad}]},
                    "is not a valid target group ARN")
        refused("ValidationError", lambda p: elb.describe_rules(C, p),
                {"RuleArns": [PREFIX + "listener/app/web/1/2"]}, "not a valid listener rule")
        refused("ValidationError", lambda p: elb.describe_listeners(C, p),
                {"ListenerArns": ["nothing"]}, "is not a valid listener ARN")
        refused("ValidationError", lambda p: elb.add_tags(C, p),
                {"ResourceArns": ["arn:aws:s3:::bucket"], "Tags": [{"Key": "a", "Value": "b"}]})
        # Well-formed ARNs of nothing: each kind's NotFound; deleting them succeeds.
        gone_lb, gone_tg = PREFIX + "loadbalancer/app/gone/0123", PREFIX + "targetgroup/gone/01"
        refused("LoadBalancerNotFound", lambda p: elb.describe_load_balancers(C, p),
                {"LoadBalancerArns": [gone_lb]})
        refused("TargetGroupNotFound", lambda p: elb.describe_target_groups(C, p),
                {"TargetGroupArns": [gone_tg]})
        refused("ListenerNotFound", lambda p: elb.describe_listeners(C, p),
                {"ListenerArns": [PREFIX + "listener/app/gone/01/02"]})
        refused("RuleNotFound", lambda p: elb.delete_rule(C, p),
                {"RuleArn": PREFIX + "listener-rule/app/gone/01/02/03"})
        refused("TargetGroupNotFound", lambda p: elb.add_tags(C, p),
                {"ResourceArns": [gone_tg], "Tags": [{"Key": "a", "Value": "b"}]})
        assert elb.delete_load_balancer(C, {"LoadBalancerArn": gone_lb}) == {}
        assert elb.delete_target_group(C, {"TargetGroupArn": gone_tg}) == {}
        assert len(w.store.resources.list(LB)) == 1 and len(w.store.resources.list(TG)) == 1
    in_world(tmp_path, body)


def test_target_group_vpc_must_exist(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb, e = w.elb, call("ec2")
        for bad in ("vpc-x", "vpc-0123456789abcdef0", ""):
            refused("ValidationError", lambda p: elb.create_target_group(C, p),
                    tg_params("tg", VpcId=bad), f"The VPC ID '{bad}' is not found")
        assert w.store.resources.list(TG) == []
        vpc = w.ec2.create_vpc(e, {"CidrBlock": "10.9.0.0/16"})["Vpc"]["VpcId"]
        made = elb.create_target_group(C, tg_params("mine", VpcId=vpc))["TargetGroups"][0]
        assert made["VpcId"] == vpc
        default = w.ec2.describe_vpcs(e, {})["Vpcs"][0]["VpcId"]
        assert elb.create_target_group(C, tg_params("dflt", VpcId=default))[
            "TargetGroups"][0]["VpcId"] == default
        assert elb.create_target_group(C, tg_params("none"))["TargetGroups"][0][
            "VpcId"] == default  # (no VpcId: the default VPC, gureum's convenience)
    in_world(tmp_path, body)


def test_targets_must_be_in_the_group_vpc_or_a_private_range(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb, e = w.elb, call("ec2")
        vpc = w.ec2.create_vpc(e, {"CidrBlock": "10.9.0.0/16"})["Vpc"]["VpcId"]
        in_vpc = elb.create_target_group(C, tg_params("inst", VpcId=vpc))[
            "TargetGroups"][0]["TargetGroupArn"]
        instance = w.ec2.run_instances(e, {"ImageId": default_image_id(), "MinCount": 1,
                                           "MaxCount": 1})["Instances"][0]["InstanceId"]
        refused("InvalidTarget", lambda p: elb.register_targets(C, p),
                {"TargetGroupArn": in_vpc, "Targets": [{"Id": instance}]},
                f"not in the target group VPC '{vpc}'")
        refused("InvalidTarget", lambda p: elb.register_targets(C, p),
                {"TargetGroupArn": in_vpc, "Targets": [{"Id": "i-0123456789abcdef0"}]})
        default_tg = elb.create_target_group(C, tg_params("dinst"))[
            "TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(C, {"TargetGroupArn": default_tg, "Targets": [{"Id": instance}]})
        with pytest.raises(AWSError) as caught:
            await elb.describe_target_health(C, {"TargetGroupArn": default_tg, "Targets": [
                {"Id": "i-0123456789abcdef0"}]})
        assert caught.value.code == "InvalidTarget"
        described = await elb.describe_target_health(C, {"TargetGroupArn": in_vpc,
                                                         "Targets": [{"Id": instance}]})
        assert described["TargetHealthDescriptions"][0]["TargetHealth"]["Reason"] == (
            "Target.NotRegistered")

        ips = elb.create_target_group(C, tg_params("ips", TargetType="ip", VpcId=vpc))[
            "TargetGroups"][0]["TargetGroupArn"]

        def register(target: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = elb.register_targets(C, {"TargetGroupArn": ips,
                                                           "Targets": [target]})
            return out

        refused("InvalidTarget", register, {"Id": "8.8.8.8", "AvailabilityZone": "all"},
                "nor in a private range")
        refused("InvalidTarget", register, {"Id": "999.1.1.1"}, "not a valid IPv4 address")
        refused("ValidationError", register, {"Id": "172.31.0.9"},
                "The Availability Zone is required for IP address '172.31.0.9'")
        refused("ValidationError", register, {"Id": "10.9.0.9", "AvailabilityZone": "all"},
                "cannot have its Availability Zone overridden to 'all'")
        refused("ValidationError", register, {"Id": "10.9.0.9", "AvailabilityZone": "mars-1a"},
                "Availability Zone 'mars-1a' is not valid")
        refused("ValidationError", register, {"Id": "192.168.1.1",
                                              "AvailabilityZone": "us-east-1a"},
                "must be 'all' for Application Load Balancer target groups")
        register({"Id": "10.9.0.9"})
        register({"Id": "10.9.0.10", "AvailabilityZone": "us-east-1a"})
        register({"Id": "172.31.0.9", "AvailabilityZone": "all"})
        register({"Id": "127.0.0.9"})  # (a program on this host)
        health = await elb.describe_target_health(C, {"TargetGroupArn": ips})
        shown = {t["Target"]["Id"]: t["Target"] for t in health["TargetHealthDescriptions"]}
        assert sorted(shown) == ["10.9.0.10", "10.9.0.9", "127.0.0.9", "172.31.0.9"]
        assert shown["172.31.0.9"]["AvailabilityZone"] == "all"  # (as registered)
        assert shown["10.9.0.10"]["AvailabilityZone"] == "us-east-1a"
        assert "AvailabilityZone" not in shown["10.9.0.9"]
        with pytest.raises(AWSError) as caught:
            await elb.describe_target_health(C, {"TargetGroupArn": ips,
                                                 "Targets": [{"Id": "not-an-ip"}]})
        assert caught.value.code == "InvalidTarget"
    in_world(tmp_path, body)


def test_no_range_for_the_default_vpc_is_invalid_subnet_and_makes_nothing(
        tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        for params in ({"Name": "app"}, {"Name": "net", "Type": "network"},
                       {"Name": "int", "Type": "network", "Scheme": "internal"}):
            error = refused("InvalidSubnet", lambda p: elb.create_load_balancer(C, p), params,
                            "The specified subnet is out of available addresses")
            assert "no free private range" in error.message and error.sender
        assert elb.describe_load_balancers(C, {})["LoadBalancers"] == []
        assert w.store.resources.list(LB) == [] and w.store.resources.list("elbv2:address") == []
        assert w.store.resources.list("ec2:security-group") == []
        # A target group needs no host network.
        elb.create_target_group(C, tg_params("tg", TargetType="ip"))
    in_world(tmp_path, body, full=True)


def test_values_the_model_lets_through(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb

        def create_tg(p: dict[str, Any]) -> Any:
            return elb.create_target_group(C, p)

        refused("ValidationError", create_tg, tg_params("a", ProtocolVersion="HTTP9"),
                "Protocol version 'HTTP9'")
        refused("ValidationError", create_tg,
                {"Name": "a", "Protocol": "TCP", "Port": 80, "ProtocolVersion": "HTTP1"})
        refused("ValidationError", create_tg, tg_params("a", Matcher={"HttpCode": "299-200"}),
                "from the lower code to the higher")
        assert w.store.resources.list(TG) == []
        tg = create_tg(tg_params("a", ProtocolVersion="HTTP2"))["TargetGroups"][0]
        assert tg["ProtocolVersion"] == "HTTP2"
        refused("ValidationError", lambda p: elb.modify_target_group_attributes(C, p),
                {"TargetGroupArn": tg["TargetGroupArn"],
                 "Attributes": [{"Key": "load_balancing.cross_zone.enabled", "Value": "maybe"}]})
        lb = elb.create_load_balancer(C, {"Name": "web"})["LoadBalancers"][0]
        refused("ValidationError", lambda p: elb.modify_load_balancer_attributes(C, p),
                {"LoadBalancerArn": lb["LoadBalancerArn"], "Attributes": [
                    {"Key": "routing.http.xff_header_processing.mode", "Value": "mangle"}]})
        subnet = lb["AvailabilityZones"][0]["SubnetId"]
        refused("ValidationError", lambda p: elb.create_load_balancer(C, p),
                {"Name": "nlb", "Type": "network", "Scheme": "internal",
                 "SubnetMappings": [{"SubnetId": subnet, "PrivateIPv4Address": "a.b.c.d"}]},
                "'a.b.c.d' is not a valid IPv4 address")
        forward = [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}]
        refused("CertificateNotFound", lambda p: elb.create_listener(C, p),
                {"LoadBalancerArn": lb["LoadBalancerArn"], "Protocol": "HTTPS", "Port": 443,
                 "DefaultActions": forward, "Certificates": [{"CertificateArn": "mine"}]})
        listener = elb.create_listener(C, {"LoadBalancerArn": lb["LoadBalancerArn"],
                                           "Protocol": "HTTP", "Port": 80,
                                           "DefaultActions": forward})["Listeners"][0]
        for marker in ("x", "99999999999999", "5"):
            refused("ValidationError", lambda p: elb.describe_rules(C, p),
                    {"ListenerArn": listener["ListenerArn"], "Marker": marker},
                    "Invalid pagination token")
        page = elb.describe_rules(C, {"ListenerArn": listener["ListenerArn"], "Marker": "0"})
        assert len(page["Rules"]) == 1
        assert len(w.store.resources.list(LB)) == 1
    in_world(tmp_path, body)


def test_tags_subnet_mappings_policies_and_health_checks(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        twice = [{"Key": "team", "Value": "a"}, {"Key": "team", "Value": "b"}]
        refused("DuplicateTagKeys", lambda p: elb.create_load_balancer(C, p),
                {"Name": "web", "Tags": twice}, "'team'")
        many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
        refused("TooManyTags", lambda p: elb.create_target_group(C, p),
                tg_params("tg", Tags=many))
        subnet = w.ec2.describe_subnets(call("ec2"), {})["Subnets"][0]["SubnetId"]
        refused("AllocationIdNotFound", lambda p: elb.create_load_balancer(C, p),
                {"Name": "nlb", "Type": "network",
                 "SubnetMappings": [{"SubnetId": subnet, "AllocationId": "eipalloc-1"}]})
        refused("ValidationError", lambda p: elb.create_load_balancer(C, p),
                {"Name": "nlb", "Type": "network", "SubnetMappings": [{}]},
                "must specify a subnet ID")
        assert w.store.resources.list(LB) == [] and w.store.resources.list(TG) == []

        lb = elb.create_load_balancer(C, {"Name": "web"})["LoadBalancers"][0]
        lb_arn = lb["LoadBalancerArn"]
        refused("DuplicateTagKeys", lambda p: elb.add_tags(C, p),
                {"ResourceArns": [lb_arn], "Tags": twice})
        refused("ValidationError", lambda p: elb.describe_load_balancers(C, p),
                {"LoadBalancerArns": [lb_arn], "Names": ["web"]}, "at the same time")
        refused("ValidationError", lambda p: elb.create_load_balancer(C, p),
                {"Name": "dual", "IpAddressType": "dualstack"}, "IPv6 CIDR block")
        refused("InvalidConfigurationRequest", lambda p: elb.modify_load_balancer_attributes(C, p),
                {"LoadBalancerArn": lb_arn,
                 "Attributes": [{"Key": "access_logs.s3.enabled", "Value": "true"}]}, "bucket")
        elb.modify_load_balancer_attributes(C, {"LoadBalancerArn": lb_arn, "Attributes": [
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": "logs"}]})

        refused("ValidationError", lambda p: elb.create_target_group(C, p),
                tg_params("hc", HealthCheckProtocol="TCP"), "'TCP' is not supported")
        refused("ValidationError", lambda p: elb.create_target_group(C, p),
                {"Name": "hc", "Protocol": "TCP", "Port": 80, "Matcher": {"HttpCode": "200"}},
                "Matcher cannot be given for TCP health checks")
        tcp = elb.create_target_group(C, {"Name": "tcp", "Protocol": "TCP", "Port": 80,
                                          "TargetType": "ip"})["TargetGroups"][0]
        http = elb.create_target_group(C, tg_params("http", TargetType="ip"))["TargetGroups"][0]
        # (an HTTP health check of a TCP group, and back to TCP)
        as_http = elb.modify_target_group(C, {"TargetGroupArn": tcp["TargetGroupArn"],
                                              "HealthCheckProtocol": "HTTP"})["TargetGroups"][0]
        assert as_http["HealthCheckPath"] == "/"
        as_tcp = elb.modify_target_group(C, {"TargetGroupArn": tcp["TargetGroupArn"],
                                             "HealthCheckProtocol": "TCP"})["TargetGroups"][0]
        assert "HealthCheckPath" not in as_tcp and "Matcher" not in as_tcp
        for group, sticky in ((tcp, "lb_cookie"), (http, "source_ip")):
            refused("ValidationError", lambda p: elb.modify_target_group_attributes(C, p),
                    {"TargetGroupArn": group["TargetGroupArn"],
                     "Attributes": [{"Key": "stickiness.type", "Value": sticky}]},
                    "not a valid stickiness type")

        forward = [{"Type": "forward", "TargetGroupArn": http["TargetGroupArn"]}]
        listener: dict[str, Any] = {"LoadBalancerArn": lb_arn, "Protocol": "HTTPS", "Port": 443,
                                    "DefaultActions": forward,
                                    "Certificates": [{"CertificateArn": "arn:aws:x:::y"}]}
        refused("SSLPolicyNotFound", lambda p: elb.create_listener(C, p),
                {**listener, "SslPolicy": "MyPolicy"})
        made = elb.create_listener(C, {**listener, "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-"
                                                                "2021-06"})["Listeners"][0]
        assert made["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        redirect = {"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_301",
                                                           "Port": "https"}}
        refused("ValidationError", lambda p: elb.create_listener(C, p),
                {"LoadBalancerArn": lb_arn, "Protocol": "HTTP", "Port": 80,
                 "DefaultActions": [redirect]}, "Redirect port")
        sticky_forward = [{"Type": "forward", "ForwardConfig": {
            "TargetGroups": [{"TargetGroupArn": http["TargetGroupArn"]}],
            "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 604801}}}]
        refused("ValidationError", lambda p: elb.create_listener(C, p),
                {"LoadBalancerArn": lb_arn, "Protocol": "HTTP", "Port": 80,
                 "DefaultActions": sticky_forward}, "stickiness duration")
        refused("ValidationError", lambda p: elb.create_rule(C, p),
                {"ListenerArn": made["ListenerArn"], "Priority": 1, "Actions": forward,
                 "Conditions": [{"Field": "path-pattern", "Values": ["/a"],
                                 "PathPatternConfig": {"Values": ["/b"]}}]}, "not both")
        elb.create_rule(C, {"ListenerArn": made["ListenerArn"], "Priority": 1, "Actions": forward,
                            "Conditions": [{"Field": "path-pattern", "Values": ["/a"],
                                            "PathPatternConfig": {"Values": ["/a"]}}]})
        assert len(elb.describe_listeners(C, {"LoadBalancerArn": lb_arn})["Listeners"]) == 1
    in_world(tmp_path, body)


class FillingHost(FakeComputeDriver):
    """A host whose range for the default VPC goes away (``full``)."""

    full = False

    def network(self) -> NetworkPlan:
        if self.full:
            raise NoFreeNetwork("no free private range for instances on this host")
        return super().network()


def test_set_subnets_on_a_host_left_without_a_range(tmp_path: Path) -> None:
    async def scenario() -> None:
        host = FillingHost(NetworkPlan("172.31.0.0/16", "172.31.0.1", 0, isolated=True))
        w = ServiceWorld(tmp_path, {"elbv2": ELBv2}, {PROXY_KEY: FakeProxyDriver()},
                         loopback="127.249", compute=host)
        await w.start()
        try:
            elb: ELBv2 = w.env.extras["services"]["elbv2"]
            lb = elb.create_load_balancer(C, {"Name": "net", "Type": "network"})[
                "LoadBalancers"][0]
            subnets = [z["SubnetId"] for z in lb["AvailabilityZones"]]
            before = w.store.resources.list(LB)
            host.full = True
            refused("InvalidSubnet", lambda p: elb.set_subnets(C, p),
                    {"LoadBalancerArn": lb["LoadBalancerArn"], "Subnets": subnets[:1]},
                    "no free private range")
            assert w.store.resources.list(LB) == before
            # ip targets: where the VPC's range is unknown, only private ranges count.
            tg = elb.create_target_group(C, tg_params("ips", TargetType="ip"))[
                "TargetGroups"][0]["TargetGroupArn"]
            elb.register_targets(C, {"TargetGroupArn": tg, "Targets": [{"Id": "10.1.2.3"}]})
            refused("InvalidTarget", lambda p: elb.register_targets(C, p),
                    {"TargetGroupArn": tg, "Targets": [{"Id": "1.1.1.1"}]})
        finally:
            await w.stop()
    asyncio.run(scenario())


def test_a_target_group_serves_one_load_balancer(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        first, second = (elb.create_load_balancer(C, {"Name": n})["LoadBalancers"][0][
            "LoadBalancerArn"] for n in ("one", "two"))
        tg = elb.create_target_group(C, tg_params("tg", TargetType="ip"))[
            "TargetGroups"][0]["TargetGroupArn"]
        forward = [{"Type": "forward", "TargetGroupArn": tg}]
        listener = elb.create_listener(C, {"LoadBalancerArn": first, "Protocol": "HTTP",
                                           "Port": 80, "DefaultActions": forward})
        # Another listener of the same load balancer may use it; another's may not.
        elb.create_listener(C, {"LoadBalancerArn": first, "Protocol": "HTTP", "Port": 81,
                                "DefaultActions": forward})
        refused("TargetGroupAssociationLimit", lambda p: elb.create_listener(C, p),
                {"LoadBalancerArn": second, "Protocol": "HTTP", "Port": 80,
                 "DefaultActions": forward}, "more than one load balancer")
        assert elb.describe_listeners(C, {"LoadBalancerArn": second})["Listeners"] == []
        elb.delete_listener(C, {"ListenerArn": listener["Listeners"][0]["ListenerArn"]})
        elb.delete_load_balancer(C, {"LoadBalancerArn": first})
        elb.create_listener(C, {"LoadBalancerArn": second, "Protocol": "HTTP", "Port": 80,
                                "DefaultActions": forward})
    in_world(tmp_path, body)


def test_a_load_balancer_forwards_to_groups_of_its_vpc(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb, e = w.elb, call("ec2")
        vpc = w.ec2.create_vpc(e, {"CidrBlock": "10.9.0.0/16"})["Vpc"]["VpcId"]
        elsewhere = elb.create_target_group(C, tg_params("mine", TargetType="ip", VpcId=vpc))[
            "TargetGroups"][0]["TargetGroupArn"]
        lb = elb.create_load_balancer(C, {"Name": "web"})["LoadBalancers"][0]["LoadBalancerArn"]
        forward = [{"Type": "forward", "TargetGroupArn": elsewhere}]
        refused("InvalidConfigurationRequest", lambda p: elb.create_listener(C, p),
                {"LoadBalancerArn": lb, "Protocol": "HTTP", "Port": 80,
                 "DefaultActions": forward}, "is in a different VPC than load balancer")
        assert elb.describe_listeners(C, {"LoadBalancerArn": lb})["Listeners"] == []
        here = elb.create_target_group(C, tg_params("here", TargetType="ip"))[
            "TargetGroups"][0]["TargetGroupArn"]
        elb.create_listener(C, {"LoadBalancerArn": lb, "Protocol": "HTTP", "Port": 80,
                                "DefaultActions": [{"Type": "forward",
                                                    "TargetGroupArn": here}]})
    in_world(tmp_path, body)
