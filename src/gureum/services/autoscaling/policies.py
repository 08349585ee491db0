"""Scaling policies: PutScalingPolicy, DescribePolicies, DeletePolicy,
ExecutePolicy, and running policies when their CloudWatch alarms fire.

Simple and step policies are driven by the user's alarms (their actions name
the policy ARN; CloudWatch calls ``on_alarm`` through its action registry).
A target-tracking policy creates and owns two alarms as AWS does
(``TargetTracking-<group>-AlarmHigh-<uuid>`` and ``...-AlarmLow-<uuid>``) and
moves the desired capacity in proportion to metric / target.

CloudWatch runs an alarm's actions when it changes state; AWS then keeps
invoking a scaling policy once per period while its alarm stays in ALARM.
``rerun`` (called by the group loop) does that part. Cooldowns (simple
scaling) and instance warm-up (step and target tracking) keep repeated
invocations from piling up.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env
from ..cloudwatch.actions import ActionContext
from ..cloudwatch.evaluate import scaled_period
from .core import (
    POLICY,
    active,
    get_group,
    need_group,
    new_uid,
    policy_arn,
    save_group,
    stamp,
    timing,
    validation,
    wake,
)
from .fleet import peer, service_call
from .instances import set_desired

log = logging.getLogger("gureum.autoscaling")

ALARM_KIND = "cloudwatch:alarm"
ADJUSTMENT_TYPES = ("ChangeInCapacity", "ExactCapacity", "PercentChangeInCapacity")
POLICY_TYPES = ("SimpleScaling", "StepScaling", "TargetTrackingScaling")
PREDEFINED = {  # predefined metric → namespace, metric name, statistic
    "ASGAverageCPUUtilization": ("AWS/EC2", "CPUUtilization", "Average"),
    "ASGAverageNetworkIn": ("AWS/EC2", "NetworkIn", "Average"),
    "ASGAverageNetworkOut": ("AWS/EC2", "NetworkOut", "Average"),
    "ALBRequestCountPerTarget": ("AWS/ApplicationELB", "RequestCountPerTarget", "Sum"),
}
HIGH_PERIODS, LOW_PERIODS = 3, 15  # AWS's target-tracking alarms: 3 of 3, 15 of 15 minutes
LOW_FACTOR = 0.9


def policy_id(group: str, name: str) -> str:
    return f"{group}/{name}"


ALARM_PERIOD = 60  # AWS's target-tracking alarms look at one-minute periods


def wall_period(env: Env, alarm: dict[str, Any]) -> float:
    """The seconds one period of ``alarm`` lasts: CloudWatch itself shortens the
    periods alarms evaluate under ``Settings.time_scale`` (and the data planes
    publish that often), so the alarms keep AWS's period and the policy is run
    again as often as CloudWatch evaluates."""
    return float(scaled_period(int(alarm.get("Period") or ALARM_PERIOD),
                               env.settings.time_scale))


def adjust(policy: dict[str, Any], desired: int, adjustment: int) -> int:
    kind = policy.get("AdjustmentType") or "ChangeInCapacity"
    if kind == "ExactCapacity":
        return adjustment
    if kind == "PercentChangeInCapacity":
        change = desired * adjustment / 100.0
        step = math.floor(change) if change > 0 else math.ceil(change)
        if step == 0 and adjustment != 0:
            step = 1 if adjustment > 0 else -1
        floor = policy.get("MinAdjustmentMagnitude")
        if floor and abs(step) < floor:
            step = floor if step > 0 else -floor
        return desired + step
    return desired + adjustment


def step_for(policy: dict[str, Any], breach: float) -> int | None:
    """The step adjustment whose interval holds ``breach`` (metric - threshold)."""
    for step in policy.get("StepAdjustments") or []:
        low = step.get("MetricIntervalLowerBound")
        high = step.get("MetricIntervalUpperBound")
        if (low is None or breach >= low) and (high is None or breach < high):
            return int(step["ScalingAdjustment"])
    return None


def check_steps(steps: list[dict[str, Any]]) -> None:
    if not steps:
        raise validation("StepAdjustments is required for a StepScaling policy")
    for s in steps:
        low, high = s.get("MetricIntervalLowerBound"), s.get("MetricIntervalUpperBound")
        if low is None and high is None and len(steps) > 1:
            raise validation("Only one step adjustment may have no bounds")
        if low is not None and high is not None and low >= high:
            raise validation("MetricIntervalLowerBound must be below MetricIntervalUpperBound")


def warming_up(group: dict[str, Any], now: float, warmup: float) -> list[dict[str, Any]]:
    """Active members launched less than ``warmup`` seconds ago, or not yet in
    service."""
    return [m for m in active(group) if m["lifecycle"] != "InService"
            or now < float(m.get("in_service") or m.get("launched") or 0.0) + warmup]


def check_queries(queries: list[dict[str, Any]]) -> None:
    """A customized metric's metric math: queries with ids, each a metric or an
    expression, exactly one of them returning data."""
    ids = [str(q.get("Id") or "") for q in queries]
    if not all(ids) or len(set(ids)) != len(ids):
        raise validation("Each query of Metrics needs an Id, unique in the list")
    for q in queries:
        if bool(q.get("Expression")) == bool(q.get("MetricStat")):
            raise validation(f"Query {q.get('Id')} needs exactly one of Expression and "
                             "MetricStat")
        stat = q.get("MetricStat") or {}
        if q.get("MetricStat") and not (stat.get("Metric") and stat.get("Stat")):
            raise validation(f"Query {q.get('Id')}: MetricStat needs a Metric and a Stat")
    returning = [q for q in queries if q.get("ReturnData", True)]
    if len(returning) != 1:
        raise validation("Exactly one query of Metrics must return data (ReturnData)")


def alarm_queries(queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queries of the owned alarms: AWS's one-minute period on each metric."""
    out = []
    for q in queries:
        query: dict[str, Any] = {"Id": q["Id"], "ReturnData": bool(q.get("ReturnData", True))}
        if q.get("Label"):
            query["Label"] = q["Label"]
        if q.get("Expression"):
            query["Expression"] = q["Expression"]
        else:
            stat = {"Metric": q["MetricStat"]["Metric"], "Stat": q["MetricStat"]["Stat"],
                    "Period": ALARM_PERIOD}
            if q["MetricStat"].get("Unit"):
                stat["Unit"] = q["MetricStat"]["Unit"]
            query["MetricStat"] = stat
        out.append(query)
    return out


