"""DB subnet groups: create, describe, modify, delete (``common.subnetgroups``
keeps them); a DB instance's servers get their addresses in its group's
subnets, and the group is described with the instance."""

from __future__ import annotations

import re
from typing import Any

from gureum.errors import AWSError
from gureum.services.common import pagination
from gureum.services.common.subnetgroups import DEFAULT

from ..base import Call
from . import validate
from .core import INSTANCE, RDSCore

_NAME = re.compile(r"[A-Za-z0-9 ._-]{1,255}")
ZONES = "DBSubnetGroupDoesNotCoverEnoughAZs"


def render_group(group: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    return {
        "DBSubnetGroupName": group["name"], "DBSubnetGroupDescription": group["description"],
        "VpcId": group["vpc_id"], "SubnetGroupStatus": "Complete",
        "Subnets": [{"SubnetIdentifier": s["SubnetId"],
                     "SubnetAvailabilityZone": {"Name": s["AvailabilityZone"]},
                     "SubnetOutpost": {}, "SubnetStatus": "Active"} for s in group["subnets"]],
        "DBSubnetGroupArn": RDSCore.arn(account, region, "subgrp", group["name"]),
        "SupportedNetworkTypes": ["IPV4"],
    }


class SubnetGroupOperations(RDSCore):
    def _group_name(self, value: Any) -> str:
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise validate.invalid("DBSubnetGroupName must be 1 to 255 letters, digits, "
                                   "periods, underscores, spaces or hyphens")
        return value.lower()

    def _subnet_group(self, call: Call, name: Any) -> dict[str, Any]:
        group = self.subnet_groups.get(call.account, call.region, name)
        if group is None:
            raise AWSError("DBSubnetGroupNotFoundFault", f"DBSubnetGroup {name} not found.", 404)
        return group

    def create_db_subnet_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = self._group_name(params.get("DBSubnetGroupName"))
        if name == DEFAULT:
            raise validate.invalid("default is a reserved name")
        if not params.get("DBSubnetGroupDescription"):
            raise validate.invalid("DBSubnetGroupDescription is required")
        group = self.subnet_groups.create(
            call.account, call.region, name, params["DBSubnetGroupDescription"],
            params.get("SubnetIds"), params.get("Tags"),
            AWSError("DBSubnetGroupAlreadyExists", f"The DB subnet group '{name}' already exists."),
            2, ZONES)
        return {"DBSubnetGroup": render_group(group, call.account, call.region)}

    def describe_db_subnet_groups(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("DBSubnetGroupName"):
            groups = [self._subnet_group(call, params["DBSubnetGroupName"])]
        else:
            groups = self.subnet_groups.all(call.account, call.region)
        limit = params.get("MaxRecords")
        if limit is not None and not 20 <= limit <= 100:
            raise validate.invalid("MaxRecords must be between 20 and 100")
        page, marker = pagination.paginate(groups, params.get("Marker"), limit,
                                           key=lambda g: str(g["name"]), default_limit=100)
        out: dict[str, Any] = {"DBSubnetGroups": [render_group(g, call.account, call.region)
                                                  for g in page]}
        if marker:
            out["Marker"] = marker
        return out

    def modify_db_subnet_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        """New subnets (and description); addresses already given stay where
        they are, as an instance's network interface does on AWS."""
        group = self._subnet_group(call, params.get("DBSubnetGroupName"))
        if group.get("default"):
            raise AWSError("InvalidDBSubnetGroupStateFault",
                           "The default DB subnet group cannot be modified")
        group = self.subnet_groups.modify(
            call.account, call.region, group, params.get("DBSubnetGroupDescription"),
            params.get("SubnetIds"), lambda: bool(self._users(call, group["name"])),
            AWSError("InvalidDBSubnetGroupStateFault", "The subnets of a DB subnet group in use "
                     "must stay in its VPC"), 2, ZONES)
        return {"DBSubnetGroup": render_group(group, call.account, call.region)}

    def delete_db_subnet_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            group = self._subnet_group(call, params.get("DBSubnetGroupName"))
            if group.get("default"):
                raise AWSError("InvalidDBSubnetGroupStateFault",
                               "The default DB subnet group cannot be deleted")
            if self._users(call, group["name"]):
                raise AWSError("InvalidDBSubnetGroupStateFault",
                               f"Cannot delete the subnet group '{group['name']}' because at "
                               "least one database instance is still using it.")
            self.subnet_groups.delete(call.account, call.region, group["name"])
        return {}

    def _users(self, call: Call, name: str) -> list[str]:
        return [d["id"] for d in self.store.resources.list(INSTANCE, call.account, call.region)
                if (d.get("subnet_group") or DEFAULT) == name]
