"""Private addresses of data-tier endpoints (DB instances, cache nodes) on
EC2's instance network, so that instances reach them as on AWS.

An instance lives in its own network namespace, where 127.x is its own
loopback: an engine listening on a loopback address of the host is out of
its reach. When EC2's compute driver gives instances a real network (an
``isolated`` one: namespaces on a host bridge), each engine server gets one
private address in a subnet of the default VPC (the one of its availability
zone), allocated by EC2's allocator like a network interface's and reserved
(``RESERVED_KEY``) so that no instance is ever given it. The host holds the
address on the bridge (``ComputeDriver.add_host_address``) and the engine
listens there on its usual port; the endpoint's name resolves to it on the
host and inside instances (gureum's names registry).

Each address is a record (``KIND``) from allocation until it is off the host
again: a deleted endpoint, a reset or a crash in between never leaves one on
the bridge, and EC2 never hands out one still there. The bridge goes when
gureum stops (EC2 removes it) and ``place`` puts an address back before its
engine starts again.

Without such a network (no root: instances on loopback addresses),
``allocate`` answers None and the endpoint keeps its own loopback address
(``Env.addresses``), as before.
"""

from __future__ import annotations

from typing import Any

from gureum.drivers.compute import NetworkPlan
from gureum.errors import AWSError

from ..base import Call, Env, Identity
from .subnetgroups import own_words

KIND = "net:private-address"
SECURITY_GROUP = "ec2:security-group"  # EC2's records of security groups
RESERVED_KEY = "ec2.reserved-addresses"  # EC2's registry of addresses not to give out
SUBNET_USERS_KEY = "ec2.subnet-users"  # EC2 asks before deleting a subnet


