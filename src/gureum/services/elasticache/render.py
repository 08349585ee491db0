"""Records → AWS output shapes (CacheCluster, ReplicationGroup, Event)."""

from __future__ import annotations

from typing import Any

from .core import group_name, node_name


def endpoint(address: str, port: int) -> dict[str, Any]:
    return {"Address": address, "Port": port}


def cache_cluster(doc: dict[str, Any], show_nodes: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "CacheClusterId": doc["id"],
        "CacheNodeType": doc["node_type"],
        "Engine": doc["engine"],
        "EngineVersion": doc["engine_version"],
        "CacheClusterStatus": doc["status"],
        "NumCacheNodes": 1,
        "PreferredAvailabilityZone": doc["az"],
        "CacheClusterCreateTime": doc["created"],
        "PreferredMaintenanceWindow": doc.get("maintenance_window", "sun:05:00-sun:06:00"),
        "PendingModifiedValues": doc.get("pending", {}),
        "CacheSecurityGroups": [],
        "CacheParameterGroup": {"CacheParameterGroupName": doc["parameter_group"],
                                "ParameterApplyStatus": "in-sync", "CacheNodeIdsToReboot": []},
        "CacheSubnetGroupName": doc.get("subnet_group") or "default",
        "SecurityGroups": [{"SecurityGroupId": g, "Status": "active"}
                           for g in doc.get("security_groups") or []],
        "AutoMinorVersionUpgrade": doc.get("auto_minor", True),
        "SnapshotRetentionLimit": doc.get("snapshot_retention", 0),
        "SnapshotWindow": doc.get("snapshot_window", "05:00-06:00"),
        "AuthTokenEnabled": False,
        "TransitEncryptionEnabled": False,
        "AtRestEncryptionEnabled": False,
        "ARN": doc["arn"],
        "ReplicationGroupLogDeliveryEnabled": False,
        "LogDeliveryConfigurations": [],
        "NetworkType": "ipv4",
        "IpDiscovery": "ipv4",
    }
    if doc.get("group"):
        out["ReplicationGroupId"] = doc["group"]
    if show_nodes:
        node: dict[str, Any] = {
            "CacheNodeId": "0001",
            "CacheNodeStatus": doc["status"] if doc["status"] != "available" else "available",
            "CacheNodeCreateTime": doc["created"],
            "ParameterGroupStatus": "in-sync",
            "CustomerAvailabilityZone": doc["az"],
        }
        if doc["status"] != "creating":
            node["Endpoint"] = endpoint(node_name(doc), doc["port"])
        out["CacheNodes"] = [node]
    return out


def member(doc: dict[str, Any], role: str | None, cluster_mode: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "CacheClusterId": doc["id"], "CacheNodeId": "0001",
        "ReadEndpoint": endpoint(node_name(doc), doc["port"]),
        "PreferredAvailabilityZone": doc["az"],
    }
    if not cluster_mode and role:
        out["CurrentRole"] = role
    return out


def slot_text(slots: list[list[int]]) -> str:
    return ",".join(f"{a}-{b}" for a, b in slots)


def replication_group(group: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    by_id = {m["id"]: m for m in members}
    cluster_mode = group["cluster_mode"]
    shards = []
    for shard in group["shards"]:
        rows = []
        for mid in shard["members"]:
            if mid in by_id:
                role = "primary" if mid == shard["primary"] else "replica"
                rows.append(member(by_id[mid], role, cluster_mode))
        out: dict[str, Any] = {"NodeGroupId": shard["id"], "Status": group["status"]
                               if group["status"] != "deleting" else "deleting",
                               "NodeGroupMembers": rows}
        if cluster_mode:
            out["Slots"] = slot_text(shard["slots"])
        elif group["status"] != "creating":
            out["PrimaryEndpoint"] = endpoint(group_name("master", group), group["port"])
            out["ReaderEndpoint"] = endpoint(group_name("replica", group), group["port"])
        shards.append(out)
    result: dict[str, Any] = {
        "ReplicationGroupId": group["id"],
        "Description": group["description"],
        "GlobalReplicationGroupInfo": {},
        "Status": group["status"],
        "PendingModifiedValues": group.get("pending", {}),
        "MemberClusters": sorted(m["id"] for m in members),
        "NodeGroups": shards,
        "AutomaticFailover": "enabled" if group["auto_failover"] else "disabled",
        "MultiAZ": "enabled" if group["multi_az"] else "disabled",
        "SnapshotRetentionLimit": group.get("snapshot_retention", 0),
        "SnapshotWindow": group.get("snapshot_window", "05:00-06:00"),
        "ClusterEnabled": cluster_mode,
        "CacheNodeType": group["node_type"],
        "AuthTokenEnabled": False,
        "TransitEncryptionEnabled": False,
        "AtRestEncryptionEnabled": False,
        "MemberClustersOutpostArns": [],
        "ARN": group["arn"],
        "UserGroupIds": [],
        "LogDeliveryConfigurations": [],
        "ReplicationGroupCreateTime": group["created"],
        "DataTiering": "disabled",
        "AutoMinorVersionUpgrade": True,
        "NetworkType": "ipv4",
        "IpDiscovery": "ipv4",
        "ClusterMode": "enabled" if cluster_mode else "disabled",
        "Engine": group["engine"],
    }
    if cluster_mode and group["status"] != "creating":
        result["ConfigurationEndpoint"] = endpoint(group_name("clustercfg", group), group["port"])
    return result
