"""Events (what the loops really did) and resource tags."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError
from gureum.services.common import ids, pagination
from gureum.services.common import tags as tagutil

from ..base import Call
from . import validate
from .classes import CLASSES
from .core import EVENT, INSTANCE, PARAMETER_GROUP, SNAPSHOT, RDSCore
from .engines import MYSQL_ENGINES


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp() if hasattr(value, "timestamp") else value)


class MiscOperations(RDSCore):
    def describe_events(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        events = self.store.resources.list(EVENT, call.account, call.region)
        if params.get("SourceIdentifier"):
            if not params.get("SourceType"):
                raise validate.invalid("SourceType is required with SourceIdentifier")
            events = [e for e in events if e["SourceIdentifier"] == params["SourceIdentifier"]]
        if params.get("SourceType"):
            events = [e for e in events if e["SourceType"] == params["SourceType"]]
        start, end = params.get("StartTime"), params.get("EndTime")
        if start is None and params.get("Duration") is not None:
            start = self.now() - 60.0 * params["Duration"]
        if start is None and end is None:
            start = self.now() - 3600.0
        lo, hi = _epoch(start), _epoch(end)
        events = [e for e in events if (lo is None or e["Date"] >= lo)
                  and (hi is None or e["Date"] <= hi)]
        keyed = [(f"{e['Date']:020.6f}|{i:06d}", e) for i, e in enumerate(events)]
        page, marker = pagination.paginate(keyed, params.get("Marker"),
                                           params.get("MaxRecords"), key=lambda k: k[0],
                                           default_limit=100, min_limit=20, max_limit=100)
        out: dict[str, Any] = {"Events": [
            {"SourceIdentifier": e["SourceIdentifier"], "SourceType": e["SourceType"],
             "Message": e["Message"], "Date": e["Date"], "SourceArn": e["SourceArn"],
             "EventCategories": []} for _, e in page]}
        if marker:
            out["Marker"] = marker
        return out

    def describe_db_engine_versions(self, call: Call, params: dict[str, Any]
                                    ) -> dict[str, Any]:
        """What is installed on this host (one version per engine)."""
        versions = []
        mysql = self.driver.installed("mysql") if self.driver is not None else None
        if mysql is not None:
            major = ".".join(mysql.version.split(".")[:2])
            for name in MYSQL_ENGINES:
                versions.append({
                    "Engine": name, "EngineVersion": mysql.version,
                    "DBParameterGroupFamily": f"{name}{major}",
                    "DBEngineDescription": "MariaDB Community Edition",
                    "DBEngineVersionDescription": f"MariaDB {mysql.version}",
                    "MajorEngineVersion": major, "Status": "available",
                    "SupportsReadReplica": True, "SupportedEngineModes": ["provisioned"],
                })
        if self.driver is not None and self.driver.postgres is not None:
            version = self.driver.version
            major = version.split(".")[0]
            versions.append({
                "Engine": "postgres", "EngineVersion": version,
                "DBParameterGroupFamily": f"postgres{major}",
                "DBEngineDescription": "PostgreSQL",
                "DBEngineVersionDescription": f"PostgreSQL {version}",
                "MajorEngineVersion": major, "Status": "available",
                "SupportsReadReplica": True, "SupportedEngineModes": ["provisioned"],
            })
        engine, wanted = params.get("Engine"), params.get("EngineVersion")
        versions = [v for v in versions if (not engine or v["Engine"] == engine) and (
            not wanted or v["EngineVersion"] == wanted or v["MajorEngineVersion"] == wanted)]
        return {"DBEngineVersions": versions}

    def describe_orderable_db_instance_options(self, call: Call, params: dict[str, Any]
                                               ) -> dict[str, Any]:
        """Every instance class for the installed version of ``Engine``."""
        engine = params.get("Engine")
        driver = self.driver.installed(engine) if self.driver is not None and \
            isinstance(engine, str) else None
        if engine not in ("postgres", *MYSQL_ENGINES):
            raise validate.invalid(f"Invalid DB engine: {engine}")
        options: list[dict[str, Any]] = []
        version = driver.version if driver is not None else ""
        wanted = params.get("EngineVersion")
        if driver is not None and (not wanted or wanted == version or
                                   version.startswith(f"{wanted}.")):
            license = "general-public-license" if engine in MYSQL_ENGINES \
                else "postgresql-license"
            zones = [{"Name": f"{call.region}{z}"} for z in "abc"]
            for name in sorted(CLASSES):
                if params.get("DBInstanceClass") not in (None, "", name):
                    continue
                options.append({
                    "Engine": engine, "EngineVersion": version, "DBInstanceClass": name,
                    "LicenseModel": license, "AvailabilityZones": zones,
                    "MultiAZCapable": True, "ReadReplicaCapable": True, "Vpc": True,
                    "SupportsStorageEncryption": True, "StorageType": "gp2",
                    "SupportsIops": False, "MinStorageSize": 20, "MaxStorageSize": 65536,
                    "SupportedEngineModes": ["provisioned"],
                    "SupportsStorageAutoscaling": False, "SupportsClusters": False,
                    "SupportedNetworkTypes": ["IPV4"]})
        page, marker = pagination.paginate(options, params.get("Marker"),
                                           params.get("MaxRecords"),
                                           key=lambda o: str(o["DBInstanceClass"]),
                                           default_limit=100, min_limit=20, max_limit=1000)
        out: dict[str, Any] = {"OrderableDBInstanceOptions": page}
        if marker:
            out["Marker"] = marker
        return out

    def _tagged(self, call: Call, arn: Any) -> tuple[str, dict[str, Any]]:
        parts = ids.parse_arn(arn) if isinstance(arn, str) else None
        if parts is None or parts["service"] != "rds" or ":" not in parts["resource"]:
            raise validate.invalid(f"Invalid resource name: {arn}")
        kind, name = parts["resource"].split(":", 1)
        store_kind = {"db": INSTANCE, "snapshot": SNAPSHOT, "pg": PARAMETER_GROUP}.get(kind)
        doc = None if store_kind is None else self.store.resources.get(
            store_kind, call.account, call.region, name)
        if doc is None or store_kind is None:
            code = {"snapshot": "DBSnapshotNotFound",
                    "pg": "DBParameterGroupNotFound"}.get(kind, "DBInstanceNotFound")
            raise AWSError(code, f"{name} not found.", 404)
        return store_kind, doc

    def list_tags_for_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        _, doc = self._tagged(call, params.get("ResourceName"))
        return {"TagList": tagutil.to_list(doc.get("tags"))}

    def add_tags_to_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            kind, doc = self._tagged(call, params.get("ResourceName"))
            doc["tags"] = tagutil.merge(doc.get("tags") or {},
                                        tagutil.to_dict(params.get("Tags")))
            self.store.resources.put(kind, call.account, call.region, doc["id"], doc)
        return {}

    def remove_tags_from_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            kind, doc = self._tagged(call, params.get("ResourceName"))
            for key in params.get("TagKeys") or []:
                (doc.get("tags") or {}).pop(key, None)
            self.store.resources.put(kind, call.account, call.region, doc["id"], doc)
        return {}
