"""Load balancers' own addresses in their subnets, with the real EC2 service on
a fake compute driver whose network is isolated (as the namespace driver's):
one address per subnet from EC2's allocator (never given to an instance),
put on the host before the proxy listens there, the source of connections to
targets in the network, the members of the load balancer's security groups,
and taken off the host when the load balancer is deleted or on a reset. On a
loopback network, one loopback address as before."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any

from gureum.drivers.proxy import FakeProxyDriver
from gureum.errors import AWSError
from gureum.services.elbv2 import ELBv2
from gureum.services.elbv2.core import ADDRESS
from gureum.services.elbv2.core import DRIVER_KEY as PROXY_KEY

from ..common.world import ACCOUNT, ServiceWorld, call


class World(ServiceWorld):
    def __init__(self, tmp: Path, isolated: bool = True) -> None:
        self.proxy = FakeProxyDriver()
        super().__init__(tmp, {"elbv2": ELBv2}, {PROXY_KEY: self.proxy},
                         isolated=isolated, loopback="127.250")
        self.elb: ELBv2 = self.env.extras["services"]["elbv2"]

    async def settle(self, seconds: float = 0.1) -> None:
        await self.clock.advance(seconds)
        await self.loops.idle()

    def subnets(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.ec2.describe_subnets(call("ec2"), {})["Subnets"]
        return out


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def forward(tg_arn: str) -> list[dict[str, str]]:
    return [{"Type": "forward", "TargetGroupArn": tg_arn}]


def test_one_address_per_subnet_on_the_host_and_as_source(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        elb, c = w.elb, call("elbv2")
        subnets = w.subnets()[:2]
        group = w.ec2.create_security_group(call("ec2"), {"GroupName": "lb",
                                                          "Description": "lb"})["GroupId"]
        lb = elb.create_load_balancer(c, {"Name": "web", "SecurityGroups": [group],
                                          "Subnets": [s["SubnetId"] for s in subnets]}
                                      )["LoadBalancers"][0]
        records = w.store.resources.list(ADDRESS)
        assert len(records) == 2
        mine = {r["subnet"]: r["address"] for r in records}
        for s in subnets:
            assert ipaddress.IPv4Address(mine[s["SubnetId"]]) in ipaddress.IPv4Network(
                s["CidrBlock"])
        # An ALB shows no addresses (as in AWS); its name resolves to its first one.
        assert all(z["LoadBalancerAddresses"] == [] for z in lb["AvailabilityZones"])
        # EC2 never gives an instance a load balancer's address.
        taken = w.ec2.allocate_addresses(subnets[0], 3)
        assert mine[subnets[0]["SubnetId"]] not in taken

        tg = elb.create_target_group(c, {"Name": "tg", "Protocol": "HTTP", "Port": 80,
                                         "TargetType": "ip"})["TargetGroups"][0]
        in_second = str(ipaddress.IPv4Network(subnets[1]["CidrBlock"]).network_address + 9)
        elb.register_targets(c, {"TargetGroupArn": tg["TargetGroupArn"],
                                 "Targets": [{"Id": in_second}, {"Id": "127.0.0.7"}]})
        elb.create_listener(c, {"LoadBalancerArn": lb["LoadBalancerArn"], "Protocol": "HTTP",
                                "Port": 80, "DefaultActions": forward(tg["TargetGroupArn"])})
        await w.settle()
        assert w.compute.addresses == set(mine.values())
        assert w.names.names()[lb["DNSName"]] == mine[subnets[0]["SubnetId"]]
        (spec,) = w.proxy.specs.values()
        assert set(spec.addresses) == set(mine.values())
        sources = {s.host: s.source for b in spec.backends for s in b.servers}
        assert sources == {in_second: mine[subnets[1]["SubnetId"]], "127.0.0.7": None}
        # Instances' rules that name the load balancer's group let in its addresses.
        assert set(elb.group_members(ACCOUNT, "us-east-1", group)) == {
            f"{a}/32" for a in mine.values()}

        elb.delete_load_balancer(c, {"LoadBalancerArn": lb["LoadBalancerArn"]})
        await w.settle()
        assert w.compute.addresses == set()
        assert w.store.resources.list(ADDRESS) == []
        assert elb.group_members(ACCOUNT, "us-east-1", group) == []
        await w.stop()

    run(scenario())


def test_network_load_balancer_shows_its_addresses_and_reset_removes_them(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        subnet = w.subnets()[2]
        lb = w.elb.create_load_balancer(call("elbv2"), {
            "Name": "tcp", "Type": "network", "Scheme": "internal",
            "Subnets": [subnet["SubnetId"]]})["LoadBalancers"][0]
        ((zone,),) = [z["LoadBalancerAddresses"] for z in lb["AvailabilityZones"]]
        assert ipaddress.IPv4Address(zone["IpAddress"]) in ipaddress.IPv4Network(
            subnet["CidrBlock"])
        assert zone["PrivateIPv4Address"] == zone["IpAddress"]
        await w.settle()
        assert w.compute.addresses == {zone["IpAddress"]}
        assert w.elb.reserved_addresses() == {zone["IpAddress"]}
        await w.elb.reset()
        assert w.compute.addresses == set()
        assert w.elb.reserved_addresses() == set()
        await w.stop()

    run(scenario())


def test_addresses_come_back_after_a_restart_and_orphans_are_released(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        lb = w.elb.create_load_balancer(call("elbv2"), {"Name": "web"})["LoadBalancers"][0]
        await w.settle()
        placed = set(w.compute.addresses)
        assert len(placed) == len(w.subnets())
        await w.stop()  # (the host's bridge, and the addresses, go with gureum)
        assert w.compute.addresses == set()

        again = World(tmp_path)
        await again.start()
        await again.settle()
        assert again.compute.addresses == placed
        # A load balancer deleted while nothing ran (a crash between steps):
        # its addresses are released by the loop's resync.
        with again.store.tx():
            again.store.resources.delete("elbv2:loadbalancer", ACCOUNT, "us-east-1",
                                         lb["LoadBalancerArn"])
        await again.settle(31.0)
        assert again.compute.addresses == set()
        assert again.store.resources.list(ADDRESS) == []
        await again.stop()

    run(scenario())


def test_a_loopback_network_keeps_one_loopback_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path, isolated=False)
        await w.start()
        lb = w.elb.create_load_balancer(call("elbv2"), {"Name": "web"})["LoadBalancers"][0]
        await w.settle()
        assert w.names.names()[lb["DNSName"]].startswith("127.250.")
        assert w.store.resources.list(ADDRESS) == []
        (spec,) = w.proxy.specs.values()
        assert spec.extra_addresses == ()
        await w.stop()

    run(scenario())


def test_an_internal_network_load_balancer_gets_the_address_asked_for(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        elb, c = w.elb, call("elbv2")
        subnet = w.subnets()[0]
        net = ipaddress.IPv4Network(subnet["CidrBlock"])
        asked = str(net.network_address + 50)

        def create(name: str, address: str, **extra: Any) -> dict[str, Any]:
            params = {"Name": name, "Type": "network", "Scheme": "internal",
                      "SubnetMappings": [{"SubnetId": subnet["SubnetId"],
                                          "PrivateIPv4Address": address}], **extra}
            out: dict[str, Any] = elb.create_load_balancer(c, params)["LoadBalancers"][0]
            return out

        def code(name: str, address: str, **extra: Any) -> str:
            try:
                create(name, address, **extra)
            except AWSError as e:
                return e.code
            return "none"

        lb = create("pinned", asked)
        ((shown,),) = [z["LoadBalancerAddresses"] for z in lb["AvailabilityZones"]]
        assert shown["PrivateIPv4Address"] == asked
        assert code("again", asked) == "InvalidConfigurationRequest"  # in use
        assert code("first", str(net.network_address + 2)) == "ValidationError"  # AWS's own
        assert code("outside", "10.9.9.9") == "ValidationError"
        assert code("junk", "not-an-ip") == "ValidationError"
        assert code("public", str(net.network_address + 60),
                    Scheme="internet-facing") == "ValidationError"
        # (nothing of the refused ones is left) and EC2 does not give it out either.
        assert [d["LoadBalancerName"] for d in elb.describe_load_balancers(c, {})[
            "LoadBalancers"]] == ["pinned"]
        assert w.elb.reserved_addresses() == {asked}
        assert asked in w.ec2.used_addresses()
        await w.stop()

    run(scenario())


def test_default_group_for_albs_and_no_source_for_nlbs_without_groups(tmp_path: Path) -> None:
    """An ALB created without groups is in the VPC's default group (as in AWS),
    so instances of that group let it in; an NLB in no group connects from
    the host's address, as its clients (here, the host) would be seen."""
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        elb, c = w.elb, call("elbv2")
        default = w.ec2.default_security_group(ACCOUNT, "us-east-1")["GroupId"]
        alb = elb.create_load_balancer(c, {"Name": "alb"})["LoadBalancers"][0]
        assert alb["SecurityGroups"] == [default]
        nlb = elb.create_load_balancer(c, {"Name": "nlb", "Type": "network"})[
            "LoadBalancers"][0]
        assert "SecurityGroups" not in nlb
        target = str(ipaddress.IPv4Network(w.subnets()[0]["CidrBlock"]).network_address + 9)
        docs = {d["name"]: d for d in w.store.resources.list("elbv2:loadbalancer")}
        assert elb.source_for(docs["alb"], target) in {
            a["address"] for a in docs["alb"]["addresses"]}
        assert elb.source_for(docs["nlb"], target) is None
        assert set(elb.group_members(ACCOUNT, "us-east-1", default)) == {
            f"{a['address']}/32" for a in docs["alb"]["addresses"]}
        await w.stop()

    run(scenario())


