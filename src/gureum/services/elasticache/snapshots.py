"""Snapshots: a node's dataset as an RDB file in the data dir. CreateSnapshot
records the request; the snapshot loop writes the file (``SAVE`` on the
node); a cluster or group created with ``SnapshotName`` loads it at its first
start. Cluster-mode groups are not snapshotted yet."""

from __future__ import annotations

from typing import Any

from gureum.control import Loop
from gureum.errors import AWSError
from gureum.services.common import tags as tagging
from gureum.services.common.pagination import paginate

from ..base import Call
from .core import SNAPSHOT, check_id, key, split
from .replication import GroupLoop

SNAPSHOT_LOOP = "elasticache-snapshots"


def render(snap: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SnapshotName": snap["id"], "SnapshotStatus": snap["status"],
        "SnapshotSource": snap["source"], "CacheNodeType": snap["node_type"],
        "Engine": snap["engine"], "EngineVersion": snap["engine_version"],
        "NumCacheNodes": 1, "PreferredAvailabilityZone": snap["az"],
        "CacheClusterCreateTime": snap["cluster_created"], "Port": snap["port"],
        "CacheParameterGroupName": snap["parameter_group"],
        "SnapshotRetentionLimit": snap.get("retention", 0),
        "SnapshotWindow": "05:00-06:00", "ARN": snap["arn"], "DataTiering": "disabled",
        "NodeSnapshots": [{
            "CacheClusterId": snap["cluster"], "CacheNodeId": "0001",
            "CacheSize": f"{snap.get('size', 0) / 1024 / 1024:.1f} MB",
            "CacheNodeCreateTime": snap["cluster_created"], "SnapshotCreateTime": snap["created"],
        }],
    }
    if snap.get("group"):
        out["ReplicationGroupId"] = snap["group"]
        out["ReplicationGroupDescription"] = snap.get("group_description", "")
        out["NumNodeGroups"] = 1
        out["AutomaticFailover"] = "enabled" if snap.get("auto_failover") else "disabled"
        out["NodeSnapshots"][0]["NodeGroupId"] = "0001"
    else:
        out["CacheClusterId"] = snap["cluster"]
    return out


