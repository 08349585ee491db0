"""DB parameter groups: named sets of engine settings (see ``parameters.py``
for what each family knows).

``default.<family>`` exists for every installed family and cannot be changed
or deleted. A group record keeps the user's values and a ``version`` that
every change bumps; the instance loop applies a newer version's dynamic
parameters live (PostgreSQL reloads its configuration, MariaDB takes
``SET GLOBAL``), while static ones wait for the next restart: until then the
instance's ``ParameterApplyStatus`` is ``pending-reboot``.
"""

from __future__ import annotations

import re
from typing import Any

from gureum.errors import AWSError
from gureum.services.common import filters, pagination
from gureum.services.common import tags as tagutil

from ..base import Call
from . import validate
from .core import INSTANCE, PARAMETER_GROUP, RDSCore
from .parameters import catalog

_GROUP_NAME = re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9.-]{0,254}")

GROUP_GETTERS: dict[str, filters.Getter] = {
    "db-parameter-group-family": filters.field("family"),
}


class ParameterGroupOperations(RDSCore):
    def families(self) -> list[str]:
        """The families of the installed engines."""
        return self._installed_families()

    def _family(self, value: Any) -> str:
        if value not in self.families():
            raise validate.invalid(f"DBParameterGroupFamily {value} is not a valid family "
                                   f"here (installed: {', '.join(self.families())})")
        return str(value)

    def _all_groups(self, call: Call) -> list[dict[str, Any]]:
        docs = [self.parameter_group(call.account, call.region, f"default.{f}") or {}
                for f in self.families()]
        docs += self.store.resources.list(PARAMETER_GROUP, call.account, call.region)
        return sorted(docs, key=lambda d: str(d["id"]))

    def _user_group(self, call: Call, name: Any) -> dict[str, Any]:
        doc = self.require_group(call, name)
        if doc.get("default"):
            raise validate.invalid("Cannot modify a default parameter group.")
        return doc

    def _render_group(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {"DBParameterGroupName": doc["id"], "DBParameterGroupFamily": doc["family"],
                "Description": doc["description"],
                "DBParameterGroupArn": self.arn(doc["account"], doc["region"], "pg",
                                                doc["id"])}

    def _wake_users(self, call: Call, name: str) -> None:
        for doc in self.store.resources.list(INSTANCE, call.account, call.region):
            if doc.get("parameter_group") == name:
                self.wake(call.account, call.region, doc["id"])

    # -- operations -------------------------------------------------------

    def create_db_parameter_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("DBParameterGroupName")
        if not isinstance(name, str) or not _GROUP_NAME.fullmatch(name) or \
                name.endswith("-"):
            raise validate.invalid("The parameter DBParameterGroupName is not a valid "
                                   "identifier. Identifiers must begin with a letter; must "
                                   "contain only ASCII letters, digits, and hyphens; and must "
                                   "not end with a hyphen or contain two consecutive hyphens.")
        name = name.lower()
        family = self._family(params.get("DBParameterGroupFamily"))
        if not params.get("Description"):
            raise validate.invalid("The parameter Description must be provided and must not "
                                   "be blank.")
        with self.store.tx():
            if self.parameter_group(call.account, call.region, name) is not None:
                raise AWSError("DBParameterGroupAlreadyExists",
                               f"Parameter group {name} already exists")
            doc: dict[str, Any] = {
                "id": name, "account": call.account, "region": call.region,
                "family": family, "description": params["Description"], "values": {},
                "methods": {}, "version": 0, "tags": tagutil.to_dict(params.get("Tags"))}
            self.store.resources.put(PARAMETER_GROUP, call.account, call.region, name, doc)
        return {"DBParameterGroup": self._render_group(doc)}

    def describe_db_parameter_groups(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        if params.get("DBParameterGroupName"):
            docs = [self.require_group(call, params["DBParameterGroupName"])]
        else:
            docs = self._all_groups(call)
        docs = filters.apply(docs, params.get("Filters"), GROUP_GETTERS)
        page, marker = pagination.paginate(docs, params.get("Marker"), params.get("MaxRecords"),
                                           key=lambda d: str(d["id"]), default_limit=100,
                                           min_limit=20, max_limit=100)
        out: dict[str, Any] = {"DBParameterGroups": [self._render_group(d) for d in page]}
        if marker:
            out["Marker"] = marker
        return out

    def _rows(self, family: str, values: dict[str, str], methods: dict[str, str],
              params: dict[str, Any]) -> dict[str, Any]:
        rows = [p.render(values.get(n), n in values, methods.get(n))
                for n, p in sorted(catalog(family).items())]
        source = params.get("Source")
        if source:
            if source not in ("user", "system", "engine-default"):
                raise validate.invalid(f"Invalid Source: {source}")
            rows = [r for r in rows if r["Source"] == source]
        page, marker = pagination.paginate(rows, params.get("Marker"), params.get("MaxRecords"),
                                           key=lambda r: str(r["ParameterName"]),
                                           default_limit=100, min_limit=20, max_limit=100)
        out: dict[str, Any] = {"Parameters": page}
        if marker:
            out["Marker"] = marker
        return out

    def describe_db_parameters(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.require_group(call, params.get("DBParameterGroupName"))
        return self._rows(doc["family"], doc["values"], doc.get("methods", {}), params)

    def describe_engine_default_parameters(self, call: Call, params: dict[str, Any]
                                           ) -> dict[str, Any]:
        family = self._family(params.get("DBParameterGroupFamily"))
        rows = self._rows(family, {}, {}, params)
        return {"EngineDefaults": {"DBParameterGroupFamily": family, **rows}}

    def modify_db_parameter_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        pairs = params.get("Parameters") or []
        if not pairs:
            raise validate.invalid("The parameter Parameters must be provided and must not be "
                                   "empty.")
        if len(pairs) > 20:
            raise validate.invalid("A maximum of 20 parameters can be modified in a single "
                                   "request.")
        with self.store.tx():
            doc = self._user_group(call, params.get("DBParameterGroupName"))
            known = catalog(doc["family"])
            for pair in pairs:
                name, value = pair.get("ParameterName"), pair.get("ParameterValue")
                method = pair.get("ApplyMethod")
                spec = known.get(str(name))
                if spec is None:
                    raise validate.invalid(f"Could not find parameter with name: {name}")
                if not spec.modifiable:
                    raise validate.invalid(f"The parameter {name} cannot be modified.")
                if method not in ("immediate", "pending-reboot"):
                    raise validate.invalid(f"Invalid ApplyMethod for parameter {name}: "
                                           f"{method}; use immediate or pending-reboot")
                if method == "immediate" and spec.apply_type == "static":
                    raise validate.combination("cannot use immediate apply method for static "
                                               f"parameter {name}")
                if value is None or not spec.valid(str(value)):
                    raise validate.invalid(f"Value: {value} is outside of range: "
                                           f"{spec.allowed} for parameter: {name}")
                doc["values"][spec.name] = str(value)
                doc.setdefault("methods", {})[spec.name] = method
            doc["version"] = int(doc.get("version", 0)) + 1
            self.store.resources.put(PARAMETER_GROUP, call.account, call.region, doc["id"], doc)
        self._wake_users(call, doc["id"])
        return {"DBParameterGroupName": doc["id"]}

    def reset_db_parameter_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        pairs = params.get("Parameters") or []
        reset_all = bool(params.get("ResetAllParameters", False))
        if reset_all and pairs:
            raise validate.combination("Specify ResetAllParameters or Parameters, not both.")
        if not reset_all and not pairs:
            raise validate.combination("Specify ResetAllParameters or Parameters.")
        with self.store.tx():
            doc = self._user_group(call, params.get("DBParameterGroupName"))
            known = catalog(doc["family"])
            names = list(doc["values"]) if reset_all else [p.get("ParameterName")
                                                           for p in pairs]
            for name in names:
                if name not in known:
                    raise validate.invalid(f"Could not find parameter with name: {name}")
                doc["values"].pop(name, None)
                doc.get("methods", {}).pop(name, None)
            doc["version"] = int(doc.get("version", 0)) + 1
            self.store.resources.put(PARAMETER_GROUP, call.account, call.region, doc["id"], doc)
        self._wake_users(call, doc["id"])
        return {"DBParameterGroupName": doc["id"]}

    def delete_db_parameter_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.require_group(call, params.get("DBParameterGroupName"))
            if doc.get("default"):
                raise AWSError("InvalidDBParameterGroupState",
                               f"Default DBParameterGroup cannot be deleted: {doc['id']}")
            users = [d["id"] for d in self.store.resources.list(INSTANCE, call.account,
                                                                call.region)
                     if d.get("parameter_group") == doc["id"]]
            if users:
                raise AWSError("InvalidDBParameterGroupState",
                               f"One or more database instances are still members of this "
                               f"parameter group {doc['id']}, so the group cannot be "
                               f"deleted")
            self.store.resources.delete(PARAMETER_GROUP, call.account, call.region, doc["id"])
        return {}
