"""Target groups: Attach/Detach/DescribeLoadBalancerTargetGroups, registering
in-service members with the group's target groups, draining members before
they are terminated, and the ELB health check.

The ELB service is called in-process through its own operations
(RegisterTargets, DeregisterTargets, DescribeTargetHealth); a gureum without
it keeps the group's target group ARNs and registers nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env
from ..common.pagination import paginate
from .core import get_group, need_group, save_group, stamp, validation, wake
from .fleet import peer, service_call

log = logging.getLogger("gureum.autoscaling")

TG_KIND = "elbv2:targetgroup"
DELAY = "deregistration_delay.timeout_seconds"


def drain_delay(env: Env, account: str, region: str, arns: list[str]) -> float:
    delays = [0.0]
    for arn in arns:
        doc = env.store.resources.get(TG_KIND, account, region, arn)
        if doc is not None:
            delays.append(float((doc.get("attributes") or {}).get(DELAY, 0) or 0))
    return max(delays)


class TargetOperations:
    env: Env

    def _elb(self) -> Any:
        return peer(self.env, "elbv2")

    def _check_target_groups(self, call: Call, arns: list[str]) -> None:
        elb = self._elb()
        if not arns or elb is None or not hasattr(elb, "describe_target_groups"):
            return
        elb_call = service_call("elasticloadbalancing", "DescribeTargetGroups", call.account,
                                call.region)
        try:
            elb.describe_target_groups(elb_call, {"TargetGroupArns": arns})
        except AWSError as exc:
            raise validation(f"Target groups not found - {exc.message}") from None

    def attach_load_balancer_target_groups(self, call: Call,
                                           params: dict[str, Any]) -> dict[str, Any]:
        arns = list(params.get("TargetGroupARNs") or [])
        self._check_target_groups(call, arns)
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            group["target_groups"] = list(dict.fromkeys(group["target_groups"] + arns))
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def detach_load_balancer_target_groups(self, call: Call,
                                           params: dict[str, Any]) -> dict[str, Any]:
        arns = set(params.get("TargetGroupARNs") or [])
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            group["target_groups"] = [a for a in group["target_groups"] if a not in arns]
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def describe_load_balancer_target_groups(self, call: Call,
                                             params: dict[str, Any]) -> dict[str, Any]:
        group = need_group(self.env, call, params.get("AutoScalingGroupName"))
        return {"LoadBalancerTargetGroups": [
            {"LoadBalancerTargetGroupARN": arn, "State": "InService"}
            for arn in group["target_groups"]]}

    def _sources(self, call: Call, params: dict[str, Any]) -> list[str]:
        arns = []
        for source in params.get("TrafficSources") or []:
            kind = source.get("Type") or "elbv2"
            if kind != "elbv2":
                raise validation(f"Traffic source type {kind} is not supported; use elbv2")
            arns.append(str(source.get("Identifier") or ""))
        if not arns:
            raise validation("TrafficSources is required")
        return arns

    def attach_traffic_sources(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return self.attach_load_balancer_target_groups(call, {
            "AutoScalingGroupName": params.get("AutoScalingGroupName"),
            "TargetGroupARNs": self._sources(call, params)})

    def detach_traffic_sources(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return self.detach_load_balancer_target_groups(call, {
            "AutoScalingGroupName": params.get("AutoScalingGroupName"),
            "TargetGroupARNs": self._sources(call, params)})

    def describe_traffic_sources(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        group = need_group(self.env, call, params.get("AutoScalingGroupName"))
        kind = params.get("TrafficSourceType")
        rows = [] if kind not in (None, "elbv2") else [
            {"TrafficSource": arn, "Identifier": arn, "Type": "elbv2", "State": "InService"}
            for arn in group["target_groups"]]
        page, token = paginate(rows, params.get("NextToken"), params.get("MaxRecords"),
                               key=lambda r: str(r["Identifier"]), default_limit=50,
                               min_limit=1, max_limit=50, error_code="ValidationError")
        out: dict[str, Any] = {"TrafficSources": page}
        if token:
            out["NextToken"] = token
        return out

    # -- the group loop's hooks ----------------------------------------------------------

    async def elb_health(self, account: str, region: str, name: str) -> None:
        """Mark members the target groups report unhealthy past the grace period."""
        group = get_group(self.env, account, region, name)
        elb = self._elb()
        if group is None or elb is None or group["health_type"] != "ELB":
            return
        if "HealthCheck" in group.get("suspended", []):
            return
        call = service_call("elasticloadbalancing", "DescribeTargetHealth", account, region)
        unhealthy: set[str] = set()
        for arn in group["target_groups"]:
            try:
                out = await elb.describe_target_health(call, {"TargetGroupArn": arn})
            except AWSError:
                continue
            for d in out.get("TargetHealthDescriptions") or []:
                if d["TargetHealth"]["State"] == "unhealthy":
                    unhealthy.add(d["Target"]["Id"])
        if not unhealthy:
            return
        now = self.env.clock.now()
        with self.env.store.tx():
            group = get_group(self.env, account, region, name)
            if group is None:
                return
            for iid in unhealthy:
                m = group["instances"].get(iid)
                if m is None or m["lifecycle"] != "InService" or m["health"] != "Healthy":
                    continue
                if now < float(m.get("in_service") or m["launched"]) + group["grace"]:
                    continue
                m["health"] = "Unhealthy"
                m["reason"] = ("an instance was taken out of service in response to an ELB "
                               f"system health check failure (at {stamp(now)})")
            save_group(self.env, group)

    async def sync_targets(self, account: str, region: str, name: str) -> None:
        """Register in-service members with the target groups; deregister the rest."""
        group = get_group(self.env, account, region, name)
        elb = self._elb()
        if group is None or elb is None or not hasattr(elb, "register_targets"):
            return
        changes: dict[str, tuple[list[str], float | None]] = {}
        for iid, m in group["instances"].items():
            have = list(m.get("registered") or [])
            want = group["target_groups"] if m["lifecycle"] == "InService" else []
            if "AddToLoadBalancer" in group.get("suspended", []) and not have:
                want = []
            if set(have) == set(want):
                continue
            registered = [a for a in have if a in want]
            for arn in want:
                if arn not in have and self._call(elb, "register_targets", account, region,
                                                  arn, iid):
                    registered.append(arn)
            gone = [a for a in have if a not in want]
            for arn in gone:
                self._call(elb, "deregister_targets", account, region, arn, iid)
            until = None
            if gone and m["lifecycle"] in ("Terminating", "Terminating:Wait", "Detaching"):
                until = self.env.clock.now() + drain_delay(self.env, account, region, gone)
            changes[iid] = (registered, until)
        if not changes:
            return
        with self.env.store.tx():
            group = get_group(self.env, account, region, name)
            if group is None:
                return
            for iid, (registered, until) in changes.items():
                m = group["instances"].get(iid)
                if m is not None:
                    m["registered"] = registered
                    if until is not None:
                        m["drain_until"] = until
            save_group(self.env, group)
        wake(self.env, account, region, name)

    def _call(self, elb: Any, op: str, account: str, region: str, arn: str, iid: str) -> bool:
        call = service_call("elasticloadbalancing", op, account, region)
        try:
            getattr(elb, op)(call, {"TargetGroupArn": arn, "Targets": [{"Id": iid}]})
        except AWSError as exc:
            log.info("%s of %s with %s failed: %s", op, iid, arn, exc.message)
            return False
        return True
