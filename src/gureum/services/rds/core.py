"""What every RDS module shares: store kinds, the engine driver, names and
addresses of endpoints, reading records with AWS's errors, and rendering
records in AWS's output shapes.

An instance record (kind ``rds:instance``) holds what the user asked for and
what the loop has done: ``status``, the engines it runs (``engine_id``, and
``standby_id`` for Multi-AZ), its endpoint (``address``, ``host``, ``port``)
and its backups. The master password is kept only as a SCRAM verifier.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from pathlib import Path
from typing import Any

from gureum.drivers.postgres import EngineSpec, PostgresDriver
from gureum.errors import AWSError
from gureum.services.common import ids
from gureum.services.common import tags as tagutil

from ..base import Call, Env, Service
from ..common.private import PrivateAddresses
from ..common.subnetgroups import SubnetGroups
from .classes import instance_class
from .engines import MYSQL_ENGINES, Engines
from .parameters import catalog, family_of, static_values

INSTANCE = "rds:instance"
SNAPSHOT = "rds:snapshot"
AUTOMATED = "rds:automated-backup"
PARAMETER_GROUP = "rds:parameter-group"
EVENT = "rds:event"
SUBNET_GROUP = "rds:subnet-group"
LOOP = "rds-instances"
SNAPSHOT_LOOP = "rds-snapshots"
DRIVER_KEY = "rds.postgres"  # Env.extras: a PostgresDriver to use instead of the host's
MYSQL_DRIVER_KEY = "rds.mysql"  # Env.extras: a MariaDB driver to use instead of the host's
HOSTED_ZONE = "Z2R2ITUGPM61AM"
_NAME = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}")


def make_driver(env: Env) -> Engines | None:
    """Every installed engine behind one driver (None: no engine is installed)."""
    from gureum.drivers.postgres import EngineError, PostgresServers

    root = Path(env.settings.data_dir) / "rds"
    postgres: PostgresDriver | None = env.extras.get(DRIVER_KEY)
    mysql: Any = env.extras.get(MYSQL_DRIVER_KEY)
    if postgres is None:
        try:
            postgres = PostgresServers(root / "engines")
        except (EngineError, KeyError, OSError):
            postgres = None  # not installed: CreateDBInstance says so
    if mysql is None and DRIVER_KEY not in env.extras:
        from gureum.drivers.mysql import MariaDBServers

        try:
            mysql = MariaDBServers(root / "mysql")
        except (EngineError, KeyError, OSError):
            mysql = None
    if postgres is None and mysql is None:
        return None
    return Engines(postgres, mysql)


def check_identifier(value: Any, what: str = "DBInstanceIdentifier") -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value.endswith("-"):
        raise AWSError(
            "InvalidParameterValue",
            f"The parameter {what} is not a valid identifier. Identifiers must begin with a "
            f"letter; must contain only ASCII letters, digits, and hyphens; and must not end "
            f"with a hyphen or contain two consecutive hyphens.")
    return value.lower()


def loop_key(account: str, region: str, id: str) -> str:
    return f"{account}|{region}|{id}"


def resource_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "db-" + "".join(secrets.choice(alphabet) for _ in range(26))


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class RDSCore(Service):
    """State and helpers of the RDS service; operations live in mixins."""

    kinds = (INSTANCE, SNAPSHOT, AUTOMATED, EVENT, PARAMETER_GROUP, SUBNET_GROUP)

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.driver: Engines | None = make_driver(env)
        self.root = Path(env.settings.data_dir) / "rds"
        self.private = PrivateAddresses(env, "rds")
        self.subnet_groups = SubnetGroups(env, SUBNET_GROUP)

    @property
    def store(self) -> Any:
        return self.env.store

    def now(self) -> float:
        now: float = self.env.clock.now()
        return now

    def wake(self, account: str, region: str, id: str, after: float = 0.0) -> None:
        if LOOP in self.env.loops:
            self.env.loops.wake(LOOP, loop_key(account, region, id), after=after)

    def wake_snapshot(self, account: str, region: str, id: str) -> None:
        if SNAPSHOT_LOOP in self.env.loops:
            self.env.loops.wake(SNAPSHOT_LOOP, loop_key(account, region, id))

    # -- records ----------------------------------------------------------

    def find(self, account: str, region: str, id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = self.store.resources.get(INSTANCE, account, region,
                                                               id.lower())
        return doc

    def instance(self, call: Call, id: Any) -> dict[str, Any]:
        if not isinstance(id, str) or not id:
            raise AWSError("InvalidParameterValue", "DBInstanceIdentifier is required")
        doc = self.find(call.account, call.region, id)
        if doc is None:
            raise AWSError("DBInstanceNotFound", f"DBInstance {id} not found.", 404)
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        from .metering import note  # (imports this module)

        note(doc, self.now())
        self.store.resources.put(INSTANCE, doc["account"], doc["region"], doc["id"], doc)

    def snapshot(self, call: Call, id: Any) -> dict[str, Any]:
        doc: dict[str, Any] | None = None
        if isinstance(id, str) and id:
            doc = self.store.resources.get(SNAPSHOT, call.account, call.region, id.lower())
        if doc is None:
            raise AWSError("DBSnapshotNotFound", f"DBSnapshot {id} not found.", 404)
        return doc

    def parameter_group(self, account: str, region: str, name: str
                        ) -> dict[str, Any] | None:
        """A parameter group's record; the default groups are built on the fly."""
        name = name.lower()
        if name.startswith("default."):
            family = name[len("default."):]
            if self.driver is None or family not in self._installed_families():
                return None
            return {"id": name, "family": family, "default": True, "values": {},
                    "methods": {}, "version": 0, "account": account, "region": region,
                    "description": f"Default parameter group for {family}"}
        doc: dict[str, Any] | None = self.store.resources.get(PARAMETER_GROUP, account,
                                                               region, name)
        return doc

    def _installed_families(self) -> list[str]:
        out: list[str] = []
        if self.driver is not None and self.driver.postgres is not None:
            out.append(family_of("postgres", self.driver.postgres.version))
        if self.driver is not None and self.driver.mysql is not None:
            out += [family_of(e, self.driver.mysql.version) for e in MYSQL_ENGINES]
        return out

    def require_group(self, call: Call, name: Any) -> dict[str, Any]:
        doc = self.parameter_group(call.account, call.region, name) \
            if isinstance(name, str) and name else None
        if doc is None:
            raise AWSError("DBParameterGroupNotFound", f"DBParameterGroup not found: {name}",
                           404)
        return doc

    def group_values(self, doc: dict[str, Any]) -> tuple[dict[str, str], int, str]:
        """The instance's parameter group: its user values, version and family."""
        group = self.parameter_group(doc["account"], doc["region"], doc["parameter_group"])
        if group is None:
            return {}, 0, ""
        return dict(group["values"]), int(group.get("version", 0)), str(group["family"])

    def apply_status(self, doc: dict[str, Any]) -> str:
        """in-sync, applying (dynamic values not yet applied) or pending-reboot
        (static values, or a new group, wait for a restart)."""
        values, version, family = self.group_values(doc)
        if doc.get("params_new_group"):
            return "pending-reboot"
        if doc.get("params_version", 0) != version:
            return "applying"
        if static_values(family, values) != (doc.get("params_static") or {}):
            return "pending-reboot"
        return "in-sync"

    def event(self, account: str, region: str, source: str, kind: str, message: str) -> None:
        """Record an event (DescribeEvents); call inside a transaction."""
        now = self.now()
        eid = f"{now:020.6f}-{secrets.token_hex(4)}"
        self.store.resources.put(EVENT, account, region, eid, {
            "SourceIdentifier": source, "SourceType": kind, "Message": message,
            "Date": now, "SourceArn": self.arn(account, region, kind, source)})

    @staticmethod
    def arn(account: str, region: str, kind: str, id: str) -> str:
        resource = {"db-instance": "db", "db-snapshot": "snapshot",
                    "db-parameter-group": "pg"}.get(kind, kind)
        return ids.arn("rds", region, account, f"{resource}:{id}")

    # -- endpoints and engines -------------------------------------------

    def host(self, account: str, region: str, id: str) -> str:
        salt = self.env.name_salt
        suffix = "c" + hashlib.sha256(f"{account}/{region}/{salt}".encode()).hexdigest()[:11]
        return f"{id}.{suffix}.{region}.rds.localhost"

    def owner(self, doc: dict[str, Any]) -> str:
        return f"rds/{doc['account']}/{doc['region']}/{doc['id']}/{doc['resource_id']}"

    def archive_dir(self, resource: str) -> Path:
        return self.root / "archive" / resource

    def backups_dir(self, resource: str) -> Path:
        return self.root / "backups" / resource

    def snapshot_dir(self, account: str, region: str, id: str) -> Path:
        return self.root / "snapshots" / account / region / id

    def spec(self, doc: dict[str, Any], *, standby: bool = False) -> EngineSpec:
        kind = instance_class(doc["class"])
        settings = kind.settings()
        archive = None
        if doc["retention"] > 0 and not doc.get("replica_of"):
            archive = self.archive_dir(doc["resource_id"])
        values, _, family = self.group_values(doc)
        known = catalog(family) if family else {}
        params = {k: v for k, v in values.items() if k in known}
        cpus, memory = float(kind.vcpus), kind.memory
        if standby:  # (on an address of its own only where instances live on a network)
            return EngineSpec(doc["standby_id"], doc.get("standby_address") or "", doc["port"],
                              settings, archive, params, cpus, memory)
        return EngineSpec(doc["engine_id"], doc["address"], doc["port"], settings, archive,
                          params, cpus, memory)

    # -- rendering --------------------------------------------------------

    def render(self, doc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "DBInstanceIdentifier": doc["id"],
            "DBInstanceClass": doc["class"],
            "Engine": doc["engine"],
            "DBInstanceStatus": doc["status"],
            "MasterUsername": doc["master_username"],
            "AllocatedStorage": doc["storage"],
            "InstanceCreateTime": doc["created"],
            "PreferredBackupWindow": doc["backup_window"],
            "BackupRetentionPeriod": doc["retention"],
            "DBSecurityGroups": [],
            "VpcSecurityGroups": [{"VpcSecurityGroupId": g, "Status": "active"}
                                  for g in doc.get("security_groups") or []],
            "DBParameterGroups": [{"DBParameterGroupName": doc["parameter_group"],
                                   "ParameterApplyStatus": self.apply_status(doc)}],
            "AvailabilityZone": doc["az"],
            "PreferredMaintenanceWindow": doc["maintenance_window"],
            "PendingModifiedValues": self.pending_values(doc),
            "MultiAZ": doc["multi_az"],
            "EngineVersion": doc["engine_version"],
            "AutoMinorVersionUpgrade": True,
            "ReadReplicaDBInstanceIdentifiers": list(doc.get("replicas", [])),
            "LicenseModel": "general-public-license" if doc["engine"] in MYSQL_ENGINES
            else "postgresql-license",
            "PubliclyAccessible": False,
            "StorageType": doc.get("storage_type", "gp2"),
            "DbInstancePort": 0,
            "StorageEncrypted": doc["encrypted"],
            "DbiResourceId": doc["resource_id"],
            "DomainMemberships": [],
            "CopyTagsToSnapshot": doc["copy_tags"],
            "MonitoringInterval": 0,
            "DBInstanceArn": self.arn(doc["account"], doc["region"], "db-instance", doc["id"]),
            "IAMDatabaseAuthenticationEnabled": False,
            "PerformanceInsightsEnabled": False,
            "DeletionProtection": doc["deletion_protection"],
            "TagList": tagutil.to_list(doc.get("tags")),
            "CustomerOwnedIpEnabled": False,
            "BackupTarget": "region",
            "NetworkType": "IPV4",
        }
        if doc.get("db_name"):
            out["DBName"] = doc["db_name"]
        group = self.subnet_groups.get(doc["account"], doc["region"],
                                       doc.get("subnet_group") or "default")
        if group is not None and group["vpc_id"]:
            from .subnetgroups import render_group  # (imports this module)

            # (its servers' addresses are in these subnets: see common.private)
            out["DBSubnetGroup"] = render_group(group, doc["account"], doc["region"])
        if doc["status"] != "creating" or doc.get("endpoint_ready"):
            out["Endpoint"] = {"Address": doc["host"], "Port": doc["port"],
                               "HostedZoneId": HOSTED_ZONE}
        if doc.get("latest_restorable") and doc["retention"] > 0:
            out["LatestRestorableTime"] = doc["latest_restorable"]
        if doc.get("replica_of"):
            out["ReadReplicaSourceDBInstanceIdentifier"] = doc["replica_of"]
        if doc["multi_az"]:
            out["SecondaryAvailabilityZone"] = doc["secondary_az"]
        if doc.get("master_secret"):
            out["MasterUserSecret"] = {"SecretArn": doc["master_secret"]["arn"],
                                       "SecretStatus": "active",
                                       "KmsKeyId": doc["master_secret"]["kms"]}
        return out

    def pending_values(self, doc: dict[str, Any]) -> dict[str, Any]:
        pending = {**(doc.get("deferred") or {}), **(doc.get("pending") or {})}
        out: dict[str, Any] = {}
        if "class" in pending:
            out["DBInstanceClass"] = pending["class"]
        if "verifier" in pending:
            out["MasterUserPassword"] = "****"
        if "retention" in pending:
            out["BackupRetentionPeriod"] = pending["retention"]
        if "multi_az" in pending:
            out["MultiAZ"] = pending["multi_az"]
        if "storage" in pending:
            out["AllocatedStorage"] = pending["storage"]
        return out
