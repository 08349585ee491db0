"""Subnet groups of the data-tier services (RDS DB subnet groups, ElastiCache
cache subnet groups): named sets of subnets of one VPC where a service's
servers get their private addresses (``common.private``).

Every account and region has a ``default`` group: the default VPC's default
subnets (one per zone), as AWS makes it; it cannot be changed or deleted.
Groups the user makes name subnets of the default VPC or of a VPC they
created (whose servers then live on that VPC's network, as its instances
do). A record keeps each subnet's id and zone; the services render it in
their own shapes and say which of their resources use a group.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env, Identity
from . import tags as tagging

DEFAULT = "default"
# EC2's answer when this host has no range left for the default VPC's network;
# each data-tier service says it in its own words (its modelled capacity fault).
NO_HOST_NETWORK = "InsufficientInstanceCapacity"
CAPACITY = {"rds": "InsufficientDBInstanceCapacity",
            "elasticache": "InsufficientCacheClusterCapacity"}


@contextlib.contextmanager
def own_words(service: str) -> Iterator[None]:
    """Re-raise EC2's "no network for the default VPC here" as ``service``'s
    capacity fault (400, as its model has it); other errors pass."""
    try:
        yield
    except AWSError as exc:
        if exc.code != NO_HOST_NETWORK or service not in CAPACITY:
            raise
        raise AWSError(CAPACITY[service], exc.message, 400) from None


class SubnetGroups:
    """One service's subnet groups (``kind``: its store kind for them)."""

    def __init__(self, env: Env, kind: str) -> None:
        self.env = env
        self.kind = kind
        self.service = kind.split(":")[0]

    def _ec2(self) -> Any:
        return (self.env.extras.get("services") or {}).get("ec2")

    def default(self, account: str, region: str) -> dict[str, Any]:
        ec2 = self._ec2()
        if ec2 is None:
            return {"name": DEFAULT, "description": DEFAULT, "vpc_id": "", "subnets": [],
                    "tags": {}, "default": True}
        with own_words(self.service):
            return {"name": DEFAULT, "description": DEFAULT, "default": True, "tags": {},
                    "vpc_id": ec2.default_vpc(account, region)["VpcId"],
                    "subnets": [{"SubnetId": s["SubnetId"],
                                 "AvailabilityZone": s["AvailabilityZone"]}
                                for s in ec2.default_subnets(account, region)]}

    def get(self, account: str, region: str, name: Any) -> dict[str, Any] | None:
        if not isinstance(name, str) or not name:
            return None
        if name.lower() == DEFAULT:
            return self.default(account, region)
        found: dict[str, Any] | None = self.env.store.resources.get(
            self.kind, account, region, name.lower())
        return found

    def all(self, account: str, region: str) -> list[dict[str, Any]]:
        own: list[dict[str, Any]] = self.env.store.resources.list(self.kind, account, region)
        return [self.default(account, region), *sorted(own, key=lambda d: d["name"])]

    def subnets(self, account: str, region: str, ids: Any, min_zones: int = 1,
                zones_code: str = "InvalidParameterValue"
                ) -> tuple[str, list[dict[str, str]]]:
        """The VPC and the subnets (id, zone) of ``ids``, which must exist, be
        of one VPC and cover ``min_zones`` zones (else ``zones_code``)."""
        ec2 = self._ec2()
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise AWSError("InvalidParameterValue", "SubnetIds must name at least one subnet")
        if ec2 is None:
            raise AWSError("InvalidSubnet", "No subnet exists here (EC2 is not running)")
        call = Call("ec2", "DescribeSubnets", account, region, Identity.root(account), "")
        with own_words(self.service):
            known = {s["SubnetId"]: s for s in ec2.all_subnets(call)}
        out = []
        for i in dict.fromkeys(ids):
            if i not in known:
                raise AWSError("InvalidSubnet", f"The subnet ID '{i}' does not exist")
            out.append({"SubnetId": i, "AvailabilityZone": known[i]["AvailabilityZone"]})
        vpcs = {known[s["SubnetId"]]["VpcId"] for s in out}
        if len(vpcs) > 1:
            raise AWSError("InvalidParameterValue",
                           "The subnets of a subnet group must all be in the same VPC")
        if len({s["AvailabilityZone"] for s in out}) < min_zones:
            raise AWSError(zones_code,
                           f"The subnets must cover at least {min_zones} Availability Zones")
        return vpcs.pop(), out

    def create(self, account: str, region: str, name: str, description: str, ids: Any,
               tags: Any, exists: AWSError, min_zones: int = 1,
               zones_code: str = "InvalidParameterValue") -> dict[str, Any]:
        """A new group over the subnets ``ids`` (see ``subnets``); ``exists``
        is the service's error when one of that name is there already."""
        vpc, subnets = self.subnets(account, region, ids, min_zones, zones_code)
        with self.env.store.tx():
            if self.get(account, region, name) is not None:
                raise exists
            return self.put(account, region, name, description, vpc, subnets, tags)

    def modify(self, account: str, region: str, group: dict[str, Any], description: Any,
               ids: Any, in_use: Callable[[], bool], moved: AWSError, min_zones: int = 1,
               zones_code: str = "InvalidParameterValue") -> dict[str, Any]:
        """``group`` with new subnets (``ids``; None: the same ones) and
        description; ``moved`` is the service's error when the subnets would
        leave the group's VPC while ``in_use()`` (its servers' addresses stay)."""
        vpc, subnets = group["vpc_id"], group["subnets"]
        if ids is not None:
            vpc, subnets = self.subnets(account, region, ids, min_zones, zones_code)
        with self.env.store.tx():
            if vpc != group["vpc_id"] and in_use():
                raise moved
            return self.put(account, region, group["name"], description or group["description"],
                            vpc, subnets, group.get("tags"))

    def put(self, account: str, region: str, name: str, description: str, vpc_id: str,
            subnets: list[dict[str, str]], tags: Any = None) -> dict[str, Any]:
        """Record a group (call inside a transaction)."""
        doc = {"name": name.lower(), "description": description, "vpc_id": vpc_id,
               "subnets": subnets, "tags": tagging.to_dict(tags) if tags else {},
               "account": account, "region": region}
        self.env.store.resources.put(self.kind, account, region, doc["name"], doc)
        return doc

    def delete(self, account: str, region: str, name: str) -> None:
        self.env.store.resources.delete(self.kind, account, region, name.lower())

    def subnet_ids(self, group: dict[str, Any] | None) -> list[str] | None:
        """The subnets to give addresses in (None: the default subnets)."""
        if group is None or group.get("default"):
            return None
        return [s["SubnetId"] for s in group["subnets"]]

    def zone_for(self, group: dict[str, Any], wanted: str | None) -> str | None:
        """``wanted`` if the group has a subnet there, else its first subnet's zone."""
        zones = [s["AvailabilityZone"] for s in group["subnets"]]
        if not zones or wanted in zones:
            return wanted
        return str(zones[0])