class PrivateAddresses:
    """One service's private addresses (``service`` tells its records apart)."""

    def __init__(self, env: Env, service: str) -> None:
        self.env = env
        self.service = service
        self._reserved: tuple[tuple[int, int], frozenset[str]] | None = None

    def _ec2(self) -> Any:
        return (self.env.extras.get("services") or {}).get("ec2")

    def compute(self) -> Any:
        """EC2's compute driver when instances live on its own network, else None."""
        return isolated_compute(self._ec2())

    # -- hooks EC2 asks -----------------------------------------------------

    def attach(self) -> None:
        """Tell EC2 which addresses it must not give to instances."""
        for key, hook in ((RESERVED_KEY, self.reserved), (SUBNET_USERS_KEY, self.uses_subnet)):
            hooks = self.env.extras.setdefault(key, [])
            if hook not in hooks:
                hooks.append(hook)

    def detach(self) -> None:
        for key, hook in ((RESERVED_KEY, self.reserved), (SUBNET_USERS_KEY, self.uses_subnet)):
            hooks = self.env.extras.get(key) or []
            if hook in hooks:
                hooks.remove(hook)

    def uses_subnet(self, account: str, region: str, subnet_id: str) -> bool:
        """Whether a server of this service has its address in ``subnet_id``."""
        return any(d["subnet"] == subnet_id and d.get("account", account) == account
                   and d.get("region", region) == region for d in self._records())

    def reserved(self) -> set[str]:
        # (EC2 asks at every launch: read again only after a change of them)
        version = self.env.store.resources.version(KIND)
        if self._reserved is None or self._reserved[0] != version:
            self._reserved = (version, frozenset(d["address"] for d in self._records()))
        return set(self._reserved[1])

    # -- records ------------------------------------------------------------

    def _records(self, owner: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.env.store.resources.list(
            KIND, "", "", where=lambda d: d["service"] == self.service
            and (owner is None or d["owner"] == owner))
        return found

    def allocate(self, owner: str, account: str, region: str, zone: str | None,
                 subnet_ids: list[str] | None = None, *, another: bool = False
                 ) -> str | None:
        """A private address for ``owner`` in the subnet of ``zone`` among
        ``subnet_ids`` (a subnet group's; None: the default subnets), or the
        first of them if none is in ``zone``, recorded (call inside a
        transaction; the same address if ``owner`` has one already, unless
        ``another`` is asked for); None when endpoints live on loopback
        addresses."""
        ec2 = self._ec2()
        if self.compute() is None:
            return None
        held = self._records(owner)
        if held and not another:
            return str(held[0]["address"])
        call = Call("ec2", "Allocate", account, region, Identity.root(account), "")
        with own_words(self.service):
            subnets = ([ec2.subnet_for(call, s, None) for s in subnet_ids] if subnet_ids
                       else ec2.default_subnets(account, region))
            subnet = next((s for s in subnets if s["AvailabilityZone"] == zone), subnets[0])
            address = str(ec2.allocate_addresses(subnet, 1)[0])
        # A VPC the user made is a network of its own (None: the default one).
        self.env.store.resources.put(KIND, "", "", address, {
            "address": address, "owner": owner, "service": self.service,
            "account": account, "region": region, "subnet": subnet["SubnetId"],
            "zone": subnet["AvailabilityZone"], "network": subnet.get("_network")})
        return address

    def subnet_of(self, address: str) -> str | None:
        """The subnet ``address`` was given in (None: not a private address)."""
        doc = self.env.store.resources.get(KIND, "", "", address)
        return None if doc is None else str(doc["subnet"])

    # -- on the host ----------------------------------------------------------

    async def place(self, address: str) -> None:
        """Put ``address`` on the host (before an engine listens there); a
        loopback address, or one already placed, needs nothing."""
        compute = self.compute()
        doc = self.env.store.resources.get(KIND, "", "", address)
        if compute is None or doc is None:
            return
        await compute.add_host_address(address, network_plan(doc.get("network")))

    async def release(self, owner: str) -> None:
        """Take ``owner``'s address off the host, then forget it."""
        for doc in self._records(owner):
            await self._drop(doc)

    async def release_address(self, address: str) -> None:
        """Take one address off the host, then forget it."""
        doc = self.env.store.resources.get(KIND, "", "", address)
        if doc is not None and doc["service"] == self.service:
            await self._drop(doc)

    async def release_orphans(self, live: set[str]) -> None:
        """Release the addresses of owners not in ``live`` (deleted while
        gureum was down, or a crash between deleting and releasing)."""
        for doc in self._records():
            if doc["owner"] not in live:
                await self._drop(doc)

    async def release_all(self) -> None:
        for doc in self._records():
            await self._drop(doc)

    async def _drop(self, doc: dict[str, Any]) -> None:
        compute = self.compute()
        if compute is not None:
            await compute.remove_host_address(doc["address"], network_plan(doc.get("network")))
        with self.env.store.tx():
            self.env.store.resources.delete(KIND, "", "", doc["address"])

    # -- security groups and subnets (described as AWS does) -----------------

    def groups(self, account: str, region: str, given: Any, vpc: str | None = None
               ) -> list[str]:
        """The VPC security groups of a new endpoint: ``given`` (each must
        exist, in ``vpc``: its subnet group's, the default VPC when None), or
        that VPC's default group, as on AWS ([] without EC2)."""
        ec2 = self._ec2()
        if given is not None and (not isinstance(given, list)
                                  or not all(isinstance(g, str) for g in given)):
            raise AWSError("InvalidParameterValue", "Security group ids must be a list of ids")
        if ec2 is None or not hasattr(ec2, "default_group"):
            return list(dict.fromkeys(given or []))
        with own_words(self.service):
            vpc = vpc or ec2.default_vpc(account, region)["VpcId"]
        for g in given or []:
            doc = self.env.store.resources.get(SECURITY_GROUP, account, region, g)
            if doc is None or doc.get("vpc_id") not in (None, vpc):
                raise AWSError("InvalidParameterValue",
                               f"Invalid security group , groupId= {g}, groupName=."
                               if doc is None else
                               f"The security group {g} is not in the VPC {vpc}")
        if given:
            return list(dict.fromkeys(given))
        with self.env.store.tx(), own_words(self.service):
            return [str(ec2.default_group(account, region, vpc)["id"])]

    def subnets(self, account: str, region: str) -> tuple[str, list[dict[str, Any]]]:
        """The default VPC's id and default subnets (("", []) without EC2)."""
        ec2 = self._ec2()
        if ec2 is None or not hasattr(ec2, "default_subnets"):
            return "", []
        with own_words(self.service):
            subnets: list[dict[str, Any]] = ec2.default_subnets(account, region)
            return str(ec2.default_vpc(account, region)["VpcId"]), subnets


def isolated_compute(ec2: Any) -> Any:
    """EC2's compute driver when instances live on a network of their own (so
    other servers can take addresses there), else None."""
    driver = getattr(ec2, "driver", None)
    if driver is None or not hasattr(driver, "add_host_address"):
        return None
    try:
        isolated = driver.network().isolated
    except Exception:  # (a driver that cannot tell has no such network)
        return None
    return driver if isolated else None


def network_plan(network: dict[str, str] | None) -> NetworkPlan | None:
    """The compute driver's name for a VPC's network (None: the default one)."""
    return NetworkPlan(network["cidr"], network["gateway"]) if network else None
