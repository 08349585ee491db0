"""DescribeTargetHealth: what the data plane's health checks observed, in
AWS's states and reason codes."""

from __future__ import annotations

import ipaddress
from typing import Any

from gureum.drivers.proxy import ServerHealth
from gureum.errors import AWSError

from ..base import Call
from .core import LB, Doc, ELBv2Core, backend_name, proxy_name
from .dataplane import server_name

REASONS = {
    "status": ("Target.ResponseCodeMismatch", "Health checks failed with these codes: [{code}]"),
    "timeout": ("Target.Timeout", "Request timed out"),
    "connect": ("Target.FailedHealthChecks", "Health checks failed"),
}


def _is_ipv4(text: Any) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class HealthOperations(ELBv2Core):
    async def observed(self, call: Call, tg_arn: str) -> dict[str, ServerHealth] | None:
        """server → health from the first running proxy that checks the group
        (None when no load balancer uses it)."""
        lbs = self.lbs_of_tg(call, tg_arn)
        if not lbs:
            return None
        for lb_arn in lbs:
            lb = self.get(call, LB, lb_arn)
            if lb is None:
                continue
            found = (await self.driver.health(proxy_name(lb))).get(backend_name(tg_arn))
            if found is not None:
                return found
        return {}

    def _instance_running(self, call: Call, tg: Doc, target: Doc) -> bool:
        if tg["target_type"] != "instance":
            return True
        inst = self.store.resources.get("ec2:instance", call.account, call.region, target["id"])
        return inst is not None and inst.get("state") == "running"

    async def describe_target_health(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        tg = self.tg(call, params.get("TargetGroupArn", ""))
        targets = tg["targets"]
        if params.get("Targets"):
            wanted = {(t["Id"], int(t.get("Port") or tg["port"])) for t in params["Targets"]}
            for target_id, _ in wanted:
                if tg["target_type"] == "ip" and not _is_ipv4(target_id):
                    raise AWSError("InvalidTarget", f"The IP address '{target_id}' is not a "
                                   "valid IPv4 address")
                if tg["target_type"] == "instance" and self.store.resources.get(
                        "ec2:instance", call.account, call.region, target_id) is None:
                    raise AWSError("InvalidTarget", "The following targets are not valid "
                                   f"instances: '{target_id}'")
            targets = [t for t in targets if (t["id"], t["port"]) in wanted]
            known = {(t["id"], t["port"]) for t in targets}
            targets += [{"id": i, "port": p, "state": "unknown"} for i, p in wanted - known]
        observed = await self.observed(call, tg["arn"])
        out = []
        port = str(tg["hc"]["port"])
        for t in targets:
            health = self._health(call, tg, t, observed)
            target = {"Id": t["id"], "Port": t["port"]}
            if t.get("zone"):
                target["AvailabilityZone"] = t["zone"]
            out.append({
                "Target": target,
                "HealthCheckPort": str(t["port"]) if port == "traffic-port" else port,
                "TargetHealth": health,
            })
        return {"TargetHealthDescriptions": out}

    def _health(self, call: Call, tg: Doc, t: Doc,
                observed: dict[str, ServerHealth] | None) -> dict[str, str]:
        if t["state"] == "unknown":
            return {"State": "unavailable", "Reason": "Target.NotRegistered",
                    "Description": "Target is not registered to the target group"}
        if t["state"] == "draining":
            return {"State": "draining", "Reason": "Target.DeregistrationInProgress",
                    "Description": "Target deregistration is in progress"}
        if observed is None:
            return {"State": "unused", "Reason": "Target.NotInUse",
                    "Description": "Target group is not configured to receive traffic "
                                   "from the load balancer"}
        if not self._instance_running(call, tg, t):
            return {"State": "unused", "Reason": "Target.InvalidState",
                    "Description": "Target is in the stopped state"}
        if not tg["hc"]["enabled"]:
            return {"State": "unavailable", "Reason": "Target.HealthCheckDisabled",
                    "Description": "Health checks are disabled"}
        seen = observed.get(server_name(t))
        if seen is None or seen.state in ("initial", "draining"):
            return {"State": "initial", "Reason": "Elb.InitialHealthChecking",
                    "Description": "Initial health checks in progress"}
        if seen.state == "healthy":
            return {"State": "healthy"}
        reason, text = REASONS.get(seen.reason, REASONS["connect"])
        return {"State": "unhealthy", "Reason": reason,
                "Description": text.format(code=seen.code)}
