"""Snapshots: a node's dataset as an RDB file in the data dir. CreateSnapshot
records the request; the snapshot loop writes the file (``SAVE`` on the
node); a cluster or group created with ``SnapshotName`` loads it at its first
start. CopySnapshot copies the file. Clusters and groups with a
SnapshotRetentionLimit get an automatic snapshot once a day in their
SnapshotWindow (UTC), checked at each resync of the snapshot loop; the oldest
automatic ones beyond the limit are deleted. Cluster-mode groups are not
snapshotted yet."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from gureum.control import Loop
from gureum.errors import AWSError
from gureum.services.common import tags as tagging
from gureum.services.common.pagination import paginate

from ..base import Call, Identity
from .core import GROUP, NODE, SNAPSHOT, check_id, key, split
from .replication import GroupLoop

SNAPSHOT_LOOP = "elasticache-snapshots"
DAY = 86400.0
AUTOMATED = "automated"


def in_window(now: float, window: str) -> bool:
    """Whether ``now`` (epoch seconds) falls in a ``hh:mm-hh:mm`` UTC window."""
    try:
        start, end = (int(a) * 60 + int(b) for a, b in
                      (part.split(":") for part in window.split("-")))
    except ValueError:
        return False
    minute = int(now % DAY) // 60
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end


def render(snap: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "SnapshotName": snap["id"], "SnapshotStatus": snap["status"],
        "SnapshotSource": snap["source"], "CacheNodeType": snap["node_type"],
        "Engine": snap["engine"], "EngineVersion": snap["engine_version"],
        "NumCacheNodes": 1, "PreferredAvailabilityZone": snap["az"],
        "CacheClusterCreateTime": snap["cluster_created"], "Port": snap["port"],
        "CacheParameterGroupName": snap["parameter_group"],
        "SnapshotRetentionLimit": snap.get("retention", 0),
        "SnapshotWindow": snap.get("window", "05:00-06:00"), "ARN": snap["arn"],
        "DataTiering": "disabled",
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
        if source != AUTOMATED:  # automatic names hold a dot, as on AWS
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
            "retention": (group or node).get("snapshot_retention", 0), "created": self.now(),
            "window": (group or node).get("snapshot_window", "05:00-06:00"),
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
        self.automatic_snapshots()
        return [key(s["account"], s["region"], s["id"])
                for s in self.store.resources.list(SNAPSHOT) if s["status"] == "creating"]

    def automatic_snapshots(self) -> None:
        """Take today's automatic snapshots that are due; drop expired ones."""
        now = self.now()
        sources: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for group in self.store.resources.list(GROUP):
            if group["status"] == "available" and not group["cluster_mode"] and \
                    group.get("snapshot_retention", 0) > 0 and group["shards"]:
                primary = self.find_node(group["account"], group["region"],
                                         group["shards"][0]["primary"])
                if primary is not None:
                    sources.append((primary, group))
        for node in self.store.resources.list(NODE):
            if not node.get("group") and node["status"] == "available" and \
                    node.get("snapshot_retention", 0) > 0:
                sources.append((node, None))
        for node, group in sources:
            owner = group or node
            mine = sorted((s for s in self.store.resources.list(
                SNAPSHOT, owner["account"], owner["region"])
                if s["source"] == AUTOMATED
                and (s.get("group") == group["id"] if group else
                     s["cluster"] == node["id"] and not s.get("group"))),
                key=lambda s: s["created"])
            window = owner.get("snapshot_window") or "05:00-06:00"
            if in_window(now, window) and (not mine or now - mine[-1]["created"] > DAY / 2):
                stamp = time.strftime("%Y-%m-%d-%H-%M", time.gmtime(now))
                call = Call("elasticache", "CreateSnapshot", owner["account"], owner["region"],
                            Identity.root(owner["account"]), "automatic")
                with self.store.tx():
                    mine.append(self.request_snapshot(call, f"automatic.{owner['id']}-{stamp}",
                                                      node, group, AUTOMATED))
            done = [s for s in mine if s["status"] != "creating"]
            for old in done[: max(0, len(mine) - int(owner["snapshot_retention"]))]:
                self.store.resources.delete(SNAPSHOT, old["account"], old["region"], old["id"])
                for f in old["files"]:
                    Path(f).unlink(missing_ok=True)

    def copy_snapshot(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        source_name = params.get("SourceSnapshotName")
        target = check_id(params.get("TargetSnapshotName"), "TargetSnapshotName", 255)
        if params.get("TargetBucket"):
            raise AWSError("InvalidParameterValue", "Exporting a snapshot to S3 is not "
                           "supported here")
        with self.store.tx():
            source = self.store.resources.get(SNAPSHOT, call.account, call.region,
                                              str(source_name))
            if source is None:
                raise AWSError("SnapshotNotFoundFault", f"Snapshot {source_name} not found.",
                               404)
            if source["status"] != "available":
                raise AWSError("InvalidSnapshotState",
                               f"Snapshot {source_name} is not available.")
            if self.store.resources.get(SNAPSHOT, call.account, call.region, target):
                raise AWSError("SnapshotAlreadyExistsFault", f"Snapshot {target} already exists.")
            path = self.snapshot_dir / call.account / call.region / f"{target}.rdb"
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source["files"][0], path)
            snap = {**source, "id": target, "source": "manual", "created": self.now(),
                    "arn": self.arn(call, f"snapshot:{target}"), "files": [str(path)],
                    "tags": tagging.to_dict(params.get("Tags"))}
            self.store.resources.put(SNAPSHOT, call.account, call.region, target, snap)
        return {"Snapshot": render(snap)}

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