def test_a_load_balancer_in_a_vpc_of_ones_own(tmp_path: Path) -> None:
    """Subnets of a VPC the user made: the addresses are on that VPC's network,
    the load balancer is in that VPC (and its default group), and connects
    from its address to targets there; subnets must share one VPC and differ
    in zone."""
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        ec2, elb, c = w.ec2, w.elb, call("elbv2")
        vpc = ec2.create_vpc(call("ec2"), {"CidrBlock": "10.77.0.0/16"})["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(call("ec2"), {
            "VpcId": vpc, "CidrBlock": f"10.77.{n}.0/24", "AvailabilityZone": zone})["Subnet"]
            for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"), (3, "us-east-1a"))]
        lb = elb.create_load_balancer(c, {"Name": "own", "Subnets": [
            s["SubnetId"] for s in subnets[:2]]})["LoadBalancers"][0]
        assert lb["VpcId"] == vpc
        assert lb["SecurityGroups"] == [ec2.default_group(ACCOUNT, "us-east-1", vpc)["id"]]
        await w.settle()
        mine = {r["subnet"]: r["address"] for r in w.store.resources.list(ADDRESS)}
        assert mine[subnets[1]["SubnetId"]].startswith("10.77.2.")
        assert {w.compute.address_networks[a] for a in mine.values()} == {"10.77.0.0/16"}
        doc = w.store.resources.list("elbv2:loadbalancer")[0]
        assert elb.source_for(doc, "10.77.2.40") == mine[subnets[1]["SubnetId"]]
        assert elb.source_for(doc, "172.31.0.40") is None

        def code(**params: Any) -> str:
            try:
                elb.create_load_balancer(c, params)
            except AWSError as e:
                return e.code
            return "none"

        default_subnet = w.subnets()[1]["SubnetId"]
        assert code(Name="mixed", Subnets=[subnets[0]["SubnetId"], default_subnet]) == \
            "InvalidConfigurationRequest"
        assert code(Name="samezone", Subnets=[subnets[0]["SubnetId"],
                                              subnets[2]["SubnetId"]]) == \
            "InvalidConfigurationRequest"
        other_vpc_group = ec2.create_security_group(call("ec2"), {
            "GroupName": "elsewhere", "Description": "x"})["GroupId"]
        assert code(Name="groups", Subnets=[s["SubnetId"] for s in subnets[:2]],
                    SecurityGroups=[other_vpc_group]) == "InvalidSecurityGroup"
        try:
            elb.set_security_groups(c, {"LoadBalancerArn": lb["LoadBalancerArn"],
                                        "SecurityGroups": [other_vpc_group]})
            raise AssertionError("a group of another VPC was taken")
        except AWSError as e:
            assert e.code == "InvalidSecurityGroup"
        elb.delete_load_balancer(c, {"LoadBalancerArn": lb["LoadBalancerArn"]})
        await w.settle()
        assert w.compute.addresses == set()
        await w.stop()

    run(scenario())


