"""Replication groups: cluster mode disabled (a primary and replicas behind
primary/reader endpoints) and enabled (shards of slots behind a configuration
endpoint). Operations record the desired shape; ``replication.py`` makes it so."""

from __future__ import annotations

from typing import Any

from gureum.drivers.redis import SLOTS
from gureum.errors import AWSError
from gureum.services.common import tags as tagging
from gureum.services.common.pagination import paginate

from ..base import Call
from .catalog import check_engine, check_node_type, check_port, maxmemory
from .clusters import DEFAULT_PARAMETER_GROUP, ClusterOperations, retention
from .core import GROUP, check_id, domain
from .params import require as require_parameter_group
from .render import replication_group

MAX_REPLICAS = 5
MAX_SHARDS = 90


def even_slots(count: int) -> list[list[list[int]]]:
    size = SLOTS // count
    return [[[i * size, SLOTS - 1 if i == count - 1 else (i + 1) * size - 1]]
            for i in range(count)]


def parse_slots(text: str) -> list[list[int]]:
    out = []
    for part in text.split(","):
        a, _, b = part.strip().partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError as exc:
            raise AWSError("InvalidParameterValue", f"Invalid Slots: {text}") from exc
        if not 0 <= lo <= hi < SLOTS:
            raise AWSError("InvalidParameterValue", f"Invalid Slots: {text}")
        out.append([lo, hi])
    return out


def _resharded_zones(configs: list[dict[str, Any]], shard_id: str, index: int) -> list[str]:
    """The zones ``ReshardingConfiguration`` asks for the shard ``shard_id``
    (the ``index``-th of the resharded group): the entry naming it, else the
    entry in its place that names no shard; [] when none does."""
    for conf in configs:
        if str(conf.get("NodeGroupId") or "").zfill(4) == shard_id:
            return list(conf.get("PreferredAvailabilityZones") or [])
    if index < len(configs) and not configs[index].get("NodeGroupId"):
        return list(configs[index].get("PreferredAvailabilityZones") or [])
    return []


