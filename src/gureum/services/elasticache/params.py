"""Cache parameter groups (family ``redis7``): named sets of Redis settings.

The default groups ``default.redis7`` and ``default.redis7.cluster.on`` exist
in every region and cannot be changed. A node's effective settings are its
group's values (its replication group's, for a member); the node loop passes
the ones that differ from the defaults on the ``redis-server`` command line
and applies changes live with ``CONFIG SET``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gureum.errors import AWSError
from gureum.services.common import tags as tagging
from gureum.services.common.pagination import paginate

from ..base import Call
from .core import GROUP, NODE, PARAMETER_GROUP, ElastiCacheCore, check_id

FAMILY = "redis7"
DEFAULT_GROUPS = ("default.redis7", "default.redis7.cluster.on")
POLICIES = ("volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu", "volatile-random",
            "allkeys-random", "volatile-ttl", "noeviction")


def _integer(low: int, high: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return low <= int(value) <= high
        except ValueError:
            return False
    return check


def _choice(*values: str) -> Callable[[str], bool]:
    return lambda value: value in values


def _keyspace_events(value: str) -> bool:
    return all(c in "KEg$lshzxeAtmdn" for c in value)


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str
    data_type: str
    allowed: str
    description: str
    valid: Callable[[str], bool]
    modifiable: bool = True
    live: bool = True  # applied to the nodes with CONFIG SET

    def render(self, value: str, source: str) -> dict[str, Any]:
        return {"ParameterName": self.name, "ParameterValue": value,
                "Description": self.description, "Source": source,
                "DataType": self.data_type, "AllowedValues": self.allowed,
                "IsModifiable": self.modifiable, "MinimumEngineVersion": "7.0.0",
                "ChangeType": "immediate" if self.live else "requires-reboot"}


PARAMETERS: dict[str, Parameter] = {p.name: p for p in (
    Parameter("maxmemory-policy", "volatile-lru", "string", ",".join(POLICIES),
              "How Redis selects what to remove when maxmemory is reached.",
              _choice(*POLICIES)),
    Parameter("maxmemory-samples", "3", "integer", "1-", "Keys sampled by the LRU, LFU and "
              "TTL eviction algorithms.", _integer(1, 64)),
    Parameter("lfu-log-factor", "10", "integer", "1-", "The logarithmic factor of the LFU "
              "counter.", _integer(1, 1_000_000)),
    Parameter("lfu-decay-time", "1", "integer", "0-", "Minutes to decrement the LFU counter.",
              _integer(0, 1_000_000)),
    Parameter("timeout", "0", "integer", "0,20-", "Close a connection after this many idle "
              "seconds (0: never).", lambda v: v == "0" or _integer(20, 2**31 - 1)(v)),
    Parameter("tcp-keepalive", "300", "integer", "0-", "TCP keepalive period, seconds.",
              _integer(0, 2**31 - 1)),
    Parameter("notify-keyspace-events", "", "string", "",
              "The keyspace events Redis notifies Pub/Sub clients about.", _keyspace_events),
    Parameter("slowlog-log-slower-than", "10000", "integer", "-", "Microseconds a command "
              "must take to be logged in the slow log.", _integer(-1, 2**31 - 1)),
    Parameter("slowlog-max-len", "128", "integer", "0-", "The length of the slow log.",
              _integer(0, 2**31 - 1)),
    Parameter("maxclients", "65000", "integer", "1-65000", "The most clients connected at "
              "once.", _integer(1, 65000), modifiable=False, live=False),
    Parameter("cluster-enabled", "no", "string", "yes,no", "Whether cluster mode is on.",
              _choice("yes", "no"), modifiable=False, live=False),
)}


def defaults(name: str) -> dict[str, str]:
    values = {p.name: p.default for p in PARAMETERS.values()}
    if name.endswith(".cluster.on"):
        values["cluster-enabled"] = "yes"
    return values


def find(store: Any, account: str, region: str, name: str) -> dict[str, Any] | None:
    """A parameter group's record (the default groups are built on the fly)."""
    if name in DEFAULT_GROUPS:
        return {"id": name, "family": FAMILY, "description": f"Default parameter group for "
                f"{FAMILY}", "values": {}, "default": True}
    found: dict[str, Any] | None = store.resources.get(PARAMETER_GROUP, account, region, name)
    return found


