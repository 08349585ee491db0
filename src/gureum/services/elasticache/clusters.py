"""Cache clusters (one Redis node each): create, describe, modify, reboot,
delete; and the events and tags every ElastiCache resource shares."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError
from gureum.services.common import tags as tagging
from gureum.services.common.ids import parse_arn
from gureum.services.common.pagination import paginate

from ..base import Call
from ..common.ingress import shared
from .catalog import check_engine, check_node_type, check_port, maxmemory
from .core import EVENT, GROUP, NODE, SNAPSHOT, check_id, domain
from .params import require as require_parameter_group
from .render import cache_cluster
from .subnetgroups import SubnetGroupOperations

DEFAULT_PARAMETER_GROUP = "default.redis7"
EVENT_TYPES = ("cache-cluster", "cache-parameter-group", "cache-security-group",
               "cache-subnet-group", "replication-group", "serverless-cache",
               "serverless-cache-snapshot", "user", "user-group")


def retention(value: object) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or not 0 <= value <= 35:
        raise AWSError("InvalidParameterValue", "SnapshotRetentionLimit must be 0 to 35")
    return value


class ClusterOperations(SubnetGroupOperations):
    def new_node(self, account: str, region: str, id: str, *, node_type: str, engine: str,
                 version: str, port: int, az: str | None = None, group: str | None = None,
                 shard: str | None = None, cluster_mode: bool = False,
                 tags: dict[str, str] | None = None, snapshot_retention: int = 0,
                 snapshot_window: str | None = None, seed: str | None = None,
                 parameter_group: str = DEFAULT_PARAMETER_GROUP,
                 security_groups: list[str] | None = None,
                 subnet_group: str = "default") -> dict[str, Any]:
        if self.find_node(account, region, id) is not None:
            raise AWSError("CacheClusterAlreadyExists", f"Cache cluster {id} already exists.")
        # Its address is in its subnet group's subnets (the default VPC's when
        # none is named), in its zone if the group has it.
        subnets = self.subnet_groups.get(account, region, subnet_group) \
            or self.subnet_groups.default(account, region)
        az = az or self.subnet_groups.zone_for(subnets, f"{region}a")
        doc: dict[str, Any] = {
            "id": id, "account": account, "region": region, "status": "creating",
            "domain": domain(account, region, self.env.name_salt),
            "node_type": node_type, "engine": engine, "engine_version": version, "port": port,
            "az": az or f"{region}a", "created": self.now(), "tags": tags or {},
            "snapshot_retention": snapshot_retention,
            "snapshot_window": snapshot_window or "05:00-06:00",
            "group": group, "shard": shard, "cluster_mode": cluster_mode,
            "parameter_group": parameter_group, "reboots": 0, "rebooted": 0,
            "arn": self.arn({"account": account, "region": region}, f"cluster:{id}"),
            "seed": seed, "security_groups": list(security_groups or []),
            "subnet_group": subnets["name"],
        }
        # On EC2's instance network: an address in the subnet of its zone
        # (instances reach it); otherwise a loopback address of its own.
        owner = self.address_owner(doc)
        doc["address"] = (self.private.allocate(owner, account, region, doc["az"],
                                                self.subnet_groups.subnet_ids(subnets))
                          or self.env.addresses.allocate(owner))
        shared(self.env).wake()  # (a member of its security groups from now on)
        self.save_node(doc)
        return doc

    def create_cache_cluster(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        id = check_id(params.get("CacheClusterId"), "CacheClusterId", 50)
        if params.get("ReplicationGroupId"):
            raise AWSError("InvalidParameterValue", "Adding a cache cluster to a replication "
                           "group is done with IncreaseReplicaCount")
        if params.get("NumCacheNodes", 1) != 1:
            raise AWSError("InvalidParameterValue",
                           "Cluster must have exactly one node for engine: redis")
        node_type = check_node_type(params.get("CacheNodeType"))
        engine, version = check_engine(params.get("Engine"), params.get("EngineVersion"),
                                       self.driver.version())
        port = check_port(params.get("Port"))
        tags = tagging.to_dict(params.get("Tags"))
        seed = self.snapshot_seed(call, params.get("SnapshotName"))
        subnets = self.cache_subnet_group(call, params.get("CacheSubnetGroupName"))
        groups = self.private.groups(call.account, call.region, params.get("SecurityGroupIds"),
                                     subnets["vpc_id"] or None)
        if params.get("CacheParameterGroupName"):
            pg = require_parameter_group(self.store, call.account, call.region,
                                         params["CacheParameterGroupName"])
            if pg["id"].endswith(".cluster.on") or \
                    pg["values"].get("cluster-enabled") == "yes":
                raise AWSError("InvalidParameterCombination", "A cache cluster cannot use a "
                               "cluster-mode parameter group")
        with self.store.tx():
            doc = self.new_node(
                call.account, call.region, id, node_type=node_type, engine=engine,
                version=version, port=port, az=params.get("PreferredAvailabilityZone"),
                tags=tags, snapshot_retention=retention(params.get("SnapshotRetentionLimit")),
                snapshot_window=params.get("SnapshotWindow"), seed=seed,
                parameter_group=params.get("CacheParameterGroupName")
                or DEFAULT_PARAMETER_GROUP, security_groups=groups,
                subnet_group=subnets["name"])
        self.wake_node(call.account, call.region, id)
        return {"CacheCluster": cache_cluster(doc, False)}

    def snapshot_seed(self, call: Call, name: object) -> str | None:
        if not name:
            return None
        snap = self.store.resources.get(SNAPSHOT, call.account, call.region, str(name))
        if snap is None:
            raise AWSError("SnapshotNotFoundFault", f"Snapshot {name} not found.", 404)
        if snap["status"] != "available":
            raise AWSError("InvalidSnapshotState", f"Snapshot {name} is not available.")
        files: list[str] = snap["files"]
        return files[0]

    def describe_cache_clusters(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("CacheClusterId"):
            docs = [self.node(call, params["CacheClusterId"])]
        else:
            docs = self.store.resources.list(NODE, call.account, call.region)
            if params.get("ShowCacheClustersNotInReplicationGroups"):
                docs = [d for d in docs if not d.get("group")]
        docs.sort(key=lambda d: d["id"])
        page, marker = paginate(docs, params.get("Marker"), params.get("MaxRecords"),
                                key=lambda d: d["id"], default_limit=100, max_limit=100,
                                min_limit=20)
        show = bool(params.get("ShowCacheNodeInfo"))
        out: dict[str, Any] = {"CacheClusters": [cache_cluster(d, show) for d in page]}
        if marker:
            out["Marker"] = marker
        return out

    def _available(self, doc: dict[str, Any]) -> None:
        if doc["status"] != "available":
            raise AWSError("InvalidCacheClusterState",
                           f"Cache cluster {doc['id']} is not in available state "
                           f"(it is {doc['status']}).")

    def modify_cache_cluster(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.node(call, params.get("CacheClusterId"))
            self._available(doc)
            if params.get("NumCacheNodes", 1) != 1:
                raise AWSError("InvalidParameterValue",
                               "Cluster must have exactly one node for engine: redis")
            if params.get("CacheNodeType") and params["CacheNodeType"] != doc["node_type"]:
                if doc.get("group"):
                    raise AWSError("InvalidParameterCombination", "Change the node type of a "
                                   "replication group member with ModifyReplicationGroup")
                new = check_node_type(params["CacheNodeType"])
                if maxmemory(new) < maxmemory(doc["node_type"]):
                    raise AWSError("InvalidParameterCombination",
                                   "Scaling down to a smaller node type is not supported")
                doc["node_type"] = new
                doc["status"] = "modifying"
            if "SnapshotRetentionLimit" in params:
                doc["snapshot_retention"] = retention(params["SnapshotRetentionLimit"])
            if params.get("SnapshotWindow"):
                doc["snapshot_window"] = params["SnapshotWindow"]
            if params.get("PreferredMaintenanceWindow"):
                doc["maintenance_window"] = params["PreferredMaintenanceWindow"]
            if params.get("CacheParameterGroupName"):
                doc["parameter_group"] = require_parameter_group(
                    self.store, call.account, call.region, params["CacheParameterGroupName"])["id"]
            if params.get("EngineVersion"):
                check_engine(doc["engine"], params["EngineVersion"], self.driver.version())
            if "AutoMinorVersionUpgrade" in params:
                doc["auto_minor"] = bool(params["AutoMinorVersionUpgrade"])
            if params.get("SecurityGroupIds"):  # (applied at once, as on AWS)
                doc["security_groups"] = self.private.groups(
                    call.account, call.region, params["SecurityGroupIds"],
                    self.cache_subnet_group(call, doc.get("subnet_group"))["vpc_id"] or None)
            self.save_node(doc)
        self.wake_node(call.account, call.region, doc["id"])
        return {"CacheCluster": cache_cluster(doc, False)}

    def reboot_cache_cluster(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.node(call, params.get("CacheClusterId"))
            self._available(doc)
            ids = params.get("CacheNodeIdsToReboot") or []
            if not ids or any(i != "0001" for i in ids):
                raise AWSError("InvalidParameterValue", f"Invalid cache node ids: {ids}")
            doc["reboots"] = doc.get("reboots", 0) + 1
            doc["status"] = "rebooting cache cluster nodes"
            self.save_node(doc)
        self.wake_node(call.account, call.region, doc["id"])
        return {"CacheCluster": cache_cluster(doc, False)}

    def delete_cache_cluster(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.node(call, params.get("CacheClusterId"))
            if doc.get("group"):
                raise AWSError("InvalidCacheClusterState", f"Cache cluster {doc['id']} is a "
                               "member of a replication group")
            if doc["status"] not in ("available", "incompatible-network", "restore-failed"):
                raise AWSError("InvalidCacheClusterState",
                               f"Cache cluster {doc['id']} is not in a deletable state "
                               f"(it is {doc['status']}).")
            final = params.get("FinalSnapshotIdentifier")
            if final:
                self.request_snapshot(call, final, doc, None, "manual")
                doc["final_snapshot"] = final
            doc["status"] = "deleting"
            self.save_node(doc)
        self.wake_node(call.account, call.region, doc["id"])
        return {"CacheCluster": cache_cluster(doc, False)}

    def request_snapshot(self, call: Call, name: str, node: dict[str, Any],
                         group: dict[str, Any] | None, source: str = "manual"
                         ) -> dict[str, Any]:
        raise AWSError("SnapshotFeatureNotSupportedFault", "Snapshots are not supported yet")

    # -- events -----------------------------------------------------------

    def describe_events(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        kind = params.get("SourceType")
        if kind is not None and kind not in EVENT_TYPES:
            raise AWSError("InvalidParameterValue", f"Invalid SourceType: {kind}")
        end = _epoch(params.get("EndTime")) or self.now()
        start = _epoch(params.get("StartTime"))
        if start is None:
            start = end - 60 * float(params.get("Duration") or 60)
        events = [
            e for e in self.store.resources.list(EVENT, call.account, call.region)
            if start <= e["Date"] <= end
            and (kind is None or e["SourceType"] == kind)
            and (not params.get("SourceIdentifier")
                 or e["SourceIdentifier"] == params["SourceIdentifier"])
        ]
        events.sort(key=lambda e: e["Date"], reverse=True)
        keyed = [(f"{i:08d}", e) for i, e in enumerate(events)]
        page, marker = paginate(keyed, params.get("Marker"), params.get("MaxRecords"),
                                key=lambda p: p[0], default_limit=100, max_limit=100,
                                min_limit=20)
        out: dict[str, Any] = {"Events": [e for _, e in page]}
        if marker:
            out["Marker"] = marker
        return out

    # -- tags -------------------------------------------------------------

    def _tagged(self, call: Call, resource_arn: object) -> tuple[str, dict[str, Any]]:
        parsed = parse_arn(str(resource_arn or ""))
        if parsed is None or parsed["service"] != "elasticache":
            raise AWSError("InvalidARN", f"Invalid ARN: {resource_arn}")
        kind, _, name = parsed["resource"].partition(":")
        kinds = {"cluster": (NODE, "CacheClusterNotFound"),
                 "replicationgroup": (GROUP, "ReplicationGroupNotFoundFault"),
                 "snapshot": (SNAPSHOT, "SnapshotNotFoundFault")}
        if kind not in kinds:
            raise AWSError("InvalidARN", f"Invalid ARN: {resource_arn}")
        store_kind, code = kinds[kind]
        doc = self.store.resources.get(store_kind, call.account, call.region, name)
        if doc is None:
            raise AWSError(code, f"{name} not found", 404)
        return store_kind, doc

    def list_tags_for_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        _, doc = self._tagged(call, params.get("ResourceName"))
        return {"TagList": tagging.to_list(doc.get("tags"))}

    def add_tags_to_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            kind, doc = self._tagged(call, params.get("ResourceName"))
            doc["tags"] = tagging.merge(doc.get("tags", {}), tagging.to_dict(params.get("Tags")))
            self.store.resources.put(kind, call.account, call.region, doc["id"], doc)
        return {"TagList": tagging.to_list(doc["tags"])}

    def remove_tags_from_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            kind, doc = self._tagged(call, params.get("ResourceName"))
            missing = [k for k in params.get("TagKeys", []) if k not in doc.get("tags", {})]
            if missing:
                raise AWSError("TagNotFound", f"Tag {missing[0]} not found", 404)
            for k in params.get("TagKeys", []):
                doc["tags"].pop(k, None)
            self.store.resources.put(kind, call.account, call.region, doc["id"], doc)
        return {"TagList": tagging.to_list(doc["tags"])}


def _epoch(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):
        return float(timestamp())
    return None
