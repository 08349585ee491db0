"""What every ElastiCache module shares: store kinds, the Redis driver, loop
keys, endpoint names, events, and reading records with AWS's errors."""

from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path
from typing import Any

from gureum.drivers.redis import RedisDriver
from gureum.errors import AWSError
from gureum.services.common.ids import arn

from ..base import Call, Env, Service
from ..common.private import PrivateAddresses
from ..common.subnetgroups import SubnetGroups

NODE = "elasticache:cluster"  # a cache cluster: one node (Redis)
GROUP = "elasticache:group"
EVENT = "elasticache:event"
SNAPSHOT = "elasticache:snapshot"
PARAMETER_GROUP = "elasticache:parametergroup"
SUBNET_GROUP = "elasticache:subnetgroup"
NODE_LOOP = "elasticache-nodes"
GROUP_LOOP = "elasticache-groups"
DRIVER_KEY = "elasticache.redis"  # Env.extras: a RedisDriver to use instead of the host's
_ID = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_DIRECTIONS = {"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
               "southeast": "se", "northeast": "ne", "northwest": "nw", "southwest": "sw"}


def make_driver(env: Env) -> RedisDriver:
    given = env.extras.get(DRIVER_KEY)
    if given is not None:
        driver: RedisDriver = given
        return driver
    from gureum.drivers.redis.server import RedisServers

    return RedisServers(Path(env.settings.data_dir) / "elasticache" / "nodes")


def check_id(value: object, what: str = "CacheClusterId", limit: int = 40) -> str:
    if not isinstance(value, str) or not value:
        raise AWSError("InvalidParameterValue", f"The parameter {what} must be provided")
    lowered = value.lower()
    if len(lowered) > limit or not _ID.fullmatch(lowered) or "--" in lowered:
        raise AWSError("InvalidParameterValue",
                       f"The parameter {what} is not a valid identifier. Identifiers must "
                       "begin with a letter; must contain only ASCII letters, digits, and "
                       "hyphens; and must not end with a hyphen or contain two consecutive "
                       "hyphens.")
    return lowered


def key(account: str, region: str, id: str) -> str:
    return f"{account}|{region}|{id}"


def split(k: str) -> tuple[str, str, str]:
    account, region, id = k.split("|")
    return account, region, id


def short_region(region: str) -> str:
    parts = region.split("-")
    if len(parts) < 3:
        return region.replace("-", "")
    return parts[0] + _DIRECTIONS.get(parts[1], parts[1][:1]) + parts[2]


def domain(account: str, region: str, salt: str = "") -> str:
    """The names' domain of an account's caches in a region (``salt``: see
    ``Env.name_salt``); kept in each node's and group's record at creation."""
    key = f"{account}/{region}/{salt}" if salt else f"{account}/{region}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:6]
    return f"{digest}.{short_region(region)}.cache.localhost"


def _domain(doc: dict[str, Any]) -> str:
    return str(doc.get("domain") or domain(doc["account"], doc["region"]))


def node_name(doc: dict[str, Any]) -> str:
    digest, rest = _domain(doc).split(".", 1)
    return f"{doc['id']}.{digest}.0001.{rest}"


def group_name(kind: str, group: dict[str, Any]) -> str:
    return f"{kind}.{group['id']}.{_domain(group)}"


class ElastiCacheCore(Service):
    """State and helpers of the ElastiCache service; operations live in mixins."""

    kinds = (NODE, GROUP, EVENT, SNAPSHOT, PARAMETER_GROUP, SUBNET_GROUP)

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.driver: RedisDriver = make_driver(env)
        self.private = PrivateAddresses(env, "elasticache")
        self.subnet_groups = SubnetGroups(env, SUBNET_GROUP)
        self.snapshot_dir = Path(env.settings.data_dir) / "elasticache" / "snapshots"

    @property
    def store(self) -> Any:
        return self.env.store

    def now(self) -> float:
        now: float = self.env.clock.now()
        return now

    def arn(self, call_or_doc: Call | dict[str, Any], resource: str) -> str:
        if isinstance(call_or_doc, Call):
            return arn("elasticache", call_or_doc.region, call_or_doc.account, resource)
        return arn("elasticache", call_or_doc["region"], call_or_doc["account"], resource)

    # -- loops ------------------------------------------------------------

    def wake_node(self, account: str, region: str, id: str, after: float = 0.0) -> None:
        if NODE_LOOP in self.env.loops:
            self.env.loops.wake(NODE_LOOP, key(account, region, id), after=after)

    def wake_group(self, account: str, region: str, id: str, after: float = 0.0) -> None:
        if GROUP_LOOP in self.env.loops:
            self.env.loops.wake(GROUP_LOOP, key(account, region, id), after=after)

    # -- records ----------------------------------------------------------

    def find_node(self, account: str, region: str, id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self.store.resources.get(NODE, account, region, id)
        return doc

    def find_group(self, account: str, region: str, id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self.store.resources.get(GROUP, account, region, id)
        return doc

    def node(self, call: Call, id: object) -> dict[str, Any]:
        doc = self.find_node(call.account, call.region, str(id).lower()) if id else None
        if doc is None:
            raise AWSError("CacheClusterNotFound", f"CacheCluster not found: {id}", 404)
        return doc

    def group(self, call: Call, id: object) -> dict[str, Any]:
        doc = self.find_group(call.account, call.region, str(id).lower()) if id else None
        if doc is None:
            raise AWSError("ReplicationGroupNotFoundFault",
                           f"ReplicationGroup {id} not found.", 404)
        return doc

    def members(self, group: dict[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.store.resources.list(
            NODE, group["account"], group["region"], where=lambda d: d.get("group") == group["id"])
        return found

    def save_node(self, doc: dict[str, Any]) -> None:
        self.store.resources.put(NODE, doc["account"], doc["region"], doc["id"], doc)

    def save_group(self, doc: dict[str, Any]) -> None:
        self.store.resources.put(GROUP, doc["account"], doc["region"], doc["id"], doc)

    def driver_id(self, doc: dict[str, Any]) -> str:
        return f"{doc['account']}-{doc['region']}-{doc['id']}"

    def address_owner(self, doc: dict[str, Any]) -> str:
        return f"elasticache:{doc['account']}:{doc['region']}:{doc['id']}"

    async def take_snapshot(self, account: str, region: str, name: str) -> None:
        """Write a requested snapshot's file now (see ``snapshots.py``)."""

    def event(self, account: str, region: str, source: str, kind: str, message: str) -> None:
        now = self.now()
        id = f"{now:017.6f}-{secrets.token_hex(4)}"
        self.store.resources.put(EVENT, account, region, id, {
            "SourceIdentifier": source, "SourceType": kind, "Message": message, "Date": now,
        })