class GroupOperations(ClusterOperations):
    def _group_available(self, group: dict[str, Any]) -> None:
        if group["status"] != "available":
            raise AWSError("InvalidReplicationGroupState",
                           f"Replication group {group['id']} is not in available state "
                           f"(it is {group['status']}).")

    def _member_ids(self, group: dict[str, Any], shard: int, count: int) -> list[str]:
        existing = {m for s in group["shards"] for m in s["members"]}
        out: list[str] = []
        n = 1
        while len(out) < count:
            mid = (f"{group['id']}-{shard:04d}-{n:03d}" if group["cluster_mode"]
                   else f"{group['id']}-{n:03d}")
            if mid not in existing:
                out.append(mid)
            n += 1
        return out

    def _add_members(self, group: dict[str, Any], shard: dict[str, Any], count: int,
                     seed: str | None = None) -> list[str]:
        ids = self._member_ids(group, int(shard["id"]), count)
        zones = self._member_zones(group, shard, count)
        for mid, az in zip(ids, zones, strict=True):
            self.new_node(group["account"], group["region"], mid, node_type=group["node_type"],
                          az=az,
                          engine=group["engine"], version=group["engine_version"],
                          port=group["port"], group=group["id"], shard=shard["id"],
                          cluster_mode=group["cluster_mode"],
                          snapshot_retention=group.get("snapshot_retention", 0),
                          seed=seed if not shard["members"] else None,
                          security_groups=group.get("security_groups"),
                          subnet_group=group.get("subnet_group") or "default")
            shard["members"].append(mid)
            if shard["primary"] is None:
                shard["primary"] = mid
        return ids

    def _member_zones(self, group: dict[str, Any], shard: dict[str, Any], count: int
                      ) -> list[str | None]:
        """The zones of a shard's next ``count`` members: those asked for (the
        shard's ``PrimaryAvailabilityZone`` and ``ReplicaAvailabilityZones``;
        ``PreferredCacheClusterAZs`` without cluster mode), else spread over
        the zones of the group's subnet group as AWS spreads them: the shards'
        primaries over the zones in turn (the i-th shard's in the i-th zone),
        each shard's replicas in the zones after its primary's."""
        asked: list[str] = list(shard.get("azs") or (
            [] if group["cluster_mode"] else group.get("preferred_azs") or []))
        subnets = self.subnet_groups.get(group["account"], group["region"],
                                         group.get("subnet_group") or "default")
        zones = list(dict.fromkeys(s["AvailabilityZone"]
                                   for s in (subnets or {}).get("subnets") or []))
        first = group["shards"].index(shard) if shard in group["shards"] else 0
        have = len(shard["members"])
        out: list[str | None] = []
        for n in range(have, have + count):
            if n < len(asked) and asked[n]:
                out.append(asked[n])
            else:
                out.append(zones[(first + n) % len(zones)] if zones else None)
        return out

    def create_replication_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        id = check_id(params.get("ReplicationGroupId"), "ReplicationGroupId", 40)
        if not params.get("ReplicationGroupDescription"):
            raise AWSError("InvalidParameterValue",
                           "The parameter ReplicationGroupDescription must be provided")
        if params.get("PrimaryClusterId"):
            raise AWSError("InvalidParameterValue", "PrimaryClusterId is not supported; "
                           "create the group with its own nodes")
        node_type = check_node_type(params.get("CacheNodeType"))
        engine, version = check_engine(params.get("Engine"), params.get("EngineVersion"),
                                       self.driver.version())
        port = check_port(params.get("Port"))
        configs = params.get("NodeGroupConfiguration") or []
        if params.get("CacheParameterGroupName"):
            require_parameter_group(self.store, call.account, call.region,
                                    params["CacheParameterGroupName"])
        cluster_mode = (params.get("ClusterMode") == "enabled"
                        or params.get("NumNodeGroups", 1) > 1 or len(configs) > 1
                        or (params.get("CacheParameterGroupName") or "").endswith(".cluster.on"))
        auto_failover = bool(params.get("AutomaticFailoverEnabled", cluster_mode))
        multi_az = bool(params.get("MultiAZEnabled", False))
        if multi_az and not auto_failover:
            raise AWSError("InvalidParameterCombination",
                           "Multi-AZ requires automatic failover to be enabled")
        if cluster_mode and not auto_failover:
            raise AWSError("InvalidParameterCombination",
                           "Cluster mode requires automatic failover to be enabled")
        if cluster_mode:
            count = params.get("NumNodeGroups") or len(configs) or 1
            if not 1 <= count <= MAX_SHARDS:
                raise AWSError("InvalidParameterValue", f"NumNodeGroups must be 1 to {MAX_SHARDS}")
            replicas = [params.get("ReplicasPerNodeGroup", 1)] * count
            slots = even_slots(count)
            zones: list[list[str]] = [[] for _ in range(count)]
            for i, conf in enumerate(configs[:count]):
                if "ReplicaCount" in conf:
                    replicas[i] = conf["ReplicaCount"]
                if conf.get("PrimaryAvailabilityZone") or conf.get("ReplicaAvailabilityZones"):
                    zones[i] = [conf.get("PrimaryAvailabilityZone") or "",
                                *(conf.get("ReplicaAvailabilityZones") or [])]
                if conf.get("Slots"):
                    slots[i] = parse_slots(conf["Slots"])
            covered = sorted(x for s in slots for r in s for x in range(r[0], r[1] + 1))
            if covered != list(range(SLOTS)):
                raise AWSError("InvalidParameterValue", "Slots must cover 0-16383 exactly once")
        else:
            total = params.get("NumCacheClusters")
            if total is None:
                total = 1 + params.get("ReplicasPerNodeGroup", 0)
            if not 1 <= total <= 1 + MAX_REPLICAS:
                raise AWSError("InvalidParameterValue",
                               f"NumCacheClusters must be 1 to {1 + MAX_REPLICAS}")
            count, replicas, slots, zones = 1, [total - 1], [[[0, SLOTS - 1]]], [[]]
        if any(not 0 <= r <= MAX_REPLICAS for r in replicas):
            raise AWSError("InvalidParameterValue", f"ReplicasPerNodeGroup must be 0 to "
                           f"{MAX_REPLICAS}")
        if auto_failover and not cluster_mode and replicas[0] < 1:
            raise AWSError("InvalidParameterValue", "Automatic failover requires at least "
                           "one replica (NumCacheClusters >= 2)")
        tags = tagging.to_dict(params.get("Tags"))
        seed = self.snapshot_seed(call, params.get("SnapshotName"))
        subnets = self.cache_subnet_group(call, params.get("CacheSubnetGroupName"))
        security_groups = self.private.groups(call.account, call.region,
                                              params.get("SecurityGroupIds"),
                                              subnets["vpc_id"] or None)
        if seed is not None and cluster_mode:
            raise AWSError("InvalidParameterCombination",
                           "Restoring a snapshot into cluster mode is not supported yet")
        with self.store.tx():
            if self.find_group(call.account, call.region, id) is not None:
                raise AWSError("ReplicationGroupAlreadyExists",
                               f"Replication group {id} already exists.")
            group: dict[str, Any] = {
                "id": id, "account": call.account, "region": call.region,
                "domain": domain(call.account, call.region, self.env.name_salt),
                "description": params["ReplicationGroupDescription"], "status": "creating",
                "node_type": node_type, "engine": engine, "engine_version": version,
                "port": port, "cluster_mode": cluster_mode, "auto_failover": auto_failover,
                "multi_az": multi_az, "created": self.now(), "tags": tags,
                "snapshot_retention": retention(params.get("SnapshotRetentionLimit")),
                "snapshot_window": params.get("SnapshotWindow") or "05:00-06:00",
                "parameter_group": params.get("CacheParameterGroupName")
                or (DEFAULT_PARAMETER_GROUP + (".cluster.on" if cluster_mode else "")),
                "arn": self.arn(call, f"replicationgroup:{id}"),
                "shards": [], "task": None, "security_groups": security_groups,
                "subnet_group": subnets["name"],
                "preferred_azs": list(params.get("PreferredCacheClusterAZs") or []),
            }
            for i in range(count):
                shard = {"id": f"{i + 1:04d}", "slots": slots[i], "primary": None,
                         "members": [], "azs": zones[i]}
                group["shards"].append(shard)
                self._add_members(group, shard, 1 + replicas[i], seed)
            self.save_group(group)
            self.event(call.account, call.region, id, "replication-group",
                       f"Replication group {id} created")
        for shard in group["shards"]:
            for mid in shard["members"]:
                self.wake_node(call.account, call.region, mid)
        self.wake_group(call.account, call.region, id)
        return {"ReplicationGroup": replication_group(group, self.members(group))}

    def describe_replication_groups(self, call: Call, params: dict[str, Any]
                                    ) -> dict[str, Any]:
        if params.get("ReplicationGroupId"):
            groups = [self.group(call, params["ReplicationGroupId"])]
        else:
            groups = self.store.resources.list(GROUP, call.account, call.region)
        groups.sort(key=lambda g: g["id"])
        page, marker = paginate(groups, params.get("Marker"), params.get("MaxRecords"),
                                key=lambda g: g["id"], default_limit=100, max_limit=100,
                                min_limit=20)
        out: dict[str, Any] = {
            "ReplicationGroups": [replication_group(g, self.members(g)) for g in page]}
        if marker:
            out["Marker"] = marker
        return out

    def _respond(self, group: dict[str, Any]) -> dict[str, Any]:
        return {"ReplicationGroup": replication_group(group, self.members(group))}

    def _start_task(self, call: Call, group: dict[str, Any], task: dict[str, Any]) -> None:
        group["status"] = "modifying"
        group["task"] = task
        self.save_group(group)

    def modify_replication_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            group = self.group(call, params.get("ReplicationGroupId"))
            self._group_available(group)
            if "AutomaticFailoverEnabled" in params:
                enabled = bool(params["AutomaticFailoverEnabled"])
                if not enabled and group["cluster_mode"]:
                    raise AWSError("InvalidParameterCombination", "Automatic failover cannot "
                                   "be disabled in cluster mode")
                if enabled and not group["cluster_mode"] and len(group["shards"][0]["members"]) < 2:
                    raise AWSError("InvalidParameterCombination",
                                   "Automatic failover needs at least one replica")
                group["auto_failover"] = enabled
                if not enabled:
                    group["multi_az"] = False
            if "MultiAZEnabled" in params:
                if params["MultiAZEnabled"] and not group["auto_failover"]:
                    raise AWSError("InvalidParameterCombination",
                                   "Multi-AZ requires automatic failover to be enabled")
                group["multi_az"] = bool(params["MultiAZEnabled"])
            if params.get("ReplicationGroupDescription"):
                group["description"] = params["ReplicationGroupDescription"]
            if params.get("SecurityGroupIds"):  # (applied at once, as on AWS)
                group["security_groups"] = self.private.groups(
                    call.account, call.region, params["SecurityGroupIds"],
                    self.cache_subnet_group(call, group.get("subnet_group"))["vpc_id"] or None)
                for m in self.members(group):
                    m["security_groups"] = group["security_groups"]
                    self.save_node(m)
            if "SnapshotRetentionLimit" in params:
                group["snapshot_retention"] = retention(params["SnapshotRetentionLimit"])
            if params.get("SnapshotWindow"):
                group["snapshot_window"] = params["SnapshotWindow"]
            if params.get("CacheParameterGroupName"):
                group["parameter_group"] = require_parameter_group(
                    self.store, call.account, call.region, params["CacheParameterGroupName"])["id"]
            new_type = params.get("CacheNodeType")
            self.save_group(group)
            if new_type and new_type != group["node_type"]:
                new_type = check_node_type(new_type)
                if maxmemory(new_type) < maxmemory(group["node_type"]):
                    raise AWSError("InvalidParameterCombination",
                                   "Scaling down to a smaller node type is not supported")
                group["node_type"] = new_type
                for m in self.members(group):
                    m["node_type"] = new_type
                    m["status"] = "modifying"
                    self.save_node(m)
                self._start_task(call, group, {"op": "scale"})
                self.event(call.account, call.region, group["id"], "replication-group",
                           f"Scaling replication group {group['id']} to {new_type}")
        for m in self.members(group):
            self.wake_node(call.account, call.region, m["id"])
        self.wake_group(call.account, call.region, group["id"])
        return self._respond(group)

    def _replica_target(self, params: dict[str, Any], group: dict[str, Any]
                        ) -> dict[str, int]:
        """Shard id → wanted replica count."""
        wanted: dict[str, int] = {}
        if params.get("NewReplicaCount") is not None:
            wanted = {s["id"]: params["NewReplicaCount"] for s in group["shards"]}
        for conf in params.get("ReplicaConfiguration") or []:
            wanted[conf["NodeGroupId"]] = conf["NewReplicaCount"]
        shard_ids = {s["id"] for s in group["shards"]}
        if not wanted or set(wanted) - shard_ids:
            raise AWSError("InvalidParameterValue",
                           "NewReplicaCount or a ReplicaConfiguration of known node groups "
                           "is required")
        return wanted

    def increase_replica_count(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            group = self.group(call, params.get("ReplicationGroupId"))
            self._group_available(group)
            for shard_id, count in self._replica_target(params, group).items():
                shard = next(s for s in group["shards"] if s["id"] == shard_id)
                have = len(shard["members"]) - 1
                if not have < count <= MAX_REPLICAS:
                    raise AWSError("InvalidParameterValue", f"NewReplicaCount must be more "
                                   f"than {have} and at most {MAX_REPLICAS}")
                self._add_members(group, shard, count - have)
            self._start_task(call, group, {"op": "scale"})
        for m in self.members(group):
            self.wake_node(call.account, call.region, m["id"])
        self.wake_group(call.account, call.region, group["id"])
        return self._respond(group)

    def decrease_replica_count(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            group = self.group(call, params.get("ReplicationGroupId"))
            self._group_available(group)
            removing = set(params.get("ReplicasToRemove") or [])
            targets = ({} if removing and params.get("NewReplicaCount") is None
                       else self._replica_target(params, group))
            for shard in group["shards"]:
                replicas = [m for m in shard["members"] if m != shard["primary"]]
                gone = [m for m in replicas if m in removing]
                if shard["primary"] in removing:
                    raise AWSError("InvalidParameterValue", "The primary cannot be removed")
                if shard["id"] in targets:
                    count = targets[shard["id"]]
                    if not 0 <= count < len(replicas):
                        raise AWSError("InvalidParameterValue", f"NewReplicaCount must be "
                                       f"less than {len(replicas)}")
                    extra = [m for m in reversed(replicas) if m not in gone]
                    gone += extra[: len(replicas) - count - len(gone)]
                left = len(replicas) - len(gone)
                if left < 1 and group["auto_failover"] and not group["cluster_mode"]:
                    raise AWSError("InvalidReplicationGroupState", "A group with automatic "
                                   "failover needs at least one replica")
                for mid in gone:
                    shard["members"].remove(mid)
                    node = self.find_node(call.account, call.region, mid)
                    if node is not None:
                        node["status"] = "deleting"
                        self.save_node(node)
                    removing.discard(mid)
            if removing:
                raise AWSError("InvalidParameterValue", f"Unknown replicas: {sorted(removing)}")
            self._start_task(call, group, {"op": "scale"})
        for m in self.members(group):
            self.wake_node(call.account, call.region, m["id"])
        self.wake_group(call.account, call.region, group["id"])
        return self._respond(group)

    def test_failover(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            group = self.group(call, params.get("ReplicationGroupId"))
            self._group_available(group)
            if not group["auto_failover"]:
                raise AWSError("InvalidReplicationGroupState",
                               "Automatic failover is not enabled for this group")
            shard_id = params.get("NodeGroupId")
            shard = next((s for s in group["shards"] if s["id"] == shard_id), None)
            if shard is None:
                raise AWSError("NodeGroupNotFoundFault", f"Node group {shard_id} not found",
                               404)
            if len(shard["members"]) < 2:
                raise AWSError("InvalidParameterValue", "The node group has no replica")
            self._start_task(call, group, {"op": "failover", "shard": shard_id})
            self.event(call.account, call.region, group["id"], "replication-group",
                       f"Test Failover API called for node group {shard_id}")
        self.wake_group(call.account, call.region, group["id"])
        return self._respond(group)

    def modify_replication_group_shard_configuration(self, call: Call, params: dict[str, Any]
                                                     ) -> dict[str, Any]:
        with self.store.tx():
            group = self.group(call, params.get("ReplicationGroupId"))
            self._group_available(group)
            if not group["cluster_mode"]:
                raise AWSError("InvalidParameterValue",
                               "Resharding needs a group with cluster mode enabled")
            if not params.get("ApplyImmediately", True):
                raise AWSError("InvalidParameterValue", "ApplyImmediately must be true")
            count = params.get("NodeGroupCount")
            have = len(group["shards"])
            if not isinstance(count, int) or not 1 <= count <= MAX_SHARDS:
                raise AWSError("InvalidParameterValue", f"NodeGroupCount must be 1 to "
                               f"{MAX_SHARDS}")
            if count == have:
                raise AWSError("InvalidParameterValue",
                               f"The group already has {have} node groups")
            task: dict[str, Any] = {"op": "reshard", "add": [], "remove": []}
            if count > have:
                replicas = len(group["shards"][0]["members"]) - 1
                next_id = max(int(s["id"]) for s in group["shards"]) + 1
                configs = list(params.get("ReshardingConfiguration") or [])
                for n in range(count - have):
                    shard: dict[str, Any] = {"id": f"{next_id + n:04d}", "slots": [],
                                             "primary": None,
                             "members": [], "new": True,
                             "azs": _resharded_zones(configs, f"{next_id + n:04d}", have + n)}
                    group["shards"].append(shard)
                    self._add_members(group, shard, 1 + replicas)
                    task["add"].append(shard["id"])
            else:
                ids = [s["id"] for s in group["shards"]]
                remove = list(params.get("NodeGroupsToRemove") or [])
                retain = params.get("NodeGroupsToRetain")
                if retain:
                    remove = [i for i in ids if i not in retain]
                if not remove:
                    remove = ids[count:]
                if set(remove) - set(ids) or len(remove) != have - count:
                    raise AWSError("InvalidParameterValue", "NodeGroupsToRemove must name "
                                   f"{have - count} existing node groups")
                task["remove"] = remove
            self._start_task(call, group, task)
            self.event(call.account, call.region, group["id"], "replication-group",
                       f"Resharding replication group {group['id']} to {count} node groups")
        for m in self.members(group):
            self.wake_node(call.account, call.region, m["id"])
        self.wake_group(call.account, call.region, group["id"])
        return self._respond(group)

    def delete_replication_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            group = self.group(call, params.get("ReplicationGroupId"))
            if group["status"] not in ("available", "create-failed"):
                raise AWSError("InvalidReplicationGroupState",
                               f"Replication group {group['id']} is not in a deletable state "
                               f"(it is {group['status']}).")
            if params.get("RetainPrimaryCluster"):
                raise AWSError("InvalidParameterValue", "RetainPrimaryCluster is not supported")
            if params.get("FinalSnapshotIdentifier"):
                shard = group["shards"][0]
                primary = self.find_node(call.account, call.region, shard["primary"])
                if primary is not None:
                    self.request_snapshot(call, params["FinalSnapshotIdentifier"], primary,
                                          group)
                    group["final_snapshot"] = params["FinalSnapshotIdentifier"]
            group["status"] = "deleting"
            self.save_group(group)
        self.wake_group(call.account, call.region, group["id"])
        return self._respond(group)
