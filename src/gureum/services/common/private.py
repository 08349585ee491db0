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

from gureum.errors import AWSError

from ..base import Env

KIND = "net:private-address"
SECURITY_GROUP = "ec2:security-group"  # EC2's records of security groups
RESERVED_KEY = "ec2.reserved-addresses"  # EC2's registry of addresses not to give out


class PrivateAddresses:
    """One service's private addresses (``service`` tells its records apart)."""

    def __init__(self, env: Env, service: str) -> None:
        self.env = env
        self.service = service

    def _ec2(self) -> Any:
        return (self.env.extras.get("services") or {}).get("ec2")

    def compute(self) -> Any:
        """EC2's compute driver when instances live on its own network, else None."""
        driver = getattr(self._ec2(), "driver", None)
        if driver is None or not hasattr(driver, "add_host_address"):
            return None
        try:
            isolated = driver.network().isolated
        except Exception:  # (a driver that cannot tell has no such network)
            return None
        return driver if isolated else None

    # -- hooks EC2 asks -----------------------------------------------------

    def attach(self) -> None:
        """Tell EC2 which addresses it must not give to instances."""
        hooks = self.env.extras.setdefault(RESERVED_KEY, [])
        if self.reserved not in hooks:
            hooks.append(self.reserved)

    def detach(self) -> None:
        hooks = self.env.extras.get(RESERVED_KEY) or []
        if self.reserved in hooks:
            hooks.remove(self.reserved)

    def reserved(self) -> set[str]:
        return {d["address"] for d in self._records()}

    # -- records ------------------------------------------------------------

    def _records(self, owner: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.env.store.resources.list(
            KIND, "", "", where=lambda d: d["service"] == self.service
            and (owner is None or d["owner"] == owner))
        return found

    def allocate(self, owner: str, account: str, region: str, zone: str | None) -> str | None:
        """A private address for ``owner`` in the default subnet of ``zone``
        (the first default subnet if ``zone`` has none), recorded (call inside
        a transaction; the same address if ``owner`` has one already); None
        when endpoints live on loopback addresses."""
        ec2 = self._ec2()
        if self.compute() is None:
            return None
        held = self._records(owner)
        if held:
            return str(held[0]["address"])
        subnets = ec2.default_subnets(account, region)
        subnet = next((s for s in subnets if s["AvailabilityZone"] == zone), subnets[0])
        address = str(ec2.allocate_addresses(subnet, 1)[0])
        self.env.store.resources.put(KIND, "", "", address, {
            "address": address, "owner": owner, "service": self.service,
            "subnet": subnet["SubnetId"], "zone": subnet["AvailabilityZone"]})
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
        if compute is None or self.env.store.resources.get(KIND, "", "", address) is None:
            return
        await compute.add_host_address(address)

    async def release(self, owner: str) -> None:
        """Take ``owner``'s address off the host, then forget it."""
        for doc in self._records(owner):
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
            await compute.remove_host_address(doc["address"])
        with self.env.store.tx():
            self.env.store.resources.delete(KIND, "", "", doc["address"])

    # -- security groups and subnets (described as AWS does) -----------------

    def groups(self, account: str, region: str, given: Any) -> list[str]:
        """The VPC security groups of a new endpoint: ``given`` (each must
        exist, in the default VPC), or the default VPC's default group, as on
        AWS ([] without EC2)."""
        ec2 = self._ec2()
        if given is not None and (not isinstance(given, list)
                                  or not all(isinstance(g, str) for g in given)):
            raise AWSError("InvalidParameterValue", "Security group ids must be a list of ids")
        if ec2 is None or not hasattr(ec2, "default_group"):
            return list(dict.fromkeys(given or []))
        vpc = ec2.default_vpc(account, region)["VpcId"]
        for g in given or []:
            doc = self.env.store.resources.get(SECURITY_GROUP, account, region, g)
            if doc is None or doc.get("vpc_id") not in (None, vpc):
                raise AWSError("InvalidParameterValue",
                               f"Invalid security group , groupId= {g}, groupName=."
                               if doc is None else
                               f"The security group {g} is not in the default VPC {vpc}")
        if given:
            return list(dict.fromkeys(given))
        with self.env.store.tx():
            return [str(ec2.default_group(account, region, vpc)["id"])]

    def subnets(self, account: str, region: str) -> tuple[str, list[dict[str, Any]]]:
        """The default VPC's id and default subnets (("", []) without EC2)."""
        ec2 = self._ec2()
        if ec2 is None or not hasattr(ec2, "default_subnets"):
            return "", []
        subnets: list[dict[str, Any]] = ec2.default_subnets(account, region)
        return str(ec2.default_vpc(account, region)["VpcId"]), subnets
