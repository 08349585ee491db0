"""The default VPC of every account and region, its subnets (one /20 per
availability zone) and default security group, and private address allocation.

Every VPC's addresses are real addresses on this host's instance network, so
they are allocated from one pool across all accounts and regions: two
instances never share an address, whatever their VPC.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from .core import INSTANCE, EC2Core
from .regions import zone_id, zones

SUBNET_PREFIX = 20


def _id(prefix: str, *parts: str) -> str:
    return f"{prefix}-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:17]


class VpcOperations(EC2Core):
    def vpc_cidr(self) -> str:
        return self.driver.network().cidr

    def default_vpc(self, account: str, region: str) -> dict[str, Any]:
        cidr = self.vpc_cidr()
        vpc_id = _id("vpc", account, region, "default")
        return {
            "VpcId": vpc_id,
            "OwnerId": account,
            "CidrBlock": cidr,
            "CidrBlockAssociationSet": [
                {"AssociationId": _id("vpc-cidr-assoc", vpc_id), "CidrBlock": cidr,
                 "CidrBlockState": {"State": "associated"}},
            ],
            "DhcpOptionsId": _id("dopt", account, region),
            "InstanceTenancy": "default",
            "IsDefault": True,
            "State": "available",
            "Tags": [],
        }

    def default_subnets(self, account: str, region: str) -> list[dict[str, Any]]:
        net = ipaddress.IPv4Network(self.vpc_cidr())
        blocks = list(net.subnets(new_prefix=SUBNET_PREFIX))
        vpc_id = _id("vpc", account, region, "default")
        out = []
        for i, zone in enumerate(zones(region)):
            subnet_id = _id("subnet", account, region, zone["ZoneName"])
            out.append({
                "SubnetId": subnet_id,
                "SubnetArn": f"arn:aws:ec2:{region}:{account}:subnet/{subnet_id}",
                "VpcId": vpc_id,
                "OwnerId": account,
                "CidrBlock": str(blocks[i]),
                "AvailabilityZone": zone["ZoneName"],
                "AvailabilityZoneId": zone_id(region, i),
                "AvailableIpAddressCount": blocks[i].num_addresses - 5,
                "DefaultForAz": True,
                "MapPublicIpOnLaunch": False,
                "State": "available",
                "AssignIpv6AddressOnCreation": False,
                "Ipv6CidrBlockAssociationSet": [],
                "Tags": [],
            })
        return out

    def subnet_for(self, call: Call, subnet_id: str | None, zone: str | None) -> dict[str, Any]:
        subnets = self.default_subnets(call.account, call.region)
        if subnet_id:
            for s in subnets:
                if s["SubnetId"] == subnet_id:
                    return s
            raise AWSError("InvalidSubnetID.NotFound",
                           f"The subnet ID '{subnet_id}' does not exist")
        if zone:
            for s in subnets:
                if s["AvailabilityZone"] == zone:
                    return s
            raise AWSError("InvalidParameterValue", f"Invalid availability zone: [{zone}]")
        return subnets[0]

    def allocate_addresses(self, subnet: dict[str, Any], count: int) -> list[str]:
        """``count`` free addresses of ``subnet`` (AWS reserves the first four and the last)."""
        used = {
            d["ip"] for d in self.store.resources.list(INSTANCE) if d["state"] != "terminated"
        }
        used.add(self.driver.network().gateway)
        net = ipaddress.IPv4Network(subnet["CidrBlock"])
        out: list[str] = []
        for offset in range(4, net.num_addresses - 1):
            ip = str(net.network_address + offset)
            if ip not in used:
                out.append(ip)
                if len(out) == count:
                    return out
        raise AWSError("InsufficientFreeAddressesInSubnet",
                       f"Subnet '{subnet['SubnetId']}' has no free addresses left")

    def describe_vpcs(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        vpcs = [self.default_vpc(call.account, call.region)]
        ids = params.get("VpcIds")
        if ids:
            for vpc_id in ids:
                if vpc_id not in {v["VpcId"] for v in vpcs}:
                    raise AWSError("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        getters = {
            "vpc-id": filters.field("VpcId"), "cidr": filters.field("CidrBlock"),
            "cidr-block-association.cidr-block": filters.field("CidrBlock"),
            "is-default": filters.field("IsDefault"), "state": filters.field("State"),
            "owner-id": filters.field("OwnerId"), "dhcp-options-id": filters.field("DhcpOptionsId"),
        }
        return {"Vpcs": filters.apply(vpcs, params.get("Filters"), getters)}

    def describe_subnets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        subnets = self.default_subnets(call.account, call.region)
        ids = params.get("SubnetIds")
        if ids:
            known = {s["SubnetId"] for s in subnets}
            for subnet_id in ids:
                if subnet_id not in known:
                    raise AWSError("InvalidSubnetID.NotFound",
                                   f"The subnet ID '{subnet_id}' does not exist")
            subnets = [s for s in subnets if s["SubnetId"] in ids]
        getters = {
            "subnet-id": filters.field("SubnetId"), "vpc-id": filters.field("VpcId"),
            "cidr-block": filters.field("CidrBlock"), "cidr": filters.field("CidrBlock"),
            "availability-zone": filters.field("AvailabilityZone"),
            "availability-zone-id": filters.field("AvailabilityZoneId"),
            "default-for-az": filters.field("DefaultForAz"), "state": filters.field("State"),
            "owner-id": filters.field("OwnerId"),
        }
        return {"Subnets": filters.apply(subnets, params.get("Filters"), getters)}