def latest_value(alarm: dict[str, Any]) -> float | None:
    try:
        data = json.loads(alarm.get("StateReasonData") or "{}")
    except ValueError:
        return None
    points = data.get("recentDatapoints") or []
    return float(points[-1]) if points else None


def render(env: Env, account: str, region: str, doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    names = doc.get("_alarms") or [
        a["AlarmName"] for a in env.store.resources.list(
            ALARM_KIND, account, region,
            where=lambda a: doc["PolicyARN"] in (a.get("AlarmActions") or []))]
    out["Alarms"] = [{"AlarmName": n, "AlarmARN":
                      f"arn:aws:cloudwatch:{region}:{account}:alarm:{n}"} for n in names]
    return out


class PolicyOperations:
    env: Env
    _last_run: dict[str, float]

    # -- API -------------------------------------------------------------------------

    def put_scaling_policy(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("PolicyName") or ""
        if not 1 <= len(name) <= 255:
            raise validation("PolicyName must be 1 to 255 characters")
        kind = params.get("PolicyType") or "SimpleScaling"
        if kind not in POLICY_TYPES:
            raise validation(f"Policy type {kind} is not supported by gureum"
                             if kind == "PredictiveScaling" else f"Invalid policy type {kind}")
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            pid = policy_id(group["name"], name)
            old = self.env.store.resources.get(POLICY, call.account, call.region, pid)
            doc: dict[str, Any] = {
                "AutoScalingGroupName": group["name"], "PolicyName": name,
                "PolicyARN": old["PolicyARN"] if old else policy_arn(
                    call.account, call.region, group["name"], name, new_uid()),
                "PolicyType": kind, "Enabled": params.get("Enabled", True),
                "_id": pid, "_group": group["name"],
            }
            if kind in ("SimpleScaling", "StepScaling"):
                self._adjustments(doc, params, kind)
            else:
                self._target_tracking(doc, params)
            old_alarms = (old or {}).get("_alarms") or []
            if kind == "TargetTrackingScaling":
                doc["_alarms"] = self._own_alarms(call, group, doc, old_alarms)
            elif old_alarms:
                self._drop_alarms(call, old_alarms)
            self.env.store.resources.put(POLICY, call.account, call.region, pid, doc)
        return {"PolicyARN": doc["PolicyARN"],
                "Alarms": render(self.env, call.account, call.region, doc)["Alarms"]}

    @staticmethod
    def _adjustments(doc: dict[str, Any], params: dict[str, Any], kind: str) -> None:
        adjustment_type = params.get("AdjustmentType")
        if adjustment_type not in ADJUSTMENT_TYPES:
            raise validation("AdjustmentType must be one of " + ", ".join(ADJUSTMENT_TYPES))
        doc["AdjustmentType"] = adjustment_type
        if params.get("MinAdjustmentMagnitude") is not None:
            if adjustment_type != "PercentChangeInCapacity":
                raise validation("MinAdjustmentMagnitude is only for PercentChangeInCapacity")
            doc["MinAdjustmentMagnitude"] = params["MinAdjustmentMagnitude"]
        if kind == "SimpleScaling":
            if params.get("ScalingAdjustment") is None:
                raise validation("ScalingAdjustment is required for a SimpleScaling policy")
            if params.get("StepAdjustments"):
                raise validation("StepAdjustments is not valid for a SimpleScaling policy")
            doc["ScalingAdjustment"] = params["ScalingAdjustment"]
            if params.get("Cooldown") is not None:
                doc["Cooldown"] = params["Cooldown"]
            return
        if params.get("ScalingAdjustment") is not None or params.get("Cooldown") is not None:
            raise validation("ScalingAdjustment and Cooldown are not valid for a StepScaling "
                             "policy")
        check_steps(params.get("StepAdjustments") or [])
        doc["StepAdjustments"] = params["StepAdjustments"]
        doc["MetricAggregationType"] = params.get("MetricAggregationType") or "Average"
        if params.get("EstimatedInstanceWarmup") is not None:
            doc["EstimatedInstanceWarmup"] = params["EstimatedInstanceWarmup"]

    @staticmethod
    def _target_tracking(doc: dict[str, Any], params: dict[str, Any]) -> None:
        config = params.get("TargetTrackingConfiguration")
        if not config or config.get("TargetValue") is None:
            raise validation("TargetTrackingConfiguration with a TargetValue is required")
        predefined = config.get("PredefinedMetricSpecification")
        custom = config.get("CustomizedMetricSpecification")
        if bool(predefined) == bool(custom):
            raise validation("Exactly one of PredefinedMetricSpecification and "
                             "CustomizedMetricSpecification is required")
        if predefined:
            metric = predefined.get("PredefinedMetricType")
            if metric not in PREDEFINED:
                raise validation(f"Predefined metric {metric} is not valid for an Auto "
                                 "Scaling group")
            label = predefined.get("ResourceLabel")
            if metric == "ALBRequestCountPerTarget" and not label:
                raise validation("ResourceLabel is required for ALBRequestCountPerTarget")
            if metric != "ALBRequestCountPerTarget" and label:
                raise validation(f"ResourceLabel is not valid for {metric}")
        elif custom and custom.get("Metrics"):
            check_queries(custom["Metrics"])
        for field in ("ScalingAdjustment", "StepAdjustments", "AdjustmentType", "Cooldown"):
            if params.get(field) is not None:
                raise validation(f"{field} is not valid for a TargetTrackingScaling policy")
        doc["TargetTrackingConfiguration"] = {**config,
                                              "DisableScaleIn": bool(config.get(
                                                  "DisableScaleIn", False))}
        if params.get("EstimatedInstanceWarmup") is not None:
            doc["EstimatedInstanceWarmup"] = params["EstimatedInstanceWarmup"]

    def _metric(self, group: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
        predefined = config.get("PredefinedMetricSpecification")
        if predefined:
            namespace, metric, stat = PREDEFINED[predefined["PredefinedMetricType"]]
            if predefined["PredefinedMetricType"] == "ALBRequestCountPerTarget":
                label = predefined["ResourceLabel"]
                target_group = label[label.index("targetgroup/"):] if "targetgroup/" in label \
                    else label
                dims = [{"Name": "TargetGroup", "Value": target_group}]
            else:
                dims = [{"Name": "AutoScalingGroupName", "Value": group["name"]}]
            return {"Namespace": namespace, "MetricName": metric, "Statistic": stat,
                    "Dimensions": dims}
        custom = config["CustomizedMetricSpecification"]
        if custom.get("Metrics"):
            return {"Metrics": alarm_queries(custom["Metrics"])}
        out = {"Namespace": custom["Namespace"], "MetricName": custom["MetricName"],
               "Statistic": custom.get("Statistic") or "Average",
               "Dimensions": custom.get("Dimensions") or []}
        if custom.get("Unit"):
            out["Unit"] = custom["Unit"]
        return out

    def _own_alarms(self, call: Call, group: dict[str, Any], doc: dict[str, Any],
                    old: list[str]) -> list[str]:
        config = doc["TargetTrackingConfiguration"]
        target = float(config["TargetValue"])
        cloudwatch = self._cloudwatch()
        metric = self._metric(group, config)
        period = ALARM_PERIOD
        high = next((n for n in old if "-AlarmHigh-" in n),
                    f"TargetTracking-{group['name']}-AlarmHigh-{new_uid()}")
        low = next((n for n in old if "-AlarmLow-" in n),
                   f"TargetTracking-{group['name']}-AlarmLow-{new_uid()}")
        description = f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy " \
                      f"{doc['PolicyARN']}."
        cw_call = service_call("monitoring", "PutMetricAlarm", call.account, call.region)
        if "Metrics" not in metric:
            metric["Period"] = period
        cloudwatch.put_metric_alarm(cw_call, {
            "AlarmName": high, "AlarmDescription": description, **metric,
            "EvaluationPeriods": HIGH_PERIODS, "DatapointsToAlarm": HIGH_PERIODS,
            "Threshold": target, "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": [doc["PolicyARN"]]})
        names = [high]
        if config["DisableScaleIn"]:
            if low in old:
                self._drop_alarms(call, [low])
        else:
            cloudwatch.put_metric_alarm(cw_call, {
                "AlarmName": low, "AlarmDescription": description, **metric,
                "EvaluationPeriods": LOW_PERIODS,
                "DatapointsToAlarm": LOW_PERIODS, "Threshold": target * LOW_FACTOR,
                "ComparisonOperator": "LessThanThreshold",
                "AlarmActions": [doc["PolicyARN"]]})
            names.append(low)
        return names

    def _cloudwatch(self) -> Any:
        found = peer(self.env, "cloudwatch")
        if found is None:
            raise AWSError("ServiceUnavailable", "CloudWatch is not running", 503)
        return found

    def _drop_alarms(self, call: Call, names: list[str]) -> None:
        present = [n for n in names if self.env.store.resources.get(
            ALARM_KIND, call.account, call.region, n) is not None]
        if present:
            cw_call = service_call("monitoring", "DeleteAlarms", call.account, call.region)
            self._cloudwatch().delete_alarms(cw_call, {"AlarmNames": present})

    def forget_policies(self, call: Call, group: str) -> None:
        for doc in self.env.store.resources.list(POLICY, call.account, call.region,
                                                 where=lambda d: d["_group"] == group):
            self._drop_alarms(call, doc.get("_alarms") or [])
            self.env.store.resources.delete(POLICY, call.account, call.region, doc["_id"])

    def describe_policies(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        from ..common.pagination import paginate

        docs: list[dict[str, Any]] = self.env.store.resources.list(
            POLICY, call.account, call.region)
        group = params.get("AutoScalingGroupName")
        if group:
            docs = [d for d in docs if d["_group"] == group]
        names = params.get("PolicyNames") or []
        if names:
            docs = [d for d in docs if d["PolicyName"] in names or d["PolicyARN"] in names]
        types = params.get("PolicyTypes") or []
        if types:
            docs = [d for d in docs if d["PolicyType"] in types]
        docs.sort(key=lambda d: str(d["_id"]))
        page, token = paginate(docs, params.get("NextToken"), params.get("MaxRecords"),
                               key=lambda d: str(d["_id"]), default_limit=50, min_limit=1,
                               max_limit=100, error_code="ValidationError")
        out: dict[str, Any] = {"ScalingPolicies": [
            render(self.env, call.account, call.region, d) for d in page]}
        if token:
            out["NextToken"] = token
        return out

    def _policy(self, call: Call, group: str | None, name: str) -> dict[str, Any]:
        if name.startswith("arn:"):
            found = self.env.store.resources.list(POLICY, call.account, call.region,
                                                  where=lambda d: d["PolicyARN"] == name)
            if found:
                doc: dict[str, Any] = found[0]
                return doc
        elif group:
            got = self.env.store.resources.get(POLICY, call.account, call.region,
                                               policy_id(group, name))
            if got is not None:
                return dict(got)
        raise validation(f"No such policy {name}" + (f" for group {group}" if group else ""))

    def delete_policy(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            doc = self._policy(call, params.get("AutoScalingGroupName"),
                               params.get("PolicyName") or "")
            self._drop_alarms(call, doc.get("_alarms") or [])
            self.env.store.resources.delete(POLICY, call.account, call.region, doc["_id"])
        return {}

    def execute_policy(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._policy(call, params.get("AutoScalingGroupName"),
                           params.get("PolicyName") or "")
        if doc["PolicyType"] == "TargetTrackingScaling":
            raise validation("ExecutePolicy is not valid for a TargetTrackingScaling policy")
        value, threshold = params.get("MetricValue"), params.get("BreachThreshold")
        if doc["PolicyType"] == "StepScaling" and (value is None or threshold is None):
            raise validation("MetricValue and BreachThreshold are required for a StepScaling "
                             "policy")
        honor = params.get("HonorCooldown", False)
        with self.env.store.tx():
            group = need_group(self.env, call, doc["_group"])
            if honor and self.env.clock.now() < float(group.get("cooldown_until") or 0):
                raise AWSError("ScalingActivityInProgress",
                               "The group is in its cooldown period")
            self._apply(group, doc, "a user request executed policy " + doc["PolicyName"],
                        value, threshold, high=True, cooldowns=False)
        return {}

    # -- execution ---------------------------------------------------------------------

    def _apply(self, group: dict[str, Any], doc: dict[str, Any], cause: str,
               value: float | None, threshold: float | None, high: bool,
               cooldowns: bool = True) -> str:
        """Move the group's desired capacity as the policy says (the caller holds the
        transaction); returns what happened, for the alarm's history."""
        env, now = self.env, self.env.clock.now()
        t = timing(env)
        desired = int(group["desired"])
        last_out = float(doc.get("_last_out") or 0.0)
        warmup = t.aws(float(doc.get("EstimatedInstanceWarmup") or group.get("warmup")
                             or group["cooldown"]))
        kind = doc["PolicyType"]
        if not doc.get("Enabled", True):
            return f"Policy {doc['PolicyName']} is disabled"
        if kind == "SimpleScaling":
            if cooldowns and now < float(group.get("cooldown_until") or 0):
                return f"Group {group['name']} is in its cooldown period"
            new = adjust(doc, desired, int(doc["ScalingAdjustment"]))
        elif kind == "StepScaling":
            step = step_for(doc, float(value or 0) - float(threshold or 0))
            if step is None:
                return "No step adjustment matches the metric"
            new = adjust(doc, desired, step)
            if cooldowns and new > desired and now < last_out + warmup:
                return "Instances launched by this policy are still warming up"
        else:
            target = float(doc["TargetTrackingConfiguration"]["TargetValue"])
            if value is None or target <= 0:
                return "No metric value to track"
            ratio = value / target
            if high:
                # As on AWS, instances still warming up are not part of the
                # current capacity: the alarm, still breached while they boot,
                # adds capacity only beyond what they will bring.
                warming = len(warming_up(group, now, warmup)) if cooldowns else 0
                current = desired - warming
                if desired and current <= 0:
                    return "Instances launched by this policy are still warming up"
                new = max(current + 1, math.ceil(current * ratio)) if desired else 1
                if warming and new <= desired:
                    return "Instances launched by this policy are still warming up"
            else:
                if doc["TargetTrackingConfiguration"].get("DisableScaleIn"):
                    return "Scale-in is disabled for this policy"
                if cooldowns and now < last_out + warmup:
                    return "The group scaled out recently"
                new = min(desired - 1, math.ceil(desired * ratio))
        lowest, highest = int(group["min"]), int(group["max"])
        new = max(lowest, min(highest, new))
        if new == desired:
            return f"Desired capacity of {group['name']} stays at {desired}"
        set_desired(env, group, new, cause)
        if kind == "SimpleScaling":
            group["cooldown_until"] = now + t.aws(float(doc.get("Cooldown", group["cooldown"])))
        save_group(env, group)
        if new > desired:
            doc["_last_out"], doc["_out_to"] = now, new
            env.store.resources.put(POLICY, group["account"], group["region"], doc["_id"], doc)
        wake(env, group["account"], group["region"], group["name"])
        return f"Changed the desired capacity of {group['name']} from {desired} to {new}"

    def run_for_alarm(self, account: str, region: str, policy: dict[str, Any],
                      alarm: dict[str, Any]) -> str:
        """Run ``policy`` for ``alarm`` (in ALARM) once."""
        self._last_run[f"{policy['PolicyARN']}|{alarm['AlarmName']}"] = self.env.clock.now()
        with self.env.store.tx():
            group = get_group(self.env, account, region, policy["_group"])
            if group is None or group.get("status"):
                return "The group does not exist"
            if "AlarmNotification" in group.get("suspended", []):
                return "AlarmNotification is suspended for the group"
            fresh = self.env.store.resources.get(POLICY, account, region, policy["_id"])
            if fresh is None:
                return "The policy does not exist"
            cause = (f"a monitor alarm {alarm['AlarmName']} in state ALARM triggered policy "
                     f"{policy['PolicyName']}")
            high = alarm.get("ComparisonOperator", "").startswith("Greater")
            return self._apply(group, fresh, cause, latest_value(alarm),
                               alarm.get("Threshold"), high)

    async def on_alarm(self, ctx: ActionContext) -> str | None:
        """CloudWatch's action handler for ``arn:aws:autoscaling:`` actions."""
        if ctx.new_state != "ALARM":
            return None
        found = self.env.store.resources.list(POLICY, ctx.account, ctx.region,
                                              where=lambda d: d["PolicyARN"] == ctx.action)
        if not found:
            raise RuntimeError(f"no scaling policy {ctx.action}")
        message = self.run_for_alarm(ctx.account, ctx.region, found[0], ctx.alarm)
        log.info("alarm %s ran policy %s at %s: %s", ctx.alarm.get("AlarmName"),
                 found[0]["PolicyName"], stamp(ctx.timestamp), message)
        return message

    async def rerun(self, account: str, region: str, group: str) -> None:
        """Run policies again whose alarms stay in ALARM, once per alarm period."""
        policies = self.env.store.resources.list(POLICY, account, region,
                                                 where=lambda d: d["_group"] == group)
        if not policies:
            return
        now = self.env.clock.now()
        for alarm in self.env.store.resources.list(ALARM_KIND, account, region,
                                                   where=lambda a: a["StateValue"] == "ALARM"):
            if not alarm.get("ActionsEnabled", True):
                continue
            period = wall_period(self.env, alarm)
            for policy in policies:
                if policy["PolicyARN"] not in (alarm.get("AlarmActions") or []):
                    continue
                key = f"{policy['PolicyARN']}|{alarm['AlarmName']}"
                last = self._last_run.get(key)
                if last is None:
                    # First look (e.g. after a restart): count from the transition.
                    last = float(alarm.get("StateTransitionedTimestamp") or now)
                if now - last >= period:
                    self.run_for_alarm(account, region, policy, alarm)
