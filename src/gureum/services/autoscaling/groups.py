"""Group operations: Create/Update/Delete/DescribeAutoScalingGroups and the
group's tags. Each validates, writes the group record in one transaction and
wakes the group loop (``reconcile.py``), which launches and terminates."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env
from ..common.pagination import paginate
from . import activities
from .core import (
    CONFIG,
    GROUP,
    POLICY,
    SCHEDULED,
    group_arn,
    need_group,
    new_uid,
    save_group,
    validation,
    wake,
)
from .fleet import fleet
from .hooks import specified_hooks

TERMINATION_POLICIES = ("Default", "OldestInstance", "NewestInstance",
                        "OldestLaunchConfiguration", "OldestLaunchTemplate",
                        "ClosestToNextInstanceHour", "AllocationStrategy")
HEALTH_CHECK_TYPES = ("EC2", "ELB", "VPC_LATTICE", "EBS")
MAX_GROUPS = 500


def resolve_template(env: Env, account: str, region: str,
                     spec: dict[str, Any]) -> dict[str, Any]:
    """RunInstances parameters of a launch template version, or a ValidationError."""
    try:
        from ..ec2.templates import resolve_launch_template
    except ImportError:  # pragma: no cover - before EC2 had launch templates
        raise validation("Launch templates are not available in this gureum") from None
    try:
        return resolve_launch_template(env.store, account, region, spec)
    except AWSError as exc:
        raise validation(f"You must use a valid fully-formed launch template. {exc.message}"
                         ) from None


def template_name(env: Env, account: str, region: str, template_id: str) -> str:
    doc = env.store.resources.get("ec2:launch-template", account, region, template_id)
    return str(doc.get("name", "")) if doc else ""


def render_instance(group: dict[str, Any], member: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "InstanceId": member["id"],
        "InstanceType": member.get("type", ""),
        "AvailabilityZone": member["az"],
        "LifecycleState": member["lifecycle"],
        "HealthStatus": member["health"],
        "ProtectedFromScaleIn": bool(member.get("protected")),
    }
    if member.get("lc"):
        out["LaunchConfigurationName"] = member["lc"]
    if member.get("lt"):
        out["LaunchTemplate"] = member["lt"]
    return out


def render_tags(group: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"ResourceId": group["name"], "ResourceType": "auto-scaling-group",
             "Key": t["Key"], "Value": t.get("Value", ""),
             "PropagateAtLaunch": bool(t.get("PropagateAtLaunch"))} for t in group["tags"]]


def render(group: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "AutoScalingGroupName": group["name"],
        "AutoScalingGroupARN": group["arn"],
        "MinSize": group["min"],
        "MaxSize": group["max"],
        "DesiredCapacity": group["desired"],
        "DefaultCooldown": group["cooldown"],
        "AvailabilityZones": group["zones"],
        "LoadBalancerNames": [],
        "TargetGroupARNs": group["target_groups"],
        "HealthCheckType": group["health_type"],
        "HealthCheckGracePeriod": group["grace"],
        "Instances": [render_instance(group, m) for m in
                      sorted(group["instances"].values(), key=lambda m: m["id"])],
        "CreatedTime": group["created"],
        "SuspendedProcesses": [{"ProcessName": p, "SuspensionReason": "User suspended"}
                               for p in group.get("suspended", [])],
        "VPCZoneIdentifier": ",".join(group["subnets"]),
        "EnabledMetrics": [{"Metric": m, "Granularity": "1Minute"}
                           for m in group.get("metrics", [])],
        "Tags": render_tags(group),
        "TerminationPolicies": group["termination_policies"],
        "NewInstancesProtectedFromScaleIn": group["protect_new"],
        "ServiceLinkedRoleARN": (
            f"arn:aws:iam::{group['account']}:role/aws-service-role/"
            "autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"),
        "TrafficSources": [{"Identifier": arn, "Type": "elbv2"}
                           for arn in group["target_groups"]],
        "CapacityRebalance": False,
    }
    if group.get("lc"):
        out["LaunchConfigurationName"] = group["lc"]
    if group.get("lt"):
        out["LaunchTemplate"] = group["lt"]
    if group.get("status"):
        out["Status"] = group["status"]
    if group.get("max_lifetime"):
        out["MaxInstanceLifetime"] = group["max_lifetime"]
    if group.get("warmup") is not None:
        out["DefaultInstanceWarmup"] = group["warmup"]
    return out


def check_tags(name: str, tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for t in tags:
        key = t.get("Key") or ""
        if not 1 <= len(key) <= 128:
            raise validation("Tag key must be 1 to 128 characters")
        if key.lower().startswith("aws:"):
            raise validation("Tag keys starting with 'aws:' are reserved for internal use")
        if t.get("ResourceId") not in (None, name):
            raise validation(f"Tag ResourceId {t.get('ResourceId')} is not the group {name}")
        out[key] = {"Key": key, "Value": str(t.get("Value") or ""),
                    "PropagateAtLaunch": bool(t.get("PropagateAtLaunch"))}
    if len(out) > 50:
        raise validation("The number of tags must not exceed 50")
    return list(out.values())


class GroupOperations:
    env: Env

    # -- shared by create and update -----------------------------------------------

    def _launch_source(self, call: Call, group: dict[str, Any], params: dict[str, Any],
                       required: bool) -> None:
        given = [k for k in ("LaunchConfigurationName", "LaunchTemplate", "MixedInstancesPolicy",
                             "InstanceId") if params.get(k)]
        if not given:
            if required:
                raise validation("Valid requests must contain either LaunchTemplate, "
                                 "LaunchConfigurationName, InstanceId or MixedInstancesPolicy "
                                 "parameter.")
            return
        if len(given) > 1:
            raise validation("Valid requests must contain either LaunchTemplate, "
                             "LaunchConfigurationName, InstanceId or MixedInstancesPolicy "
                             "parameter.")
        if given[0] in ("MixedInstancesPolicy", "InstanceId"):
            raise validation(f"{given[0]} is not supported by gureum; use a launch template "
                             "or a launch configuration")
        if given[0] == "LaunchConfigurationName":
            name = params["LaunchConfigurationName"]
            if self.env.store.resources.get(CONFIG, call.account, call.region, name) is None:
                raise validation(f"Launch configuration name not found - Launch "
                                 f"configuration {name} not found")
            group["lc"], group["lt"] = name, None
            return
        spec = dict(params["LaunchTemplate"])
        version = str(spec.get("Version") or "$Default")
        resolved = resolve_template(self.env, call.account, call.region,
                                    {**spec, "Version": version})
        template_id = resolved["LaunchTemplate"]["LaunchTemplateId"]
        group["lc"] = None
        group["lt"] = {"LaunchTemplateId": template_id,
                       "LaunchTemplateName": template_name(self.env, call.account, call.region,
                                                           template_id),
                       "Version": version}

    def _placement(self, call: Call, group: dict[str, Any], params: dict[str, Any],
                   required: bool) -> None:
        zones_given = params.get("AvailabilityZones") or []
        subnets_given = [s.strip() for s in (params.get("VPCZoneIdentifier") or "").split(",")
                         if s.strip()]
        if not zones_given and not subnets_given:
            if required:
                raise validation("At least one Availability Zone or VPC Subnet is required.")
            return
        known = fleet(self.env).zones(call.account, call.region)
        if subnets_given:
            for s in subnets_given:
                if s not in known:
                    raise validation(f"The subnet ID '{s}' does not exist")
            zones = list(dict.fromkeys(known[s] for s in subnets_given))
            if zones_given and set(zones_given) != set(zones):
                raise validation("The availability zones of the specified subnets and the "
                                 "Auto Scaling group do not match")
            group["subnets"], group["zones"] = list(dict.fromkeys(subnets_given)), zones
            return
        by_zone = {z: s for s, z in known.items()}
        for z in zones_given:
            if z not in by_zone:
                raise validation(f"The availability zone {z} is not legally formatted or "
                                 "does not exist")
        group["zones"] = list(dict.fromkeys(zones_given))
        group["subnets"] = []

    def _settings(self, group: dict[str, Any], params: dict[str, Any]) -> None:
        if params.get("HealthCheckType") is not None:
            if params["HealthCheckType"] not in HEALTH_CHECK_TYPES:
                raise validation(f"Health check type {params['HealthCheckType']} is invalid. "
                                 "Valid values: EC2, ELB")
            group["health_type"] = params["HealthCheckType"]
        if params.get("HealthCheckGracePeriod") is not None:
            group["grace"] = params["HealthCheckGracePeriod"]
        if params.get("DefaultCooldown") is not None:
            group["cooldown"] = params["DefaultCooldown"]
        if params.get("TerminationPolicies") is not None:
            for p in params["TerminationPolicies"]:
                if p not in TERMINATION_POLICIES and not str(p).startswith("arn:aws:lambda:"):
                    raise validation(f"Termination policy {p} is invalid")
            group["termination_policies"] = list(params["TerminationPolicies"]) or ["Default"]
        if params.get("NewInstancesProtectedFromScaleIn") is not None:
            group["protect_new"] = bool(params["NewInstancesProtectedFromScaleIn"])
        if params.get("MaxInstanceLifetime") is not None:
            group["max_lifetime"] = params["MaxInstanceLifetime"]
        if params.get("DefaultInstanceWarmup") is not None:
            group["warmup"] = params["DefaultInstanceWarmup"]

    @staticmethod
    def _sizes(group: dict[str, Any], params: dict[str, Any]) -> None:
        low = params.get("MinSize", group["min"])
        high = params.get("MaxSize", group["max"])
        if low < 0 or high < 0:
            raise validation("MinSize and MaxSize must not be negative")
        if low > high:
            raise validation(f"Max bound, {high}, must be greater than or equal to min bound, "
                             f"{low}")
        desired = params.get("DesiredCapacity")
        if desired is None:
            desired = max(low, min(high, group["desired"]))
        elif not low <= desired <= high:
            raise validation(f"Desired capacity:{desired} must be between the specified min "
                             f"size:{low} and max size:{high}")
        if desired != group["desired"]:
            group["cause"] = (f"a user request update of AutoScalingGroup constraints to "
                              f"min: {low}, max: {high}, desired: {desired} changing the desired "
                              f"capacity from {group['desired']} to {desired}")
        group["min"], group["max"], group["desired"] = low, high, desired

    # -- operations ----------------------------------------------------------------

    def create_auto_scaling_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("AutoScalingGroupName") or ""
        if not 1 <= len(name) <= 255:
            raise validation("AutoScalingGroupName must be 1 to 255 characters")
        for required in ("MinSize", "MaxSize"):
            if params.get(required) is None:
                raise validation(f"{required} is required")
        group: dict[str, Any] = {
            "name": name, "account": call.account, "region": call.region,
            "arn": group_arn(call.account, call.region, name, new_uid()),
            "created": self.env.clock.now(), "min": 0, "max": 0, "desired": 0,
            "lc": None, "lt": None, "zones": [], "subnets": [],
            "health_type": "EC2", "grace": 0, "cooldown": 300,
            "termination_policies": ["Default"], "protect_new": False,
            "tags": check_tags(name, params.get("Tags") or []),
            "target_groups": list(dict.fromkeys(params.get("TargetGroupARNs") or [])),
            "suspended": [], "metrics": [], "status": None, "instances": {},
            "cooldown_until": 0.0, "cause": None,
            # Hooks made with the group apply to its first instances too.
            "hooks": specified_hooks(params.get("LifecycleHookSpecificationList") or []),
        }
        self._launch_source(call, group, params, required=True)
        self._placement(call, group, params, required=True)
        self._settings(group, params)
        group["desired"] = params.get("DesiredCapacity", params["MinSize"])
        self._sizes(group, {**params, "DesiredCapacity": group["desired"]})
        group["cause"] = None
        self._check_target_groups(call, group["target_groups"])
        with self.env.store.tx():
            if self.env.store.resources.get(GROUP, call.account, call.region, name):
                raise AWSError("AlreadyExists",
                               f"AutoScalingGroup by this name already exists - A group with "
                               f"the name {name} already exists")
            if self.env.store.resources.count(GROUP, call.account, call.region) >= MAX_GROUPS:
                raise AWSError("LimitExceeded",
                               f"You have reached your quota of {MAX_GROUPS} groups")
            save_group(self.env, group)
        wake(self.env, call.account, call.region, name)
        return {}

    def _check_target_groups(self, call: Call, arns: list[str]) -> None:
        """Overridden where target groups are known (``targets.py``)."""

    def update_auto_scaling_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("AutoScalingGroupName")
        with self.env.store.tx():
            group = need_group(self.env, call, name)
            if group.get("status"):
                raise AWSError("ScalingActivityInProgress",
                               f"The group {name} is being deleted")
            self._launch_source(call, group, params, required=False)
            self._placement(call, group, params, required=False)
            self._settings(group, params)
            self._sizes(group, params)
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def delete_auto_scaling_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("AutoScalingGroupName")
        force = bool(params.get("ForceDelete"))
        with self.env.store.tx():
            group = need_group(self.env, call, name)
            if group.get("status"):
                return {}  # already being deleted
            members = group["instances"]
            if not force:
                busy = [m for m in members.values() if m["lifecycle"] in
                        ("Pending", "Terminating", "Terminating:Wait", "Pending:Wait")]
                if busy or group["desired"] > len(members):  # a launch is due
                    raise AWSError("ScalingActivityInProgress",
                                   "You cannot delete an AutoScalingGroup while there are "
                                   "scaling activities in progress for that group.")
                if members:
                    raise AWSError("ResourceInUse",
                                   "You cannot delete an AutoScalingGroup while there are "
                                   "instances or pending Spot instance request(s) still in the "
                                   "group.")
            self.forget_policies(call, group["name"])
            for action in self.env.store.resources.list(
                    SCHEDULED, call.account, call.region,
                    where=lambda d: d["AutoScalingGroupName"] == group["name"]):
                self.env.store.resources.delete(SCHEDULED, call.account, call.region,
                                                action["_id"])
            if not members:
                self.env.store.resources.delete(GROUP, call.account, call.region, group["name"])
                activities.forget(self.env, group)
                return {}
            group["status"] = "Delete in progress"
            group["min"] = group["max"] = group["desired"] = 0
            group["cause"] = "a user request to delete the group"
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def forget_policies(self, call: Call, group: str) -> None:
        """Delete the group's policies (``policies.py`` also deletes their alarms)."""
        for doc in self.env.store.resources.list(POLICY, call.account, call.region,
                                                 where=lambda d: d["group"] == group):
            self.env.store.resources.delete(POLICY, call.account, call.region, doc["id"])

    def describe_auto_scaling_groups(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        names = params.get("AutoScalingGroupNames") or []
        groups: list[dict[str, Any]] = self.env.store.resources.list(
            GROUP, call.account, call.region)
        if names:
            groups = [g for g in groups if g["name"] in names]
        for f in params.get("Filters") or []:
            fname, values = f.get("Name") or "", set(f.get("Values") or [])
            if fname.startswith("tag:"):
                key = fname[4:]
                groups = [g for g in groups
                          if any(t["Key"] == key and t["Value"] in values for t in g["tags"])]
            elif fname == "tag-key":
                groups = [g for g in groups if any(t["Key"] in values for t in g["tags"])]
            elif fname == "tag-value":
                groups = [g for g in groups if any(t["Value"] in values for t in g["tags"])]
            else:
                raise validation(f"Filter name {fname} is invalid")
        groups.sort(key=lambda g: str(g["name"]))
        page, token = paginate(groups, params.get("NextToken"), params.get("MaxRecords"),
                               key=lambda g: str(g["name"]), default_limit=50, min_limit=1,
                               max_limit=100, error_code="ValidationError")
        out: dict[str, Any] = {"AutoScalingGroups": [render(g) for g in page]}
        if token:
            out["NextToken"] = token
        return out

    # -- tags ------------------------------------------------------------------------

    def create_or_update_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        by_group: dict[str, list[dict[str, Any]]] = {}
        for t in params.get("Tags") or []:
            if t.get("ResourceType", "auto-scaling-group") != "auto-scaling-group":
                raise validation("ResourceType must be auto-scaling-group")
            by_group.setdefault(t.get("ResourceId") or "", []).append(t)
        with self.env.store.tx():
            for name, tags in by_group.items():
                group = need_group(self.env, call, name)
                merged = {t["Key"]: t for t in group["tags"]}
                merged.update({t["Key"]: t for t in check_tags(name, tags)})
                group["tags"] = check_tags(name, list(merged.values()))
                save_group(self.env, group)
        return {}

    def delete_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            for t in params.get("Tags") or []:
                group = need_group(self.env, call, t.get("ResourceId"))
                group["tags"] = [x for x in group["tags"] if x["Key"] != t.get("Key")]
                save_group(self.env, group)
        return {}

    def describe_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        tags = [t for g in self.env.store.resources.list(GROUP, call.account, call.region)
                for t in render_tags(g)]
        fields = {"auto-scaling-group": "ResourceId", "key": "Key", "value": "Value",
                  "propagate-at-launch": "PropagateAtLaunch"}
        for f in params.get("Filters") or []:
            field = fields.get(f.get("Name") or "")
            if field is None:
                raise validation(f"Filter name {f.get('Name')} is invalid")
            values = {str(v).lower() for v in f.get("Values") or []}
            tags = [t for t in tags if str(t[field]).lower() in values]
        tags.sort(key=lambda t: (t["ResourceId"], t["Key"]))
        page, token = paginate(tags, params.get("NextToken"), params.get("MaxRecords"),
                               key=lambda t: f"{t['ResourceId']}|{t['Key']}", default_limit=50,
                               min_limit=1, max_limit=100, error_code="ValidationError")
        out: dict[str, Any] = {"Tags": page}
        if token:
            out["NextToken"] = token
        return out