def test_set_subnets_moves_the_addresses(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        elb, c = w.elb, call("elbv2")
        s = [x["SubnetId"] for x in w.subnets()[:3]]
        lb = elb.create_load_balancer(c, {"Name": "move", "Subnets": s[:2]})[
            "LoadBalancers"][0]
        await w.settle()
        before = {r["subnet"]: r["address"] for r in w.store.resources.list(ADDRESS)}
        changed: list[Any] = []  # (EC2 re-applies its members' rules: new addresses)
        w.ec2.groups_changed = lambda call, members_of=None: changed.append(members_of)
        out = elb.set_subnets(c, {"LoadBalancerArn": lb["LoadBalancerArn"],
                                  "Subnets": [s[1], s[2]]})
        assert changed == [set(lb["SecurityGroups"])]
        assert [z["SubnetId"] for z in out["AvailabilityZones"]] == [s[1], s[2]]
        await w.settle()
        after = {r["subnet"]: r["address"] for r in w.store.resources.list(ADDRESS)}
        assert set(after) == {s[1], s[2]}
        assert after[s[1]] == before[s[1]]  # kept
        assert w.compute.addresses == set(after.values())
        (spec,) = w.proxy.specs.values()
        assert set(spec.addresses) == set(after.values())
        assert w.names.names()[lb["DNSName"]] == after[s[1]]
        try:
            elb.set_subnets(c, {"LoadBalancerArn": lb["LoadBalancerArn"], "Subnets": [s[0]]})
            raise AssertionError("an ALB in one subnet")
        except AWSError as e:
            assert e.code == "ValidationError"
        await w.stop()

    run(scenario())


def test_subnets_and_groups_in_use_cannot_be_deleted(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        ec2, elb, c = w.ec2, w.elb, call("elbv2")
        vpc = ec2.create_vpc(call("ec2"), {"CidrBlock": "10.78.0.0/16"})["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(call("ec2"), {
            "VpcId": vpc, "CidrBlock": f"10.78.{n}.0/24", "AvailabilityZone": zone})[
            "Subnet"]["SubnetId"] for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))]
        group = ec2.create_security_group(call("ec2"), {
            "GroupName": "lb", "Description": "lb", "VpcId": vpc})["GroupId"]
        lb = elb.create_load_balancer(c, {"Name": "dep", "Subnets": subnets,
                                          "SecurityGroups": [group]})["LoadBalancers"][0]
        for operation, params in ((ec2.delete_subnet, {"SubnetId": subnets[0]}),
                                  (ec2.delete_security_group, {"GroupId": group})):
            try:
                operation(call("ec2"), params)
                raise AssertionError(f"{params} deleted while in use")
            except AWSError as e:
                assert e.code == "DependencyViolation"
        elb.delete_load_balancer(c, {"LoadBalancerArn": lb["LoadBalancerArn"]})
        ec2.delete_security_group(call("ec2"), {"GroupId": group})
        for s in subnets:
            ec2.delete_subnet(call("ec2"), {"SubnetId": s})
        await w.stop()

    run(scenario())