class SnapshotOperations(GroupLoop):
    def setup_snapshots(self) -> None:
        self.env.loops.add(Loop(SNAPSHOT_LOOP, self.reconcile_snapshot, clock=self.env.clock,
                                resync=self.resync_snapshots, resync_interval=60.0))

    def request_snapshot(self, call: Call, name: str, node: dict[str, Any],
                         group: dict[str, Any] | None, source: str = "manual"
                         ) -> dict[str, Any]:
        name = check_id(name, "SnapshotName", 255)
        if self.store.resources.get(SNAPSHOT, call.account, call.region, name) is not None:
            raise AWSError("SnapshotAlreadyExistsFault", f"Snapshot {name} already exists.")
        if group is not None and group["cluster_mode"]:
            raise AWSError("SnapshotFeatureNotSupportedFault",
                           "Snapshots of cluster-mode groups are not supported yet")
        snap: dict[str, Any] = {
            "id": name, "account": call.account, "region": call.region, "status": "creating",
            "source": source, "cluster": node["id"], "group": group["id"] if group else None,
            "group_description": group["description"] if group else None,
            "auto_failover": group["auto_failover"] if group else False,
            "node_type": node["node_type"], "engine": node["engine"],
            "engine_version": node["engine_version"], "az": node["az"],
            "cluster_created": node["created"], "port": node["port"],
            "parameter_group": node["parameter_group"],
            "retention": node.get("snapshot_retention", 0), "created": self.now(),
            "arn": self.arn(call, f"snapshot:{name}"), "tags": {},
            "files": [str(self.snapshot_dir / call.account / call.region / f"{name}.rdb")],
        }
        self.store.resources.put(SNAPSHOT, call.account, call.region, name, snap)
        if SNAPSHOT_LOOP in self.env.loops:
            self.env.loops.wake(SNAPSHOT_LOOP, key(call.account, call.region, name))
        return snap

    async def take_snapshot(self, account: str, region: str, name: str) -> None:
        snap = self.store.resources.get(SNAPSHOT, account, region, name)
        if snap is None or snap["status"] != "creating":
            return
        node = self.find_node(account, region, snap["cluster"])
        if snap.get("group"):
            group = self.find_group(account, region, snap["group"])
            if group is not None:
                node = self.find_node(account, region, group["shards"][0]["primary"])
        status = "failed"
        if node is not None and self.driver.running(self.driver_id(node)):
            path = self.snapshot_dir / account / region / f"{name}.rdb"
            await self.driver.save(self.driver_id(node), path)
            snap["size"] = path.stat().st_size if path.exists() else 0
            status = "available"
        with self.store.tx():
            fresh = self.store.resources.get(SNAPSHOT, account, region, name)
            if fresh is not None:
                fresh.update(status=status, size=snap.get("size", 0))
                self.store.resources.put(SNAPSHOT, account, region, name, fresh)
                self.event(account, region, snap["cluster"], "cache-cluster",
                           f"Snapshot {name} {'succeeded' if status == 'available' else 'failed'}")

    async def reconcile_snapshot(self, k: str) -> float | None:
        account, region, name = split(k)
        await self.take_snapshot(account, region, name)
        return None

    async def resync_snapshots(self) -> list[str]:
        return [key(s["account"], s["region"], s["id"])
                for s in self.store.resources.list(SNAPSHOT) if s["status"] == "creating"]

    def create_snapshot(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("SnapshotName")
        group: dict[str, Any] | None
        with self.store.tx():
            if params.get("ReplicationGroupId"):
                found = self.group(call, params["ReplicationGroupId"])
                if found["status"] != "available":
                    raise AWSError("InvalidReplicationGroupState",
                                   f"Replication group {found['id']} is not available")
                node = self.node(call, found["shards"][0]["primary"])
                group = found
            elif params.get("CacheClusterId"):
                node = self.node(call, params["CacheClusterId"])
                if node["status"] != "available":
                    raise AWSError("InvalidCacheClusterState",
                                   f"Cache cluster {node['id']} is not available")
                group = (self.find_group(call.account, call.region, node["group"])
                         if node.get("group") else None)
            else:
                raise AWSError("InvalidParameterCombination",
                               "CacheClusterId or ReplicationGroupId is required")
            snap = self.request_snapshot(call, str(name or ""), node, group)
            snap["tags"] = tagging.to_dict(params.get("Tags"))
            self.store.resources.put(SNAPSHOT, call.account, call.region, snap["id"], snap)
        return {"Snapshot": render(snap)}

    def describe_snapshots(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        snaps = self.store.resources.list(SNAPSHOT, call.account, call.region)
        if params.get("SnapshotName"):
            snaps = [s for s in snaps if s["id"] == params["SnapshotName"]]
            if not snaps:
                raise AWSError("SnapshotNotFoundFault",
                               f"Snapshot {params['SnapshotName']} not found.", 404)
        if params.get("CacheClusterId"):
            snaps = [s for s in snaps if s["cluster"] == params["CacheClusterId"]]
        if params.get("ReplicationGroupId"):
            snaps = [s for s in snaps if s.get("group") == params["ReplicationGroupId"]]
        if params.get("SnapshotSource"):
            snaps = [s for s in snaps if s["source"] == params["SnapshotSource"]]
        snaps.sort(key=lambda s: s["id"])
        page, marker = paginate(snaps, params.get("Marker"), params.get("MaxRecords"),
                                key=lambda s: s["id"], default_limit=50, max_limit=50,
                                min_limit=20)
        out: dict[str, Any] = {"Snapshots": [render(s) for s in page]}
        if marker:
            out["Marker"] = marker
        return out

    def delete_snapshot(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("SnapshotName")
        with self.store.tx():
            snap = self.store.resources.get(SNAPSHOT, call.account, call.region, str(name))
            if snap is None:
                raise AWSError("SnapshotNotFoundFault", f"Snapshot {name} not found.", 404)
            if snap["status"] == "creating":
                raise AWSError("InvalidSnapshotState", f"Snapshot {name} is being created.")
            self.store.resources.delete(SNAPSHOT, call.account, call.region, snap["id"])
        for f in snap["files"]:
            self.snapshot_dir.joinpath(f).unlink(missing_ok=True)
        snap["status"] = "deleting"
        return {"Snapshot": render(snap)}