def require(store: Any, account: str, region: str, name: object) -> dict[str, Any]:
    doc = find(store, account, region, str(name)) if name else None
    if doc is None:
        raise AWSError("CacheParameterGroupNotFound", f"CacheParameterGroup {name} not found.",
                       404)
    return doc


def effective(store: Any, account: str, region: str, name: str) -> dict[str, str]:
    """The live settings of a group that differ from Redis's defaults here."""
    doc = find(store, account, region, name)
    if doc is None:
        return {}
    return {k: v for k, v in doc["values"].items()
            if k in PARAMETERS and PARAMETERS[k].live and v != PARAMETERS[k].default}


class ParameterGroupOperations(ElastiCacheCore):
    def _group_arn(self, call: Call, name: str) -> str:
        return self.arn(call, f"parametergroup:{name}")

    def _render_group(self, call: Call, doc: dict[str, Any]) -> dict[str, Any]:
        return {"CacheParameterGroupName": doc["id"], "CacheParameterGroupFamily": doc["family"],
                "Description": doc["description"], "IsGlobal": False,
                "ARN": self._group_arn(call, doc["id"])}

    def _user_group(self, call: Call, name: object) -> dict[str, Any]:
        doc = require(self.store, call.account, call.region, name)
        if doc.get("default"):
            raise AWSError("InvalidCacheParameterGroupState",
                           f"Default parameter group {name} cannot be modified or deleted.")
        return doc

    def _wake_users(self, account: str, region: str, name: str) -> None:
        groups = {g["id"] for g in self.store.resources.list(GROUP, account, region)
                  if g.get("parameter_group") == name}
        for node in self.store.resources.list(NODE, account, region):
            if node.get("parameter_group") == name or node.get("group") in groups:
                self.wake_node(account, region, node["id"])

    def create_cache_parameter_group(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        name = check_id(params.get("CacheParameterGroupName"), "CacheParameterGroupName", 255)
        family = params.get("CacheParameterGroupFamily")
        if family != FAMILY:
            raise AWSError("InvalidParameterValue",
                           f"Invalid CacheParameterGroupFamily: {family}. Supported: {FAMILY}")
        if not params.get("Description"):
            raise AWSError("InvalidParameterValue", "The parameter Description must be provided")
        with self.store.tx():
            if find(self.store, call.account, call.region, name) is not None:
                raise AWSError("CacheParameterGroupAlreadyExists",
                               f"Parameter group {name} already exists.")
            doc: dict[str, Any] = {
                "id": name, "account": call.account, "region": call.region, "family": family,
                "description": params["Description"], "values": defaults(name),
                "user": [], "tags": tagging.to_dict(params.get("Tags")),
            }
            self.store.resources.put(PARAMETER_GROUP, call.account, call.region, name, doc)
        return {"CacheParameterGroup": self._render_group(call, doc)}

    def describe_cache_parameter_groups(self, call: Call, params: dict[str, Any]
                                        ) -> dict[str, Any]:
        if params.get("CacheParameterGroupName"):
            docs = [require(self.store, call.account, call.region,
                            params["CacheParameterGroupName"])]
        else:
            docs = [find(self.store, call.account, call.region, n) or {}
                    for n in DEFAULT_GROUPS]
            docs += self.store.resources.list(PARAMETER_GROUP, call.account, call.region)
        docs.sort(key=lambda d: d["id"])
        page, marker = paginate(docs, params.get("Marker"), params.get("MaxRecords"),
                                key=lambda d: d["id"], default_limit=100, max_limit=100,
                                min_limit=20)
        out: dict[str, Any] = {"CacheParameterGroups": [self._render_group(call, d)
                                                        for d in page]}
        if marker:
            out["Marker"] = marker
        return out

    def _parameters(self, params: dict[str, Any], values: dict[str, str], user: list[str],
                    source: str | None) -> tuple[list[dict[str, Any]], str | None]:
        rows = [PARAMETERS[n].render(values.get(n, PARAMETERS[n].default),
                                     "user" if n in user else "system")
                for n in sorted(PARAMETERS)]
        if source:
            rows = [r for r in rows if r["Source"] == source]
        return paginate(rows, params.get("Marker"), params.get("MaxRecords"),
                        key=lambda r: r["ParameterName"], default_limit=100, max_limit=100,
                        min_limit=20)

    def describe_cache_parameters(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = require(self.store, call.account, call.region, params.get("CacheParameterGroupName"))
        values = {**defaults(doc["id"]), **doc["values"]}
        page, marker = self._parameters(params, values, doc.get("user", []),
                                        params.get("Source"))
        out: dict[str, Any] = {"Parameters": page, "CacheNodeTypeSpecificParameters": []}
        if marker:
            out["Marker"] = marker
        return out

    def describe_engine_default_parameters(self, call: Call, params: dict[str, Any]
                                           ) -> dict[str, Any]:
        family = params.get("CacheParameterGroupFamily")
        if family != FAMILY:
            raise AWSError("InvalidParameterValue",
                           f"Invalid CacheParameterGroupFamily: {family}. Supported: {FAMILY}")
        page, marker = self._parameters(params, defaults(""), [], None)
        out: dict[str, Any] = {"CacheParameterGroupFamily": FAMILY, "Parameters": page,
                               "CacheNodeTypeSpecificParameters": []}
        if marker:
            out["Marker"] = marker
        return {"EngineDefaults": out}

    def modify_cache_parameter_group(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        pairs = params.get("ParameterNameValues") or []
        if not pairs:
            raise AWSError("InvalidParameterValue", "ParameterNameValues must be provided")
        with self.store.tx():
            doc = self._user_group(call, params.get("CacheParameterGroupName"))
            for pair in pairs:
                name, value = pair.get("ParameterName"), pair.get("ParameterValue")
                spec = PARAMETERS.get(str(name))
                if spec is None:
                    raise AWSError("InvalidParameterValue", f"Unknown parameter: {name}")
                if not spec.modifiable:
                    raise AWSError("InvalidParameterValue",
                                   f"Parameter {name} is not modifiable.")
                if value is None or not spec.valid(str(value)):
                    raise AWSError("InvalidParameterValue", f"Invalid value for parameter "
                                   f"{name}: {value}. Allowed values: {spec.allowed}")
                doc["values"][spec.name] = str(value)
                if spec.name not in doc["user"]:
                    doc["user"].append(spec.name)
            self.store.resources.put(PARAMETER_GROUP, call.account, call.region, doc["id"], doc)
        self._wake_users(call.account, call.region, doc["id"])
        return {"CacheParameterGroupName": doc["id"]}

    def reset_cache_parameter_group(self, call: Call, params: dict[str, Any]
                                    ) -> dict[str, Any]:
        pairs = params.get("ParameterNameValues") or []
        reset_all = bool(params.get("ResetAllParameters"))
        if not reset_all and not pairs:
            raise AWSError("InvalidParameterCombination",
                           "Either ResetAllParameters or ParameterNameValues is required")
        with self.store.tx():
            doc = self._user_group(call, params.get("CacheParameterGroupName"))
            base = defaults(doc["id"])
            names = list(PARAMETERS) if reset_all else [p.get("ParameterName") for p in pairs]
            for name in names:
                if name not in PARAMETERS:
                    raise AWSError("InvalidParameterValue", f"Unknown parameter: {name}")
                doc["values"][name] = base[str(name)]
                if name in doc["user"]:
                    doc["user"].remove(name)
            self.store.resources.put(PARAMETER_GROUP, call.account, call.region, doc["id"], doc)
        self._wake_users(call.account, call.region, doc["id"])
        return {"CacheParameterGroupName": doc["id"]}

    def delete_cache_parameter_group(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        with self.store.tx():
            doc = self._user_group(call, params.get("CacheParameterGroupName"))
            users = [d["id"] for kind in (NODE, GROUP)
                     for d in self.store.resources.list(kind, call.account, call.region)
                     if d.get("parameter_group") == doc["id"]]
            if users:
                raise AWSError("InvalidCacheParameterGroupState",
                               f"Parameter group {doc['id']} is in use by {users[0]}.")
            self.store.resources.delete(PARAMETER_GROUP, call.account, call.region, doc["id"])
        return {}
