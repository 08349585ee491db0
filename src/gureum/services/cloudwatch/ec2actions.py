"""EC2 alarm actions: ``arn:aws:automate:REGION:ec2:stop|terminate|reboot``.

The action applies to the instance named by the alarm's ``InstanceId``
dimension (of its metric, or of the one MetricStat of a metric-math alarm),
and is carried out by the EC2 service in the same process
(``Env.extras["services"]["ec2"]``), as CloudWatch's service-linked role
would call it. ``recover`` has no meaning on one machine: it reports failure.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..base import Call, Env, Identity
from ..common.ids import request_id
from .actions import ActionContext, ActionHandler, registry

PREFIX = "arn:aws:automate:"
OPERATIONS = {"stop": "stop_instances", "terminate": "terminate_instances",
              "reboot": "reboot_instances"}
ROLE = "AWSServiceRoleForCloudWatchEvents"


def instance_of(alarm: dict[str, Any]) -> str | None:
    """The InstanceId the alarm watches, if it watches exactly one."""
    dims = list(alarm.get("Dimensions") or [])
    for q in alarm.get("Metrics") or []:
        dims += (q.get("MetricStat") or {}).get("Metric", {}).get("Dimensions") or []
    ids = {d["Value"] for d in dims if d.get("Name") == "InstanceId"}
    return ids.pop() if len(ids) == 1 else None


def service_call(operation: str, account: str, region: str) -> Call:
    identity = Identity(account, f"arn:aws:sts::{account}:assumed-role/{ROLE}/CloudWatch",
                        "AROACLOUDWATCHEVENTS:CloudWatch", kind="assumed-role")
    return Call("ec2", operation, account, region, identity, request_id())


def handler(env: Env) -> ActionHandler:
    async def run(ctx: ActionContext) -> str:
        # arn:aws:automate:REGION:ec2:ACTION
        parts = ctx.action.split(":")
        if len(parts) != 6 or parts[4] != "ec2":
            raise ValueError(f"{ctx.action} is not an EC2 action")
        region, verb = parts[3] or ctx.region, parts[5]
        operation = OPERATIONS.get(verb)
        if operation is None:
            raise ValueError(f"EC2 action {verb} is not supported here")
        if region != ctx.region:
            raise ValueError(f"the action's region {region} is not the alarm's ({ctx.region})")
        instance = instance_of(ctx.alarm)
        if instance is None:
            raise ValueError("the alarm does not watch one instance (no InstanceId dimension)")
        ec2 = (env.extras.get("services") or {}).get("ec2")
        if ec2 is None:
            raise RuntimeError("EC2 is not running")
        result = getattr(ec2, operation)(service_call(operation, ctx.account, ctx.region),
                                         {"InstanceIds": [instance]})
        if inspect.isawaitable(result):
            await result
        return f"Successfully executed action {ctx.action} on instance {instance}"

    return run


def install(env: Env) -> None:
    registry(env).register(PREFIX, handler(env))
