"""What the account may create, and the read side of features gureum does not
have, answered truthfully so that tools reading a group's whole state (the
AWS CLI, Terraform) work: DescribeAccountLimits, DescribeAdjustmentTypes,
DescribeAutoScalingNotificationTypes, DescribeLoadBalancers (Classic Load
Balancers: none can be attached), DescribeNotificationConfigurations (none can
be put: there is no SNS), DescribeWarmPool (none can be put) and
DescribeInstanceRefreshes (none can be started). The writing side of those
features answers 501 NotImplemented."""

from __future__ import annotations

from typing import Any

from ..base import Call, Env
from .configs import MAX_CONFIGS
from .core import CONFIG, GROUP, need_group, validation
from .groups import MAX_GROUPS
from .policies import ADJUSTMENT_TYPES

NOTIFICATION_TYPES = ("autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_LAUNCH_ERROR",
                      "autoscaling:EC2_INSTANCE_TERMINATE",
                      "autoscaling:EC2_INSTANCE_TERMINATE_ERROR",
                      "autoscaling:TEST_NOTIFICATION")


def _records(params: dict[str, Any], most: int) -> None:
    limit = params.get("MaxRecords")
    if limit is not None and not 1 <= int(limit) <= most:
        raise validation(f"MaxRecords must be between 1 and {most}")


class CatalogOperations:
    env: Env

    def describe_account_limits(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        resources = self.env.store.resources
        return {"MaxNumberOfAutoScalingGroups": MAX_GROUPS,
                "MaxNumberOfLaunchConfigurations": MAX_CONFIGS,
                "NumberOfAutoScalingGroups": resources.count(GROUP, call.account, call.region),
                "NumberOfLaunchConfigurations": resources.count(CONFIG, call.account,
                                                                call.region)}

    def describe_adjustment_types(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return {"AdjustmentTypes": [{"AdjustmentType": t} for t in ADJUSTMENT_TYPES]}

    def describe_auto_scaling_notification_types(self, call: Call,
                                                 params: dict[str, Any]) -> dict[str, Any]:
        return {"AutoScalingNotificationTypes": list(NOTIFICATION_TYPES)}

    def describe_load_balancers(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        need_group(self.env, call, params.get("AutoScalingGroupName"))
        _records(params, 100)
        return {"LoadBalancers": []}

    def describe_notification_configurations(self, call: Call,
                                             params: dict[str, Any]) -> dict[str, Any]:
        for name in params.get("AutoScalingGroupNames") or []:
            need_group(self.env, call, name)
        _records(params, 100)
        return {"NotificationConfigurations": []}

    def describe_warm_pool(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        need_group(self.env, call, params.get("AutoScalingGroupName"))
        _records(params, 50)
        return {"Instances": []}

    def describe_instance_refreshes(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        need_group(self.env, call, params.get("AutoScalingGroupName"))
        _records(params, 100)
        return {"InstanceRefreshes": []}
