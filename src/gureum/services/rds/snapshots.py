"""Snapshots and restores: manual snapshots (base backups taken by the
snapshot loop), automated backups (base backups + the WAL archive, kept per
DbiResourceId), and the restores that make new instances from them."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError
from gureum.services.common import filters, pagination
from gureum.services.common import tags as tagutil

from ..base import Call
from . import validate
from .classes import instance_class
from .core import AUTOMATED, SNAPSHOT, check_identifier
from .instances import InstanceOperations

SNAPSHOT_GETTERS: dict[str, filters.Getter] = {
    "db-instance-id": filters.field("instance_id"),
    "db-snapshot-id": filters.field("id"),
    "dbi-resource-id": filters.field("resource_id"),
    "snapshot-type": filters.field("type"),
    "engine": filters.field("engine"),
}


def _time(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    raise validate.invalid(f"Invalid timestamp: {value}")


class SnapshotOperations(InstanceOperations):
    # -- records ----------------------------------------------------------

    def new_snapshot(self, call: Call, doc: dict[str, Any], snap_id: str, kind: str,
                     tags: dict[str, str], wake: bool = True) -> dict[str, Any]:
        if self.store.resources.get(SNAPSHOT, call.account, call.region, snap_id):
            raise AWSError("DBSnapshotAlreadyExists",
                           f"Cannot create the snapshot because a snapshot with the "
                           f"identifier {snap_id} already exists.")
        if doc.get("copy_tags") and not tags:
            tags = dict(doc.get("tags") or {})
        snap = {
            "id": snap_id, "account": call.account, "region": call.region,
            "instance_id": doc["id"], "resource_id": doc["resource_id"], "status": "creating",
            "type": kind, "created": self.now(), "instance_created": doc["created"],
            "engine": doc["engine"], "engine_version": doc["engine_version"],
            "storage": doc["storage"], "port": doc["port"], "az": doc["az"],
            "master_username": doc["master_username"], "db_name": doc.get("db_name"),
            "class": doc["class"], "encrypted": doc["encrypted"], "tags": tags,
            "retention": doc["retention"], "backup_window": doc["backup_window"],
            "path": str(self.snapshot_dir(call.account, call.region, snap_id)),
        }
        self.store.resources.put(SNAPSHOT, call.account, call.region, snap_id, snap)
        if wake:
            self.wake_snapshot(call.account, call.region, snap_id)
        return snap

    def render_snapshot(self, snap: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "DBSnapshotIdentifier": snap["id"], "DBInstanceIdentifier": snap["instance_id"],
            "SnapshotCreateTime": snap["created"], "Engine": snap["engine"],
            "AllocatedStorage": snap["storage"], "Status": snap["status"],
            "Port": snap["port"], "AvailabilityZone": snap["az"],
            "InstanceCreateTime": snap["instance_created"],
            "MasterUsername": snap["master_username"], "EngineVersion": snap["engine_version"],
            "LicenseModel": "postgresql-license", "SnapshotType": snap["type"],
            "PercentProgress": 100 if snap["status"] == "available" else 0,
            "StorageType": "gp2", "Encrypted": snap["encrypted"],
            "DBSnapshotArn": self.arn(snap["account"], snap["region"], "db-snapshot",
                                      snap["id"]),
            "IAMDatabaseAuthenticationEnabled": False, "DbiResourceId": snap["resource_id"],
            "TagList": tagutil.to_list(snap.get("tags")),
            "OriginalSnapshotCreateTime": snap.get("original_created", snap["created"]),
            "SnapshotTarget": "region",
        }
        if snap.get("db_name"):
            out["DBName"] = snap["db_name"]
        if snap.get("source_arn"):
            out["SourceDBSnapshotIdentifier"] = snap["source_arn"]
            out["SourceRegion"] = snap["region"]
        return out

    # -- snapshot operations ---------------------------------------------

    def create_db_snapshot(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        snap_id = check_identifier(params.get("DBSnapshotIdentifier"), "DBSnapshotIdentifier")
        with self.store.tx():
            doc = self.instance(call, params.get("DBInstanceIdentifier"))
            self._require(doc, "available")
            snap = self.new_snapshot(call, doc, snap_id, "manual",
                                     tagutil.to_dict(params.get("Tags")), wake=False)
        self.wake_snapshot(call.account, call.region, snap_id)
        return {"DBSnapshot": self.render_snapshot(snap)}

    def describe_db_snapshots(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        snaps = self.store.resources.list(SNAPSHOT, call.account, call.region)
        if params.get("DBSnapshotIdentifier"):
            snaps = [self.snapshot(call, params["DBSnapshotIdentifier"])]
        if params.get("DBInstanceIdentifier"):
            snaps = [s for s in snaps if s["instance_id"] == params["DBInstanceIdentifier"]
                     .lower()]
        if params.get("SnapshotType"):
            snaps = [s for s in snaps if s["type"] == params["SnapshotType"]]
        snaps = filters.apply(snaps, params.get("Filters"), SNAPSHOT_GETTERS)
        snaps.sort(key=lambda s: s["id"])
        limit = params.get("MaxRecords")
        if limit is not None and not 20 <= limit <= 100:
            raise validate.invalid("MaxRecords must be between 20 and 100")
        page, marker = pagination.paginate(snaps, params.get("Marker"), limit,
                                           key=lambda s: str(s["id"]), default_limit=100)
        out: dict[str, Any] = {"DBSnapshots": [self.render_snapshot(s) for s in page]}
        if marker:
            out["Marker"] = marker
        return out

    def copy_db_snapshot(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        """A new manual snapshot with the source's data (its files copied by
        the snapshot loop), in the same region."""
        source_id = params.get("SourceDBSnapshotIdentifier")
        if isinstance(source_id, str) and source_id.startswith("arn:"):
            parts = source_id.split(":")
            if len(parts) != 7 or parts[5] != "snapshot" or parts[3] != call.region or \
                    parts[4] != call.account:
                raise validate.invalid(f"Invalid source snapshot ARN {source_id}: only "
                                       f"snapshots of this account and region can be copied")
            source_id = parts[6]
        target = check_identifier(params.get("TargetDBSnapshotIdentifier"),
                                  "TargetDBSnapshotIdentifier")
        with self.store.tx():
            source = self.snapshot(call, source_id)
            if source["status"] != "available":
                raise AWSError("InvalidDBSnapshotState",
                               f"Snapshot {source['id']} is not in available state.")
            if self.store.resources.get(SNAPSHOT, call.account, call.region, target):
                raise AWSError("DBSnapshotAlreadyExists",
                               f"Cannot create the snapshot because a snapshot with the "
                               f"identifier {target} already exists.")
            tags = dict(source.get("tags") or {}) if params.get("CopyTags") else {}
            tags.update(tagutil.to_dict(params.get("Tags")))
            snap = {**source, "id": target, "status": "creating", "type": "manual",
                    "created": self.now(), "tags": tags, "copy_from": source["path"],
                    "source_arn": self.arn(call.account, call.region, "db-snapshot",
                                           source["id"]),
                    "original_created": source.get("original_created", source["created"]),
                    "path": str(self.snapshot_dir(call.account, call.region, target))}
            self.store.resources.put(SNAPSHOT, call.account, call.region, target, snap)
        self.wake_snapshot(call.account, call.region, target)
        return {"DBSnapshot": self.render_snapshot(snap)}

    def delete_db_snapshot(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            snap = self.snapshot(call, params.get("DBSnapshotIdentifier"))
            if snap["status"] not in ("available", "failed"):
                raise AWSError("InvalidDBSnapshotState",
                               f"Cannot delete the snapshot because it is {snap['status']}.")
            snap["status"] = "deleted"
            self.store.resources.put(SNAPSHOT, call.account, call.region, snap["id"], snap)
        self.wake_snapshot(call.account, call.region, snap["id"])
        return {"DBSnapshot": self.render_snapshot(snap)}

    def _restore_record(self, call: Call, params: dict[str, Any], id: str,
                        origin: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
        merged = {
            "DBInstanceClass": params.get("DBInstanceClass") or origin["class"],
            "AllocatedStorage": params.get("AllocatedStorage") or origin["storage"],
            "Port": params.get("Port") or origin["port"],
            "BackupRetentionPeriod": params.get("BackupRetentionPeriod",
                                                origin.get("retention") or 1),
            "MultiAZ": params.get("MultiAZ", False), "Tags": params.get("Tags"),
            "DeletionProtection": params.get("DeletionProtection", False),
            "AvailabilityZone": params.get("AvailabilityZone"),
            "CopyTagsToSnapshot": params.get("CopyTagsToSnapshot", False),
            "DBParameterGroupName": params.get("DBParameterGroupName"),
            "DBSubnetGroupName": params.get("DBSubnetGroupName"),
            "VpcSecurityGroupIds": params.get("VpcSecurityGroupIds"),
        }
        instance_class(merged["DBInstanceClass"])
        if merged["MultiAZ"] and params.get("AvailabilityZone"):
            raise validate.combination("Requesting a specific availability zone is not valid "
                                       "for Multi-AZ instances.")
        doc = self.new_record(
            call, merged, id, engine=origin.get("engine"),
            master_username=origin["master_username"],
            db_name=origin.get("db_name"), engine_version=origin["engine_version"],
            source=source, encrypted=origin.get("encrypted", False))
        if params.get("ManageMasterUserPassword"):
            if self.find(call.account, call.region, id) is not None:
                raise AWSError("DBInstanceAlreadyExists", f"DB instance already exists: {id}")
            doc["master_secret"], doc["verifier"] = self.manage_password(
                call, id, doc["engine"], doc["master_username"],
                params.get("MasterUserSecretKmsKeyId"))
        return doc

    def restore_db_instance_from_db_snapshot(self, call: Call, params: dict[str, Any]
                                             ) -> dict[str, Any]:
        id = check_identifier(params.get("DBInstanceIdentifier"))
        snap = self.snapshot(call, params.get("DBSnapshotIdentifier"))
        if snap["status"] != "available":
            raise AWSError("InvalidDBSnapshotState",
                           f"Snapshot {snap['id']} is not available.")
        with self.store.tx():  # a managed password's secret only with the instance
            doc = self._restore_record(call, params, id, snap,
                                       {"kind": "snapshot", "path": snap["path"]})
            self._insert(call, doc)
        return {"DBInstance": self.render(doc)}

    # -- automated backups and point-in-time restore ----------------------

    def automated(self, account: str, region: str, resource: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self.store.resources.get(AUTOMATED, account, region,
                                                               resource)
        return doc

    def restore_db_instance_to_point_in_time(self, call: Call, params: dict[str, Any]
                                             ) -> dict[str, Any]:
        id = check_identifier(params.get("TargetDBInstanceIdentifier"),
                              "TargetDBInstanceIdentifier")
        live: dict[str, Any] | None = None
        if params.get("SourceDBInstanceIdentifier"):
            live = self.instance(call, params["SourceDBInstanceIdentifier"])
            backups = self.automated(call.account, call.region, live["resource_id"])
        elif params.get("SourceDbiResourceId"):
            backups = self.automated(call.account, call.region, params["SourceDbiResourceId"])
            if backups is None:
                raise AWSError("DBInstanceAutomatedBackupNotFound",
                               f"No automated backup for {params['SourceDbiResourceId']}", 404)
        else:
            raise validate.invalid("SourceDBInstanceIdentifier or SourceDbiResourceId is "
                                   "required")
        if live is not None and live["retention"] == 0:
            raise AWSError("PointInTimeRestoreNotEnabled",
                           f"Point-in-time restore is not enabled for {live['id']}: its backup "
                           f"retention period is 0.")
        use_latest = bool(params.get("UseLatestRestorableTime", False))
        when = params.get("RestoreTime")
        if use_latest and when is not None:
            raise validate.combination("Specify RestoreTime or UseLatestRestorableTime, not "
                                       "both.")
        if not use_latest and when is None:
            raise validate.combination("RestoreTime or UseLatestRestorableTime is required.")
        if backups is None or not backups.get("backups"):
            raise AWSError("InvalidRestoreFault", "The source has no automated backup yet; "
                           "there is nothing to restore from.")
        earliest = min(b["time"] for b in backups["backups"])
        alive = live is not None and live["status"] in ("available", "backing-up",
                                                        "modifying")
        latest = self.now() if alive else float(backups.get("latest_restorable") or earliest)
        target: float | None = None
        if when is not None:
            target = _time(when)
            if not earliest <= target <= latest:
                raise AWSError("InvalidRestoreFault",
                               "Restore time must be between the earliest restorable time and "
                               "the latest restorable time.")
        elif not alive:
            target = latest
        origin = dict(live) if live is not None else backups["origin"]
        source = {"kind": "pitr", "resource_id": backups["resource_id"], "time": target,
                  "from": live["id"] if alive and live is not None else None}
        with self.store.tx():
            doc = self._restore_record(call, params, id, origin, source)
            self._insert(call, doc)
        return {"DBInstance": self.render(doc)}

    def describe_db_instance_automated_backups(self, call: Call, params: dict[str, Any]
                                               ) -> dict[str, Any]:
        docs = self.store.resources.list(AUTOMATED, call.account, call.region)
        if params.get("DbiResourceId"):
            docs = [d for d in docs if d["resource_id"] == params["DbiResourceId"]]
        if params.get("DBInstanceIdentifier"):
            docs = [d for d in docs if d["origin"]["id"] == params["DBInstanceIdentifier"]
                    .lower()]
        out = []
        for d in docs:
            o = d["origin"]
            window: dict[str, Any] = {}
            if d.get("backups"):
                window["EarliestTime"] = min(b["time"] for b in d["backups"])
            if d.get("latest_restorable"):
                window["LatestTime"] = d["latest_restorable"]
            out.append({
                "DBInstanceArn": self.arn(d["account"], d["region"], "db-instance", o["id"]),
                "DbiResourceId": d["resource_id"], "Region": d["region"],
                "DBInstanceIdentifier": o["id"], "RestoreWindow": window,
                "AllocatedStorage": o["storage"], "Status": d["status"], "Port": o["port"],
                "AvailabilityZone": o["az"], "InstanceCreateTime": o["created"],
                "MasterUsername": o["master_username"], "Engine": o["engine"],
                "EngineVersion": o["engine_version"], "LicenseModel": "postgresql-license",
                "Encrypted": o["encrypted"], "StorageType": "gp2",
                "BackupRetentionPeriod": o["retention"],
                "PreferredBackupWindow": o["backup_window"],
                "DBInstanceAutomatedBackupsArn": self.arn(
                    d["account"], d["region"], "auto-backup", d["resource_id"]),
                "BackupTarget": "region",
            })
        return {"DBInstanceAutomatedBackups": out}

    # -- read replicas ----------------------------------------------------

    def create_db_instance_read_replica(self, call: Call, params: dict[str, Any]
                                        ) -> dict[str, Any]:
        id = check_identifier(params.get("DBInstanceIdentifier"))
        with self.store.tx():
            source = self.instance(call, params.get("SourceDBInstanceIdentifier"))
            self._require(source, "available")
            if source.get("replica_of"):
                raise validate.combination("A read replica of a read replica is not "
                                           "supported here.")
            if source["retention"] == 0:
                raise AWSError("InvalidDBInstanceState",
                               "Automated backups are not enabled for this database "
                               "instance. To enable automated backups, use "
                               "ModifyDBInstance to set the backup retention period to a "
                               "non-zero value.")
            merged = {
                "DBInstanceClass": params.get("DBInstanceClass") or source["class"],
                "AllocatedStorage": source["storage"],
                "Port": params.get("Port") or source["port"], "BackupRetentionPeriod": 0,
                "Tags": params.get("Tags"), "AvailabilityZone": params.get("AvailabilityZone"),
                "DeletionProtection": params.get("DeletionProtection", False),
                "CopyTagsToSnapshot": params.get("CopyTagsToSnapshot", False),
                # (in its source's subnet group and security groups unless told)
                "DBSubnetGroupName": params.get("DBSubnetGroupName")
                or source.get("subnet_group"),
                "VpcSecurityGroupIds": params.get("VpcSecurityGroupIds")
                or source.get("security_groups"),
            }
            instance_class(merged["DBInstanceClass"])
            doc = self.new_record(call, merged, id, engine=source["engine"],
                                  master_username=source["master_username"],
                                  db_name=source.get("db_name"), replica_of=source["id"],
                                  engine_version=source["engine_version"],
                                  source={"kind": "replica", "from": source["id"]})
            if self.find(call.account, call.region, id) is not None:
                raise AWSError("DBInstanceAlreadyExists", f"DB instance already exists: {id}")
            source["replicas"] = sorted({*source.get("replicas", []), id})
            self.save(source)
            self._insert(call, doc)
        return {"DBInstance": self.render(doc)}

    def promote_read_replica(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.instance(call, params.get("DBInstanceIdentifier"))
            if not doc.get("replica_of"):
                raise AWSError("InvalidDBInstanceState",
                               f"DB Instance {doc['id']} is not a read replica.")
            self._require(doc, "available")
            doc["pending"] = {**doc.get("pending", {}), "promote": True,
                              "retention": validate.retention(
                                  params.get("BackupRetentionPeriod"), 1)}
            if params.get("PreferredBackupWindow"):
                doc["backup_window"] = validate.window(params["PreferredBackupWindow"],
                                                       "PreferredBackupWindow", "")
            doc["status"] = "modifying"
            self.save(doc)
        self.wake(call.account, call.region, doc["id"])
        return {"DBInstance": self.render(doc)}
