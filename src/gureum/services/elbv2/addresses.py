"""Where a load balancer lives: its own address in each of its subnets.

When instances live on a real network (EC2's compute driver gives them an
``isolated`` one: network namespaces on a host bridge), a load balancer gets
one private address in each of its subnets, allocated by EC2's allocator
like a network interface's (never an instance's: EC2 asks
``reserved_addresses`` before giving one out). The host holds these
addresses on the network's bridge (``ComputeDriver.add_host_address``), so
the listeners listen there, instances of the VPC and the host itself reach
them, and the proxy connects to a target from the load balancer's address in
the target's subnet: instances' security groups tell load balancers apart.

Each address is a record (``ADDRESS``) from allocation until the address is
off the host again, so a load balancer deleted (or a reset, or a crash in
between) never leaves one on the bridge and never lets EC2 hand out one
still there. The bridge goes when gureum stops (EC2 removes it) and the loop
puts the addresses back at the next start.

Without such a network (no root: instances on loopback addresses), a load
balancer gets one loopback address of its own (``Env.addresses``), as every
other endpoint does.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common.private import isolated_compute, network_plan
from .core import ADDRESS, LB, Doc, ELBv2Core, validation

RESERVED_KEY = "ec2.reserved-addresses"  # EC2's registry of addresses not to give out
SUBNET = "ec2:subnet"  # EC2's records of the subnets users create
SUBNET_USERS_KEY = "ec2.subnet-users"  # EC2 asks before deleting a subnet


class AddressOperations(ELBv2Core):
    # (the reserved addresses, as of the version of their records)
    _reserved: tuple[tuple[int, int], frozenset[str]] | None = None

    def _ec2(self) -> Any:
        return (self.env.extras.get("services") or {}).get("ec2")

    def compute(self) -> Any:
        """EC2's compute driver when load balancers live on its network, else None."""
        return isolated_compute(self._ec2())

    def allocate_addresses(self, call: Call, lb_arn: str, subnets: list[dict[str, str]],
                           wanted: dict[str, str] | None = None) -> list[Doc]:
        """One address in each subnet for ``lb_arn`` (``wanted``: subnet -> the
        address asked for), recorded (call inside a transaction); [] when load
        balancers live on loopback addresses (where what was asked for is moot)."""
        ec2 = self._ec2()
        if self.compute() is None:
            return []
        out = []
        for s in subnets:
            subnet = ec2.subnet_for(call, s["SubnetId"], None)
            asked = (wanted or {}).get(s["SubnetId"])
            address = (self._check_wanted(ec2, subnet, asked) if asked
                       else ec2.allocate_addresses(subnet, 1)[0])
            # A VPC the user made is a network of its own (None: the default one).
            network = subnet.get("_network")
            self.store.resources.put(ADDRESS, call.account, call.region, address,
                                     {"address": address, "lb": lb_arn,
                                      "subnet": s["SubnetId"], "network": network})
            out.append({"SubnetId": s["SubnetId"], "address": address,
                        "cidr": subnet["CidrBlock"], "network": network})
        return out

    def _check_wanted(self, ec2: Any, subnet: Doc, asked: str) -> str:
        """``asked`` if it is a free address of ``subnet`` (AWS keeps its first
        four and its last), else AWS's error."""
        net = ipaddress.IPv4Network(subnet["CidrBlock"])
        try:
            ip = ipaddress.IPv4Address(asked)
        except ValueError:
            raise validation(f"'{asked}' is not a valid IPv4 address") from None
        offset = int(ip) - int(net.network_address)
        if ip not in net or not 4 <= offset < net.num_addresses - 1:
            raise validation(f"The private IPv4 address '{asked}' is not a usable address "
                             f"of subnet '{subnet['SubnetId']}' ({net})")
        if asked in ec2.used_addresses():
            raise AWSError("InvalidConfigurationRequest",
                           f"The private IPv4 address '{asked}' is already in use")
        return asked

    def uses_subnet(self, account: str, region: str, subnet_id: str) -> bool:
        """Whether a load balancer of the account is in ``subnet_id`` (EC2 asks)."""
        return any(s["SubnetId"] == subnet_id
                   for d in self.store.resources.list(LB, account, region)
                   for s in d["subnets"])

    def reserved_addresses(self) -> set[str]:
        """Every address load balancers hold or still have on the host (EC2 asks,
        at every launch: read again only after a change of them)."""
        version = self.store.resources.version(ADDRESS)
        kept = self._reserved
        if kept is None or kept[0] != version:
            kept = (version, frozenset(d["address"] for d in self.store.resources.list(ADDRESS)))
            self._reserved = kept
        return set(kept[1])

    def orphan_address_owners(self) -> list[str]:
        """Load balancers that are gone but whose addresses are not released yet."""
        live = {d["arn"] for d in self.store.resources.list(LB)}
        return list(dict.fromkeys(d["lb"] for d in self.store.resources.list(ADDRESS)
                                  if d["lb"] not in live))

    async def place_addresses(self, lb: Doc) -> None:
        compute = self.compute()
        if compute is None:
            return
        for a in lb.get("addresses") or []:
            await compute.add_host_address(a["address"], network_plan(a.get("network")))

    async def release_addresses(self, call: Call, lb_arn: str) -> None:
        """Take ``lb_arn``'s addresses off the host, then forget them."""
        compute = self.compute()
        for doc in self.store.resources.list(ADDRESS, call.account, call.region,
                                             where=lambda d: d["lb"] == lb_arn):
            if compute is not None:
                await compute.remove_host_address(doc["address"], network_plan(doc.get("network")))
            with self.store.tx():
                self.store.resources.delete(ADDRESS, call.account, call.region,
                                            doc["address"])

    async def release_left_addresses(self, call: Call, lb: Doc) -> None:
        """Take off the host the addresses of subnets ``lb`` has left (SetSubnets)."""
        keep = {a["address"] for a in lb.get("addresses") or []}
        compute = self.compute()
        for doc in self.store.resources.list(ADDRESS, call.account, call.region,
                                             where=lambda d: d["lb"] == lb["arn"]):
            if doc["address"] in keep:
                continue
            if compute is not None:
                await compute.remove_host_address(doc["address"], network_plan(doc.get("network")))
            with self.store.tx():
                self.store.resources.delete(ADDRESS, call.account, call.region,
                                            doc["address"])

    async def release_all_addresses(self) -> None:
        compute = self.compute()
        for doc in self.store.resources.list(ADDRESS):
            if compute is not None:
                await compute.remove_host_address(doc["address"], network_plan(doc.get("network")))

    def network_of(self, lb: Doc) -> str | None:
        """The range of the network ``lb`` has its addresses on (None: none)."""
        addresses = lb.get("addresses") or []
        if not addresses:
            return None
        if addresses[0].get("network"):
            return str(addresses[0]["network"]["cidr"])
        compute = self.compute()
        return str(compute.network().cidr) if compute is not None else None

    def source_for(self, lb: Doc, host: str) -> str | None:
        """The address ``lb`` connects to a target at ``host`` from: its own in the
        target's subnet (else its first) when the target is on its network;
        None (the host's choice) otherwise, and for a network load balancer in
        no security group: there AWS's targets see their clients' addresses,
        and the clients here are the host."""
        addresses = lb.get("addresses") or []
        if not lb.get("security_groups"):
            return None
        compute = self.compute() if addresses else None
        if compute is None:
            return None
        try:
            ip = ipaddress.IPv4Address(host)
        except ValueError:
            return None
        network = addresses[0].get("network") or {"cidr": compute.network().cidr}
        if ip not in ipaddress.IPv4Network(network["cidr"]):
            return None
        for a in addresses:
            if ip in ipaddress.IPv4Network(a["cidr"]):
                return str(a["address"])
        return str(addresses[0]["address"])

