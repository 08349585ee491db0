"""Operations on a group's members and capacity: SetDesiredCapacity,
DescribeAutoScalingInstances, TerminateInstanceInAutoScalingGroup,
SetInstanceHealth, SetInstanceProtection, Suspend/ResumeProcesses."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env
from ..common.pagination import paginate
from .core import GROUP, need_group, save_group, stamp, validation, wake
from .groups import render_instance
from .reconcile import GroupLoop

PROCESSES = ("Launch", "Terminate", "AddToLoadBalancer", "AlarmNotification", "AZRebalance",
             "HealthCheck", "InstanceRefresh", "ReplaceUnhealthy", "ScheduledActions")


def find_member(env: Env, call: Call, instance_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The group holding ``instance_id`` and its member record."""
    for group in env.store.resources.list(GROUP, call.account, call.region):
        member = group["instances"].get(instance_id)
        if member is not None:
            return group, member
    raise validation(f"Instance Id not found - No managed instance found for instance ID: "
                     f"{instance_id}")


def set_desired(env: Env, group: dict[str, Any], desired: int, cause: str,
                honor_cooldown: bool = False) -> None:
    """Change the desired capacity (the caller holds the transaction and saves)."""
    now = env.clock.now()
    if honor_cooldown and now < float(group.get("cooldown_until") or 0.0):
        raise AWSError("ScalingActivityInProgress",
                       "Scaling activity cannot be performed because the group is in its "
                       "cooldown period")
    if not group["min"] <= desired <= group["max"]:
        raise validation(f"New SetDesiredCapacity value {desired} is below min value "
                         f"{group['min']} for the AutoScalingGroup." if desired < group["min"]
                         else f"New SetDesiredCapacity value {desired} is above max value "
                         f"{group['max']} for the AutoScalingGroup.")
    if desired != group["desired"]:
        group["cause"] = f"{cause} changing the desired capacity from {group['desired']} to " \
                         f"{desired}"
        group["desired"] = desired


class InstanceOperations:
    env: Env
    group_loop: GroupLoop

    def set_desired_capacity(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            set_desired(self.env, group, params["DesiredCapacity"],
                        "a user request explicitly set group desired capacity",
                        honor_cooldown=bool(params.get("HonorCooldown")))
            if params.get("HonorCooldown"):
                group["cooldown_until"] = self.env.clock.now() + group["cooldown"]
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def describe_auto_scaling_instances(self, call: Call,
                                        params: dict[str, Any]) -> dict[str, Any]:
        ids = set(params.get("InstanceIds") or [])
        rows = []
        for group in self.env.store.resources.list(GROUP, call.account, call.region):
            for member in group["instances"].values():
                if ids and member["id"] not in ids:
                    continue
                row = render_instance(group, member)
                row["AutoScalingGroupName"] = group["name"]
                rows.append(row)
        rows.sort(key=lambda r: str(r["InstanceId"]))
        page, token = paginate(rows, params.get("NextToken"), params.get("MaxRecords"),
                               key=lambda r: str(r["InstanceId"]), default_limit=50,
                               min_limit=1, max_limit=50, error_code="ValidationError")
        out: dict[str, Any] = {"AutoScalingInstances": page}
        if token:
            out["NextToken"] = token
        return out

    def terminate_instance_in_auto_scaling_group(self, call: Call,
                                                 params: dict[str, Any]) -> dict[str, Any]:
        instance_id = params.get("InstanceId") or ""
        decrement = params.get("ShouldDecrementDesiredCapacity")
        if decrement is None:
            raise validation("ShouldDecrementDesiredCapacity is required")
        with self.env.store.tx():
            group, member = find_member(self.env, call, instance_id)
            now = self.env.clock.now()
            cause = f"At {stamp(now)} instance {instance_id} was taken out of service in " \
                    "response to a user request"
            if member["lifecycle"] in ("Terminating", "Terminating:Wait", "Detaching"):
                raise AWSError("ScalingActivityInProgress",
                               f"The instance {instance_id} is already terminating")
            if decrement:
                if group["desired"] - 1 < group["min"]:
                    raise validation(f"Currently, desired capacity is {group['desired']} and "
                                     f"min size is {group['min']}. Cannot decrement desired "
                                     "capacity below min size.")
                cause += f", shrinking the capacity from {group['desired']} to " \
                         f"{group['desired'] - 1}"
                group["desired"] -= 1
            self.group_loop.terminate(group, member, cause + ".")
            activity = self.env.store.resources.get(
                "autoscaling:activity", call.account, call.region, member["activity"])
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {"Activity": {k: v for k, v in activity.items() if not k.startswith("_")}}

    def set_instance_health(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("HealthStatus")
        if status not in ("Healthy", "Unhealthy"):
            raise validation("HealthStatus must be Healthy or Unhealthy")
        with self.env.store.tx():
            group, member = find_member(self.env, call, params.get("InstanceId") or "")
            respect = params.get("ShouldRespectGracePeriod", True)
            in_grace = self.env.clock.now() < member["launched"] + group["grace"]
            if respect and in_grace and status == "Unhealthy":
                return {}
            member["health"] = status
            if status == "Unhealthy":
                member["reason"] = ("an instance was taken out of service in response to a "
                                    "user health-check")
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def set_instance_protection(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            for iid in params.get("InstanceIds") or []:
                member = group["instances"].get(iid)
                if member is None:
                    raise validation(f"The instance {iid} is not part of Auto Scaling group "
                                     f"{group['name']}.")
                member["protected"] = bool(params.get("ProtectedFromScaleIn"))
            save_group(self.env, group)
        return {}

    def _processes(self, call: Call, params: dict[str, Any], suspend: bool) -> None:
        names = params.get("ScalingProcesses") or list(PROCESSES)
        for p in names:
            if p not in PROCESSES:
                raise validation(f"Process {p} is not a valid scaling process")
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            current = set(group.get("suspended") or [])
            current = current | set(names) if suspend else current - set(names)
            group["suspended"] = [p for p in PROCESSES if p in current]
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])

    def suspend_processes(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        self._processes(call, params, suspend=True)
        return {}

    def resume_processes(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        self._processes(call, params, suspend=False)
        return {}

    def describe_scaling_process_types(self, call: Call,
                                       params: dict[str, Any]) -> dict[str, Any]:
        return {"Processes": [{"ProcessName": p} for p in PROCESSES]}

    def describe_termination_policy_types(self, call: Call,
                                          params: dict[str, Any]) -> dict[str, Any]:
        from .groups import TERMINATION_POLICIES

        return {"TerminationPolicyTypes": list(TERMINATION_POLICIES)}
