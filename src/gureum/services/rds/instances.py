"""DB instance operations: create, describe, modify, reboot, stop, start,
delete. Each validates, records the desired state, wakes the instance loop."""

from __future__ import annotations

import secrets
from typing import Any

from gureum.drivers.mysql import native_hash
from gureum.drivers.postgres import verifier
from gureum.errors import AWSError
from gureum.services.common import filters, pagination
from gureum.services.common import tags as tagutil

from ..base import Call
from ..common.ingress import shared
from . import validate
from .classes import instance_class
from .core import INSTANCE, SNAPSHOT, RDSCore, check_identifier
from .engines import MYSQL_ENGINES, engine_id
from .parameters import family_of
from .secrets import ManagedPasswords

GETTERS: dict[str, filters.Getter] = {
    "db-instance-id": lambda d: [d["id"], RDSCore.arn(d["account"], d["region"],
                                                      "db-instance", d["id"])],
    "dbi-resource-id": filters.field("resource_id"),
    "engine": filters.field("engine"),
    "domain": lambda d: [],
    "db-cluster-id": lambda d: [],
}

BUSY = ("creating", "deleting", "backing-up-first")
STORAGE_QUOTA_GIB = 100_000
DEFERRABLE = ("class", "storage", "multi_az")  # applied at the maintenance window


