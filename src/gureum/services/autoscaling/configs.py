"""Launch configurations: CreateLaunchConfiguration, DescribeLaunchConfigurations,
DeleteLaunchConfiguration, and turning a configuration into RunInstances
parameters for the group loop."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env
from ..common.pagination import paginate
from .core import CONFIG, GROUP, config_arn, new_uid, validation

MAX_CONFIGS = 200  # AWS's default quota per Region
FIELDS = ("ImageId", "KeyName", "SecurityGroups", "UserData", "InstanceType",
          "BlockDeviceMappings", "InstanceMonitoring", "IamInstanceProfile", "EbsOptimized",
          "AssociatePublicIpAddress", "PlacementTenancy", "MetadataOptions", "SpotPrice",
          "KernelId", "RamdiskId", "ClassicLinkVPCId", "ClassicLinkVPCSecurityGroups")


def run_params(config: dict[str, Any]) -> dict[str, Any]:
    """The RunInstances parameters a launch configuration describes."""
    params: dict[str, Any] = {"ImageId": config["ImageId"],
                              "InstanceType": config["InstanceType"]}
    if config.get("KeyName"):
        params["KeyName"] = config["KeyName"]
    if config.get("UserData"):
        params["UserData"] = config["UserData"]
    groups = config.get("SecurityGroups") or []
    ids = [g for g in groups if g.startswith("sg-")]
    names = [g for g in groups if not g.startswith("sg-")]
    if ids:
        params["SecurityGroupIds"] = ids
    if names:
        params["SecurityGroups"] = names
    if config.get("MetadataOptions"):
        params["MetadataOptions"] = config["MetadataOptions"]
    if (config.get("InstanceMonitoring") or {}).get("Enabled"):
        params["Monitoring"] = {"Enabled": True}
    return params


class ConfigOperations:
    env: Env

    def create_launch_configuration(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("LaunchConfigurationName") or ""
        if not 1 <= len(name) <= 255:
            raise validation("LaunchConfigurationName must be 1 to 255 characters")
        if params.get("InstanceId"):
            raise validation("Creating a launch configuration from an instance is not "
                             "supported by gureum; give ImageId and InstanceType")
        if not params.get("ImageId"):
            raise validation("Valid requests must contain the parameter ImageId")
        if not params.get("InstanceType"):
            raise validation("Valid requests must contain the parameter InstanceType")
        self._check(params)
        user_data = params.get("UserData")
        if user_data:
            try:
                base64.b64decode(user_data, validate=True)
            except (binascii.Error, ValueError):
                # The CLI sends user data as given; AWS base64-encodes it then.
                params["UserData"] = base64.b64encode(str(user_data).encode()).decode()
        with self.env.store.tx():
            if self.env.store.resources.get(CONFIG, call.account, call.region, name):
                raise AWSError("AlreadyExists",
                               f"Launch Configuration by this name already exists - A launch "
                               f"configuration already exists with the name {name}")
            if self.env.store.resources.count(CONFIG, call.account, call.region) >= MAX_CONFIGS:
                raise AWSError("LimitExceeded", f"You have reached your quota of {MAX_CONFIGS} "
                               "launch configurations")
            doc = {k: params[k] for k in FIELDS if params.get(k) is not None}
            doc.update(
                LaunchConfigurationName=name,
                LaunchConfigurationARN=config_arn(call.account, call.region, name, new_uid()),
                CreatedTime=self.env.clock.now(),
            )
            doc.setdefault("SecurityGroups", [])
            doc.setdefault("InstanceMonitoring", {"Enabled": True})
            self.env.store.resources.put(CONFIG, call.account, call.region, name, doc)
        return {}

    def _check(self, params: dict[str, Any]) -> None:
        """What EC2 would refuse at launch, refused now as AWS does."""
        try:
            from ..ec2.catalog import find_image, instance_type
        except ImportError:  # pragma: no cover - EC2 always ships with gureum
            return
        try:
            find_image(params["ImageId"])
        except AWSError as exc:
            raise validation(exc.message) from None
        try:
            instance_type(params["InstanceType"])
        except AWSError as exc:
            raise validation(exc.message) from None

    def describe_launch_configurations(self, call: Call,
                                       params: dict[str, Any]) -> dict[str, Any]:
        names = params.get("LaunchConfigurationNames") or []
        docs: list[dict[str, Any]] = self.env.store.resources.list(
            CONFIG, call.account, call.region)
        if names:
            docs = [d for d in docs if d["LaunchConfigurationName"] in names]
        docs.sort(key=lambda d: str(d["LaunchConfigurationName"]))
        page, token = paginate(docs, params.get("NextToken"), params.get("MaxRecords"),
                               key=lambda d: str(d["LaunchConfigurationName"]),
                               default_limit=50, min_limit=1, max_limit=100,
                               error_code="ValidationError")
        out: dict[str, Any] = {"LaunchConfigurations": page}
        if token:
            out["NextToken"] = token
        return out

    def delete_launch_configuration(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("LaunchConfigurationName") or ""
        with self.env.store.tx():
            if self.env.store.resources.get(CONFIG, call.account, call.region, name) is None:
                raise validation("Launch configuration name not found - Launch configuration "
                                 f"{name} not found")
            users = self.env.store.resources.list(GROUP, call.account, call.region,
                                                  where=lambda g: g.get("lc") == name)
            in_use = any(m.get("lc") == name for g in self.env.store.resources.list(
                GROUP, call.account, call.region) for m in g["instances"].values())
            if users or in_use:
                raise AWSError("ResourceInUse",
                               f"Cannot delete launch configuration {name} because it is "
                               "attached to AutoScalingGroup "
                               f"{users[0]['name'] if users else ''}".rstrip())
            self.env.store.resources.delete(CONFIG, call.account, call.region, name)
        return {}
