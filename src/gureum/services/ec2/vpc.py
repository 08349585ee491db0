"""VPCs and subnets: the default VPC of every account and region (the host's
instance network, one /20 subnet per availability zone), VPCs and subnets
created with CreateVpc/CreateSubnet (CIDRs validated as AWS does: /16 to /28,
subnets inside their VPC and not overlapping), and private address allocation
(instances' addresses, and those other services reserve: ``RESERVED_KEY``).

Every VPC's addresses are real addresses on this host, so they are allocated
from one pool across all accounts and regions: two instances never share an
address, whatever their VPC. Instances of a created VPC live on a network of
the VPC's range (the driver gives it a bridge of its own, the host holding the
range's first address): the host reaches them, they reach each other and the
host, and not the instances of other VPCs. The host can route a range to one
place only, so RunInstances into a VPC whose range overlaps another VPC that
has instances, the default VPC's range or a network the host already routes
answers ``Unsupported`` saying which (a documented limit).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from ..common import tags as tagging
from ..common.ids import hex_id
from .core import INSTANCE, SECURITY_GROUP, SUBNET, VPC, EC2Core
from .regions import zone_id, zones

SUBNET_PREFIX = 20
# Env.extras: callables () -> addresses other services hold in VPC subnets (a
# load balancer's, one per subnet); instances are never given them.
RESERVED_KEY = "ec2.reserved-addresses"
# Env.extras: callables (account, region, subnet id) -> whether another service
# has something in that subnet (a load balancer): the subnet cannot be deleted.
SUBNET_USERS_KEY = "ec2.subnet-users"


def _id(prefix: str, *parts: str) -> str:
    return f"{prefix}-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:17]


@functools.lru_cache(maxsize=64)
def _range(cidr: str) -> tuple[int, int]:
    """The first and the end (excluded) of a subnet's addresses instances may
    have: AWS reserves the first four and the last."""
    net = ipaddress.IPv4Network(cidr)
    base = int(net.network_address)
    return base + 4, base + net.num_addresses - 1


# A subnet's addresses, lowest first, spelled once, as far as launches looked.
_SPELLED: dict[str, list[str]] = {}


def _free_addresses(cidr: str, used: set[str], count: int) -> list[str]:
    """The ``count`` lowest addresses of a subnet not in ``used`` (fewer if there
    are not as many)."""
    return _scan(cidr, used, frozenset(), count, 0)[0]


def _scan(cidr: str, taken: set[str], others: set[str] | frozenset[str], count: int,
          start: int) -> tuple[list[str], int]:
    """The ``count`` lowest addresses of a subnet in neither ``taken`` nor
    ``others`` from its ``start``-th on, and the place of the first one not in
    ``taken`` (all before it are: a later scan, while ``taken`` only grows, may
    start there). A launch looks past every address in use: spelling each
    again (an IPv4Address each cost ~10 us, a format ~1 us) was the most of it."""
    first, end = _range(cidr)
    spelled = _SPELLED.setdefault(cidr, [])
    out: list[str] = []
    i = lowest = start
    while len(out) < count:
        if i == len(spelled):
            n = first + i
            if n >= end:
                break
            spelled.append(f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}")
        ip = spelled[i]
        i += 1
        if ip in taken:
            if lowest == i - 1:
                lowest = i
        elif ip not in others:
            out.append(ip)
    return out, lowest


class VpcOperations(EC2Core):
    def vpc_cidr(self) -> str:
        return self.host_network().cidr

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
        # (copies: callers may change what they are given)
        return [{**s, "Ipv6CidrBlockAssociationSet": [], "Tags": []}
                for s in _default_subnets(account, region, self.vpc_cidr())]

    def subnet_for(self, call: Call, subnet_id: str | None, zone: str | None) -> dict[str, Any]:
        subnets = self.default_subnets(call.account, call.region)
        if subnet_id:
            for s in subnets:
                if s["SubnetId"] == subnet_id:
                    return s
            own = self.store.resources.get(SUBNET, call.account, call.region, subnet_id)
            if own is not None:
                view = _subnet_view(own)
                view["_network"] = self.vpc_network(call, own["vpc_id"])
                return view
            raise AWSError("InvalidSubnetID.NotFound",
                           f"The subnet ID '{subnet_id}' does not exist")
        if zone:
            for s in subnets:
                if s["AvailabilityZone"] == zone:
                    return s
            raise AWSError("InvalidParameterValue", f"Invalid availability zone: [{zone}]")
        return subnets[0]

    def vpc_network(self, call: Call, vpc_id: str) -> dict[str, str]:
        """A created VPC's network on this host: its range and the host's address in
        it (the range's first), if the host can give it to instances now."""
        vpc = self.store.resources.get(VPC, call.account, call.region, vpc_id)
        net = ipaddress.IPv4Network(vpc["cidr"])
        for other_vpc, cidr in self.index().networks:
            if other_vpc != vpc_id and net.overlaps(ipaddress.IPv4Network(cidr)):
                raise AWSError("Unsupported", f"gureum cannot run instances in {vpc_id} "
                               f"({net}) while {other_vpc} ({cidr}) has instances: "
                               "this host routes one range to one place")
        reason = self.driver.network_conflict(str(net))
        if reason is not None:
            raise AWSError("Unsupported", f"gureum cannot run instances in {vpc_id}: {reason}")
        return {"cidr": str(net), "gateway": str(net.network_address + 1)}

    def used_addresses(self) -> set[str]:
        """Addresses no instance may be given: instances', the host's, reserved ones."""
        used = self.index().ips | {self.host_network().gateway}
        for reserved in self.env.extras.get(RESERVED_KEY) or ():
            used |= reserved()
        return used

    def allocate_addresses(self, subnet: dict[str, Any], count: int) -> list[str]:
        """``count`` free addresses of ``subnet`` (AWS reserves the first four and the last)."""
        # (the instances' addresses are not copied, and the scan starts past the
        # lowest ones instances held at the last: the index's set of them only
        # grows until it is built again, at a termination; not a pass over every
        # instance's address per launch)
        index, cidr = self.index(), subnet["CidrBlock"]
        others = {self.host_network().gateway}
        for reserved in self.env.extras.get(RESERVED_KEY) or ():
            others |= reserved()
        out, index.scan_from[cidr] = _scan(cidr, index.ips, others, count,
                                           index.scan_from.get(cidr, 0))
        if len(out) == count:
            return out
        raise AWSError("InsufficientFreeAddressesInSubnet",
                       f"Subnet '{subnet['SubnetId']}' has no free addresses left")

    def vpc_ids(self, call: Call) -> list[str]:
        return [v["VpcId"] for v in self.all_vpcs(call)]

    def all_vpcs(self, call: Call) -> list[dict[str, Any]]:
        own = self.store.resources.list(VPC, call.account, call.region)
        return [self.default_vpc(call.account, call.region), *(_vpc_view(v) for v in own)]

    def all_subnets(self, call: Call) -> list[dict[str, Any]]:
        own = self.store.resources.list(SUBNET, call.account, call.region)
        return [*self.default_subnets(call.account, call.region), *(_subnet_view(s) for s in own)]

    def describe_vpcs(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        vpcs = self.all_vpcs(call)
        ids = params.get("VpcIds")
        if ids:
            for vpc_id in ids:
                if vpc_id not in {v["VpcId"] for v in vpcs}:
                    raise AWSError("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
            vpcs = [v for v in vpcs if v["VpcId"] in ids]
        getters = {
            "vpc-id": filters.field("VpcId"), "cidr": filters.field("CidrBlock"),
            "cidr-block-association.cidr-block": filters.field("CidrBlock"),
            "is-default": filters.field("IsDefault"), "state": filters.field("State"),
            "owner-id": filters.field("OwnerId"), "dhcp-options-id": filters.field("DhcpOptionsId"),
        }
        return {"Vpcs": filters.apply(vpcs, params.get("Filters"), getters)}

    def describe_subnets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        subnets = self.all_subnets(call)
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

    # -- CreateVpc, CreateSubnet, DeleteVpc, DeleteSubnet -----------------------

    def create_vpc(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        net = _block(params.get("CidrBlock"), "InvalidVpc.Range")
        tags: dict[str, str] = {}
        for spec in params.get("TagSpecifications") or []:
            tags.update(tagging.to_dict(spec.get("Tags")))
        vpc_id = hex_id("vpc")
        doc = {"id": vpc_id, "account": call.account, "region": call.region,
               "cidr": str(net), "tags": tags,
               "tenancy": params.get("InstanceTenancy") or "default"}
        with self.store.tx():
            self.store.resources.put(VPC, call.account, call.region, vpc_id, doc)
        return {"Vpc": {**_vpc_view(doc), "State": "pending"}}

    def delete_vpc(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        vpc_id = params.get("VpcId") or ""
        with self.store.tx():
            if vpc_id == self.default_vpc(call.account, call.region)["VpcId"]:
                raise AWSError("OperationNotPermitted",
                               "gureum keeps the default VPC (it is the host's instance network)")
            if self.store.resources.get(VPC, call.account, call.region, vpc_id) is None:
                raise AWSError("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
            subnets = self.store.resources.list(SUBNET, call.account, call.region,
                                                where=lambda s: s["vpc_id"] == vpc_id)
            groups = self.store.resources.list(
                SECURITY_GROUP, call.account, call.region,
                where=lambda g: g["vpc_id"] == vpc_id and not g.get("default"))
            if subnets or groups:
                raise AWSError("DependencyViolation",
                               f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
            for g in self.store.resources.list(SECURITY_GROUP, call.account, call.region,
                                               where=lambda g: g["vpc_id"] == vpc_id):
                self.store.resources.delete(SECURITY_GROUP, call.account, call.region, g["id"])
            self.store.resources.delete(VPC, call.account, call.region, vpc_id)
        return {}

    def create_subnet(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        vpc_id = params.get("VpcId") or ""
        vpc = next((v for v in self.all_vpcs(call) if v["VpcId"] == vpc_id), None)
        if vpc is None:
            raise AWSError("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        net = _block(params.get("CidrBlock"), "InvalidSubnet.Range")
        if not net.subnet_of(ipaddress.IPv4Network(vpc["CidrBlock"])):
            raise AWSError("InvalidSubnet.Range", f"The CIDR '{net}' is invalid.")
        for other in self.all_subnets(call):
            if other["VpcId"] == vpc_id and net.overlaps(
                    ipaddress.IPv4Network(other["CidrBlock"])):
                raise AWSError("InvalidSubnet.Conflict",
                               f"The CIDR '{net}' conflicts with another subnet")
        names = {z["ZoneName"]: i for i, z in enumerate(zones(call.region))}
        zone = params.get("AvailabilityZone") or next(iter(names))
        if zone not in names:
            raise AWSError("InvalidParameterValue",
                           f"Value ({zone}) for parameter availabilityZone is invalid.")
        tags: dict[str, str] = {}
        for spec in params.get("TagSpecifications") or []:
            tags.update(tagging.to_dict(spec.get("Tags")))
        doc = {"id": hex_id("subnet"), "account": call.account, "region": call.region,
               "vpc_id": vpc_id, "cidr": str(net), "az": zone,
               "az_id": zone_id(call.region, names[zone]), "tags": tags}
        with self.store.tx():
            self.store.resources.put(SUBNET, call.account, call.region, doc["id"], doc)
        return {"Subnet": _subnet_view(doc)}

    def delete_subnet(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        subnet_id = params.get("SubnetId") or ""
        with self.store.tx():
            if self.store.resources.get(SUBNET, call.account, call.region, subnet_id) is None:
                if any(s["SubnetId"] == subnet_id
                       for s in self.default_subnets(call.account, call.region)):
                    raise AWSError("OperationNotPermitted",
                                   "gureum keeps the default subnets")
                raise AWSError("InvalidSubnetID.NotFound",
                               f"The subnet ID '{subnet_id}' does not exist")
            if self.store.resources.list(
                    INSTANCE, call.account, call.region,
                    where=lambda d: d["subnet_id"] == subnet_id and d["state"] != "terminated"
                    ) or any(used(call.account, call.region, subnet_id)
                             for used in self.env.extras.get(SUBNET_USERS_KEY) or []):
                raise AWSError("DependencyViolation",
                               f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
            self.store.resources.delete(SUBNET, call.account, call.region, subnet_id)
        return {}


def _block(text: Any, code: str) -> ipaddress.IPv4Network:
    """A VPC or subnet CIDR block as AWS accepts it: IPv4, aligned, /16 to /28."""
    try:
        net = ipaddress.IPv4Network(str(text), strict=True)
    except ValueError:
        raise AWSError("InvalidParameterValue",
                       f"Value ({text}) for parameter cidrBlock is invalid. This is not a valid "
                       "CIDR block.") from None
    if "/" not in str(text) or not 16 <= net.prefixlen <= 28:
        raise AWSError(code, f"The CIDR '{text}' is invalid: the netmask must be between /16 "
                       "and /28.")
    return net


def _vpc_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "VpcId": doc["id"], "OwnerId": doc["account"], "CidrBlock": doc["cidr"],
        "CidrBlockAssociationSet": [
            {"AssociationId": _id("vpc-cidr-assoc", doc["id"]), "CidrBlock": doc["cidr"],
             "CidrBlockState": {"State": "associated"}}],
        "DhcpOptionsId": _id("dopt", doc["account"], doc["region"]),
        "InstanceTenancy": doc["tenancy"], "IsDefault": False, "State": "available",
        "Tags": tagging.to_list(doc.get("tags")),
    }


def _subnet_view(doc: dict[str, Any]) -> dict[str, Any]:
    net = ipaddress.IPv4Network(doc["cidr"])
    return {
        "SubnetId": doc["id"],
        "SubnetArn": f"arn:aws:ec2:{doc['region']}:{doc['account']}:subnet/{doc['id']}",
        "VpcId": doc["vpc_id"], "OwnerId": doc["account"], "CidrBlock": doc["cidr"],
        "AvailabilityZone": doc["az"], "AvailabilityZoneId": doc["az_id"],
        "AvailableIpAddressCount": net.num_addresses - 5, "DefaultForAz": False,
        "MapPublicIpOnLaunch": False, "State": "available",
        "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [],
        "Tags": tagging.to_list(doc.get("tags")),
    }


@functools.lru_cache(maxsize=64)
def _default_subnets(account: str, region: str, cidr: str) -> list[dict[str, Any]]:
    """The default VPC's subnets (one per zone): built once, copied for each use."""
    net = ipaddress.IPv4Network(cidr)
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