class InstanceOperations(ManagedPasswords):
    def _installed(self, engine: str = "postgres") -> str:
        driver = self.driver.installed(engine) if self.driver is not None else None
        if driver is None:
            package = "mariadb-server" if engine in MYSQL_ENGINES else "postgresql"
            raise AWSError("InvalidParameterCombination",
                           f"The {engine} engine is not installed on this gureum host "
                           f"(install it: apt-get install {package})")
        return driver.version

    def new_record(self, call: Call, params: dict[str, Any], id: str, **extra: Any
                   ) -> dict[str, Any]:
        """A DB instance record with AWS's defaults (the caller checks its input)."""
        now = self.now()
        region = call.region
        az = params.get("AvailabilityZone") or f"{region}a"
        engine = str(extra.pop("engine", None) or "postgres")
        mysql = engine in MYSQL_ENGINES
        version = self._installed(engine)
        family = family_of(engine, version)
        group = f"default.{family}"
        if params.get("DBParameterGroupName"):
            group = self._group_for(call, params["DBParameterGroupName"], family)
        doc: dict[str, Any] = {
            "id": id, "account": call.account, "region": region, "status": "creating",
            "engine": engine, "engine_version": version,
            "class": params["DBInstanceClass"], "storage": params.get("AllocatedStorage", 20),
            "storage_type": params.get("StorageType") or "gp2",
            "master_username": params.get("MasterUsername", ""), "verifier": None,
            "db_name": params.get("DBName"),
            "port": validate.port(params.get("Port"), 3306 if mysql else 5432),
            "retention": validate.retention(params.get("BackupRetentionPeriod")),
            "backup_window": validate.window(params.get("PreferredBackupWindow"),
                                             "PreferredBackupWindow", "03:00-03:30"),
            "maintenance_window": validate.window(
                params.get("PreferredMaintenanceWindow"), "PreferredMaintenanceWindow",
                "sun:05:00-sun:05:30"),
            "multi_az": bool(params.get("MultiAZ", False)),
            "az": az, "secondary_az": f"{region}b" if az.endswith("a") else f"{region}a",
            "parameter_group": group,
            "encrypted": bool(params.get("StorageEncrypted", False)),
            "deletion_protection": bool(params.get("DeletionProtection", False)),
            "copy_tags": bool(params.get("CopyTagsToSnapshot", False)),
            "tags": tagutil.to_dict(params.get("Tags")),
            "created": now, "resource_id": "", "engine_id": engine_id(engine),
            "standby_id": engine_id(engine), "replicas": [], "pending": {},
            "backups": [], "latest_restorable": None, "last_backup": None, "replica_of": None,
        }
        # Its servers get addresses in its DB subnet group's subnets (the
        # default VPC's when none is named), in its zone if the group has it.
        net_group = self.subnet_groups.get(call.account, region,
                                       params.get("DBSubnetGroupName") or "default")
        if net_group is None:
            raise AWSError("DBSubnetGroupNotFoundFault",
                           f"DBSubnetGroup {params.get('DBSubnetGroupName')} not found.", 404)
        doc["subnet_group"] = net_group["name"]
        if params.get("AvailabilityZone") is None:
            doc["az"] = self.subnet_groups.zone_for(net_group, doc["az"]) or doc["az"]
            others = [s["AvailabilityZone"] for s in net_group["subnets"]
                      if s["AvailabilityZone"] != doc["az"]]
            if others:
                doc["secondary_az"] = others[0]
        doc["security_groups"] = self.private.groups(call.account, region,
                                                     params.get("VpcSecurityGroupIds"),
                                                     net_group["vpc_id"] or None)
        doc["resource_id"] = "db-" + secrets.token_hex(13).upper()
        doc["host"] = self.host(call.account, region, id)
        doc.update(extra)
        return doc

    def _check_quota(self, call: Call, more: int) -> None:
        """RDS's account quota: 100,000 GiB of allocated storage in a region."""
        used = sum(int(d["storage"]) for d in self.store.resources.list(
            INSTANCE, call.account, call.region))
        if used + more > STORAGE_QUOTA_GIB:
            raise AWSError("StorageQuotaExceeded",
                           f"The request would exceed the account's allocated storage "
                           f"quota of {STORAGE_QUOTA_GIB} GiB ({used} GiB allocated).")

    def _group_for(self, call: Call, name: Any, family: str) -> str:
        group = self.require_group(call, name)
        if group["family"] != family:
            raise validate.combination(f"The parameter group {group['id']} with "
                                       f"DBParameterGroupFamily {group['family']} can't be "
                                       f"used for this instance. Use a parameter group with "
                                       f"DBParameterGroupFamily {family}.")
        return str(group["id"])

    def _insert(self, call: Call, doc: dict[str, Any]) -> None:
        """Store a new record (one transaction) and wake the loop."""
        with self.store.tx():
            if self.find(call.account, call.region, doc["id"]) is not None:
                raise AWSError("DBInstanceAlreadyExists",
                               f"DB instance already exists: {doc['id']}")
            # On EC2's instance network: an address in the subnet of its zone
            # (instances reach it); otherwise a loopback address of its own.
            group = self.subnet_groups.get(call.account, call.region,
                                           doc.get("subnet_group") or "default")
            doc["address"] = (self.private.allocate(self.owner(doc), call.account,
                                                    call.region, doc["az"],
                                                    self.subnet_groups.subnet_ids(group))
                              or self.env.addresses.allocate(self.owner(doc)))
            shared(self.env).wake()  # (a member of its security groups from now on)
            self.save(doc)
            self.event(call.account, call.region, doc["id"], "db-instance",
                       "DB instance created" if not doc.get("source") else
                       "Restoring DB instance")
        self.wake(call.account, call.region, doc["id"])

    def create_db_instance(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        id = check_identifier(params.get("DBInstanceIdentifier"))
        engine = params.get("Engine")
        if engine != "postgres" and engine not in MYSQL_ENGINES:
            raise validate.invalid(f"Invalid DB engine: {engine}")
        installed = self._installed(engine)
        version = validate.engine_version(params.get("EngineVersion"), installed, engine)
        instance_class(params.get("DBInstanceClass", ""), engine)
        if params.get("AllocatedStorage") is None:
            raise validate.invalid("The parameter AllocatedStorage must be provided and must "
                                   "not be null.")
        validate.storage(params["AllocatedStorage"])
        self._check_quota(call, params["AllocatedStorage"])
        managed = bool(params.get("ManageMasterUserPassword"))
        if managed and params.get("MasterUserPassword"):
            raise validate.combination("Specify MasterUserPassword or "
                                       "ManageMasterUserPassword, not both.")
        if params.get("MasterUsername") is None:
            raise validate.invalid("The parameter MasterUsername must be provided and must "
                                   "not be null.")
        user = validate.master_username(params["MasterUsername"])
        if params.get("MasterUserPassword") is None and not managed:
            raise validate.invalid("The parameter MasterUserPassword must be provided and "
                                   "must not be null.")
        if params.get("DBName") is not None:
            validate.db_name(params["DBName"])
        with self.store.tx():
            if self.find(call.account, call.region, id) is not None:
                raise AWSError("DBInstanceAlreadyExists", f"DB instance already exists: {id}")
            secret = None
            if managed:
                secret, hashed = self.manage_password(call, id, engine, user,
                                                      params.get("MasterUserSecretKmsKeyId"))
            else:
                password = validate.password(params["MasterUserPassword"])
                # MariaDB keeps mysql_native_password hashes, PostgreSQL SCRAM verifiers.
                hashed = native_hash(password) if engine in MYSQL_ENGINES \
                    else verifier(password)
            doc = self.new_record(call, params, id, engine=engine, engine_version=version,
                                  master_username=user, verifier=hashed)
            if secret is not None:
                doc["master_secret"] = secret
            self._insert(call, doc)
        return {"DBInstance": self.render(doc)}

    def describe_db_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("DBInstanceIdentifier")
        if wanted:
            docs = [self.instance(call, wanted)]
        else:
            docs = self.store.resources.list(INSTANCE, call.account, call.region)
        docs = filters.apply(docs, params.get("Filters"), GETTERS)
        docs.sort(key=lambda d: d["id"])
        limit = params.get("MaxRecords")
        if limit is not None and not 20 <= limit <= 100:
            raise validate.invalid("MaxRecords must be between 20 and 100")
        page, marker = pagination.paginate(docs, params.get("Marker"), limit,
                                           key=lambda d: str(d["id"]), default_limit=100)
        out: dict[str, Any] = {"DBInstances": [self.render(d) for d in page]}
        if marker:
            out["Marker"] = marker
        return out

    def _require(self, doc: dict[str, Any], *states: str) -> None:
        if doc["status"] not in states:
            raise AWSError("InvalidDBInstanceState",
                           f"Instance {doc['id']} is not in available state." if states ==
                           ("available",) else
                           f"DB instance {doc['id']} is in state {doc['status']}; the "
                           f"operation needs one of: {', '.join(states)}")

    def modify_db_instance(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.instance(call, params.get("DBInstanceIdentifier"))
            self._require(doc, "available", "stopped", "storage-full")
            pending: dict[str, Any] = dict(doc.get("pending") or {})
            immediate = bool(params.get("ApplyImmediately", False))
            self.modify_managed_password(call, doc, params, pending)
            if params.get("MasterUserPassword") is not None:
                if doc.get("replica_of"):
                    raise validate.combination("The master password of a read replica "
                                               "comes from its source.")
                password = validate.password(params["MasterUserPassword"])
                pending["verifier"] = native_hash(password) \
                    if doc["engine"] in MYSQL_ENGINES else verifier(password)
            if params.get("DBInstanceClass") and params["DBInstanceClass"] != doc["class"]:
                instance_class(params["DBInstanceClass"])
                pending["class"] = params["DBInstanceClass"]
            if params.get("AllocatedStorage") is not None:
                size = validate.storage(params["AllocatedStorage"])
                if size < doc["storage"]:
                    raise validate.invalid("Invalid storage size: you can't shrink the "
                                           "allocated storage.")
                if size != doc["storage"] and size * 10 < doc["storage"] * 11:
                    raise validate.combination("Invalid storage size: the allocated storage "
                                               "must be increased by at least 10 percent.")
                if size != doc["storage"]:
                    self._check_quota(call, size - doc["storage"])
                    pending["storage"] = size
            if params.get("BackupRetentionPeriod") is not None:
                days = validate.retention(params["BackupRetentionPeriod"])
                if doc.get("replica_of") and days:
                    raise validate.combination("A read replica has no automated backups.")
                if days != doc["retention"]:
                    pending["retention"] = days
            if params.get("MultiAZ") is not None and bool(params["MultiAZ"]) != doc["multi_az"]:
                if doc.get("replica_of"):
                    raise validate.combination("A read replica cannot be Multi-AZ here.")
                pending["multi_az"] = bool(params["MultiAZ"])
            if params.get("DBParameterGroupName") and \
                    params["DBParameterGroupName"].lower() != doc["parameter_group"]:
                # AWS: a new group's values take effect at the next reboot.
                doc["parameter_group"] = self._group_for(
                    call, params["DBParameterGroupName"],
                    family_of(doc["engine"], doc["engine_version"]))
                doc["params_new_group"] = True
            if params.get("VpcSecurityGroupIds"):  # (applied at once, as on AWS)
                vpc = self.subnet_groups.get(call.account, call.region,
                                             doc.get("subnet_group") or "default")
                doc["security_groups"] = self.private.groups(
                    call.account, call.region, params["VpcSecurityGroupIds"],
                    (vpc or {}).get("vpc_id") or None)
            if params.get("DeletionProtection") is not None:
                doc["deletion_protection"] = bool(params["DeletionProtection"])
            if params.get("CopyTagsToSnapshot") is not None:
                doc["copy_tags"] = bool(params["CopyTagsToSnapshot"])
            for name, key in (("PreferredBackupWindow", "backup_window"),
                              ("PreferredMaintenanceWindow", "maintenance_window")):
                if params.get(name) is not None:
                    doc[key] = validate.window(params[name], name, doc[key])
            # As on AWS, the password and the retention period are applied at
            # once; class, storage and Multi-AZ wait for the maintenance window
            # unless ApplyImmediately, which also brings forward what waited.
            deferred = dict(doc.get("deferred") or {})
            later = {k: pending.pop(k) for k in DEFERRABLE if k in pending}
            if immediate:
                pending = {**deferred, **later, **pending}
                deferred = {}
            else:
                deferred.update(later)
            doc["pending"], doc["deferred"] = pending, deferred
            if pending and doc["status"] in ("available", "storage-full"):
                doc["status"] = "modifying"
            self.save(doc)
        self.wake(call.account, call.region, doc["id"])
        return {"DBInstance": self.render(doc)}

    def reboot_db_instance(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.instance(call, params.get("DBInstanceIdentifier"))
            self._require(doc, "available")
            force = bool(params.get("ForceFailover", False))
            if force and not doc["multi_az"]:
                raise validate.combination("ForceFailover needs a Multi-AZ DB instance.")
            doc["status"] = "rebooting"
            doc["failover"] = force
            self.save(doc)
        self.wake(call.account, call.region, doc["id"])
        return {"DBInstance": self.render(doc)}

    def stop_db_instance(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.instance(call, params.get("DBInstanceIdentifier"))
            self._require(doc, "available")
            if doc.get("replica_of") or doc.get("replicas"):
                raise AWSError("InvalidDBInstanceState", "A DB instance with read replicas, "
                               "or a read replica, cannot be stopped.")
            snap_id = params.get("DBSnapshotIdentifier")
            if snap_id:
                self.new_snapshot(call, doc, check_identifier(snap_id, "DBSnapshotIdentifier"),
                                  "manual", {})
            doc["status"] = "stopping"
            self.save(doc)
        self.wake(call.account, call.region, doc["id"])
        return {"DBInstance": self.render(doc)}

    def start_db_instance(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.instance(call, params.get("DBInstanceIdentifier"))
            self._require(doc, "stopped")
            doc["status"] = "starting"
            self.save(doc)
        self.wake(call.account, call.region, doc["id"])
        return {"DBInstance": self.render(doc)}

    def delete_db_instance(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.instance(call, params.get("DBInstanceIdentifier"))
            if doc["deletion_protection"]:
                raise validate.invalid("Cannot delete protected DB Instance, please disable "
                                       "deletion protection and try again.")
            if doc["status"] == "deleting":
                raise AWSError("InvalidDBInstanceState",
                               f"Instance {doc['id']} is already being deleted.")
            skip = bool(params.get("SkipFinalSnapshot", False))
            final = params.get("FinalDBSnapshotIdentifier")
            if skip and final:
                raise validate.combination("FinalDBSnapshotIdentifier can not be specified "
                                           "when deleting an instance with SkipFinalSnapshot "
                                           "set to true.")
            if not skip and not final and not doc.get("replica_of"):
                raise validate.combination("FinalDBSnapshotIdentifier is required unless "
                                           "SkipFinalSnapshot is specified.")
            if final and not doc.get("replica_of"):
                final = check_identifier(final, "FinalDBSnapshotIdentifier")
                if doc["status"] not in ("available", "stopped", "backing-up", "modifying"):
                    raise AWSError("InvalidDBInstanceState",
                                   f"Instance {doc['id']} cannot take a final snapshot while "
                                   f"{doc['status']}.")
                if self.store.resources.get(SNAPSHOT, call.account, call.region, final):
                    raise AWSError("DBSnapshotAlreadyExists",
                                   f"Cannot create the snapshot because a snapshot with the "
                                   f"identifier {final} already exists.")
                self.new_snapshot(call, doc, final, "manual", {}, wake=False)
                doc["final_snapshot"] = final
            doc["delete_automated"] = bool(params.get("DeleteAutomatedBackups", True))
            self.drop_managed_secret(doc)
            doc["status"] = "deleting"
            self.save(doc)
            self.event(call.account, call.region, doc["id"], "db-instance",
                       "DB instance deleted" if skip else "Deleting DB instance")
        self.wake(call.account, call.region, doc["id"])
        return {"DBInstance": self.render(doc)}

    def new_snapshot(self, call: Call, doc: dict[str, Any], snap_id: str, kind: str,
                     tags: dict[str, str], wake: bool = True) -> dict[str, Any]:
        raise NotImplementedError  # snapshots.py
