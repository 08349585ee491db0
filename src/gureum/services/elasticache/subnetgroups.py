"""Cache subnet groups: create, describe, modify, delete (``common.subnetgroups``
keeps them); a cache node gets its address in its cluster's (or replication
group's) subnet group."""

from __future__ import annotations

import re
from typing import Any

from gureum.errors import AWSError
from gureum.services.common.pagination import paginate
from gureum.services.common.subnetgroups import DEFAULT

from ..base import Call
from .core import GROUP, NODE, ElastiCacheCore

_NAME = re.compile(r"[a-z0-9-]{1,255}")


def render_group(group: dict[str, Any], arn: str) -> dict[str, Any]:
    return {
        "CacheSubnetGroupName": group["name"],
        "CacheSubnetGroupDescription": group["description"], "VpcId": group["vpc_id"],
        "Subnets": [{"SubnetIdentifier": s["SubnetId"],
                     "SubnetAvailabilityZone": {"Name": s["AvailabilityZone"]},
                     "SupportedNetworkTypes": ["ipv4"]} for s in group["subnets"]],
        "ARN": arn, "SupportedNetworkTypes": ["ipv4"],
    }


class SubnetGroupOperations(ElastiCacheCore):
    def cache_subnet_group(self, call: Call, name: Any) -> dict[str, Any]:
        group = self.subnet_groups.get(call.account, call.region, name or DEFAULT)
        if group is None:
            raise AWSError("CacheSubnetGroupNotFoundFault",
                           f"Cache subnet group {name} not found.")
        return group

    def _render_subnet_group(self, call: Call, group: dict[str, Any]) -> dict[str, Any]:
        return render_group(group, self.arn(call, f"subnetgroup:{group['name']}"))

    def create_cache_subnet_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("CacheSubnetGroupName")
        if not isinstance(name, str) or not _NAME.fullmatch(name.lower()):
            raise AWSError("InvalidParameterValue", "CacheSubnetGroupName must be 1 to 255 "
                           "letters, digits or hyphens")
        if name.lower() == DEFAULT:
            raise AWSError("InvalidParameterValue", "default is a reserved name")
        if not params.get("CacheSubnetGroupDescription"):
            raise AWSError("InvalidParameterValue", "CacheSubnetGroupDescription is required")
        group = self.subnet_groups.create(
            call.account, call.region, name, params["CacheSubnetGroupDescription"],
            params.get("SubnetIds"), params.get("Tags"),
            AWSError("CacheSubnetGroupAlreadyExists", f"Cache subnet group {name} already exists."))
        return {"CacheSubnetGroup": self._render_subnet_group(call, group)}

    def describe_cache_subnet_groups(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        if params.get("CacheSubnetGroupName"):
            groups = [self.cache_subnet_group(call, params["CacheSubnetGroupName"])]
        else:
            groups = self.subnet_groups.all(call.account, call.region)
        page, marker = paginate(groups, params.get("Marker"), params.get("MaxRecords"),
                                key=lambda g: str(g["name"]), default_limit=100,
                                max_limit=100, min_limit=20)
        out: dict[str, Any] = {"CacheSubnetGroups": [self._render_subnet_group(call, g)
                                                     for g in page]}
        if marker:
            out["Marker"] = marker
        return out

    def modify_cache_subnet_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        """New subnets (and description); nodes keep the addresses they have."""
        group = self.cache_subnet_group(call, params.get("CacheSubnetGroupName"))
        if group.get("default"):
            raise AWSError("InvalidParameterValue",
                           "The default cache subnet group cannot be modified")
        group = self.subnet_groups.modify(
            call.account, call.region, group, params.get("CacheSubnetGroupDescription"),
            params.get("SubnetIds"), lambda: bool(self._subnet_group_users(call, group["name"])),
            AWSError("SubnetInUse", "The subnets of a cache subnet group in use must stay in "
                     "its VPC"))
        return {"CacheSubnetGroup": self._render_subnet_group(call, group)}

    def delete_cache_subnet_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            group = self.cache_subnet_group(call, params.get("CacheSubnetGroupName"))
            if group.get("default") or self._subnet_group_users(call, group["name"]):
                raise AWSError("CacheSubnetGroupInUse",
                               f"Cache subnet group {group['name']} is in use.")
            self.subnet_groups.delete(call.account, call.region, group["name"])
        return {}

    def _subnet_group_users(self, call: Call, name: str) -> list[str]:
        return [d["id"] for kind in (NODE, GROUP)
                for d in self.store.resources.list(kind, call.account, call.region)
                if (d.get("subnet_group") or DEFAULT) == name]
