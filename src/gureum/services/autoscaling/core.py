"""What every Auto Scaling module shares: store kinds, loop keys, ARNs, timing,
the group record's helpers and AWS's errors.

A group is one document (kind ``autoscaling:group``) holding its settings and
its members (``instances``: id → member record). API calls and the group loop
both change it inside one transaction each, so the two never lose each other's
writes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env

GROUP = "autoscaling:group"
CONFIG = "autoscaling:launch-configuration"
POLICY = "autoscaling:policy"
ACTIVITY = "autoscaling:activity"
SCHEDULED = "autoscaling:scheduled-action"
LOOP = "autoscaling-groups"
TIMING_KEY = "autoscaling.timing"  # Env.extras: a Timing to use instead of AWS's

# Lifecycle states of a member that count toward the group's capacity.
ACTIVE = ("Pending", "Pending:Wait", "InService")


@dataclass(frozen=True)
class Timing:
    """How often the group loop looks again. ``scale`` divides AWS's own
    timings (cooldowns, warm-up, target-tracking alarm periods) for fast local
    runs; 1.0 follows AWS."""

    settle: float = 1.0  # while instances launch or terminate
    check: float = 5.0  # health checks of a steady group
    retry: float = 10.0  # after a failed launch
    scale: float = 1.0

    def aws(self, seconds: float) -> float:
        return seconds / self.scale


def timing(env: Env) -> Timing:
    """The timing in ``Env.extras`` (tests), else AWS's divided by the setting
    ``time_scale`` when the settings have one (fast local runs)."""
    found = env.extras.get(TIMING_KEY)
    if isinstance(found, Timing):
        return found
    scale = float(getattr(env.settings, "time_scale", 1.0) or 1.0)
    if scale <= 1.0:
        return Timing(scale=scale)
    # Sped up, a steady group is also checked more often (no more than once a
    # second), so a dead instance is noticed as much sooner as a breach is.
    return Timing(check=max(1.0, Timing.check / scale), scale=scale)


def group_key(account: str, region: str, name: str) -> str:
    return f"{account}|{region}|{name}"


def split_key(key: str) -> tuple[str, str, str]:
    account, region, name = key.split("|", 2)
    return account, region, name


def group_arn(account: str, region: str, name: str, uid: str) -> str:
    return (f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:{uid}"
            f":autoScalingGroupName/{name}")


def config_arn(account: str, region: str, name: str, uid: str) -> str:
    return (f"arn:aws:autoscaling:{region}:{account}:launchConfiguration:{uid}"
            f":launchConfigurationName/{name}")


def policy_arn(account: str, region: str, group: str, name: str, uid: str) -> str:
    return (f"arn:aws:autoscaling:{region}:{account}:scalingPolicy:{uid}"
            f":autoScalingGroupName/{group}:policyName/{name}")


def new_uid() -> str:
    return str(uuid.uuid4())


def stamp(t: float) -> str:
    """AWS's timestamps in activity causes: ``2024-01-02T03:04:05Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def validation(message: str) -> AWSError:
    return AWSError("ValidationError", message)


def get_group(env: Env, account: str, region: str, name: str) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = env.store.resources.get(GROUP, account, region, name)
    return doc


def need_group(env: Env, call: Call, name: str | None) -> dict[str, Any]:
    if not name:
        raise validation("AutoScalingGroupName is required")
    doc = get_group(env, call.account, call.region, name)
    if doc is None:
        raise validation(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
    return doc


def save_group(env: Env, doc: dict[str, Any]) -> None:
    env.store.resources.put(GROUP, doc["account"], doc["region"], doc["name"], doc)


def wake(env: Env, account: str, region: str, name: str, after: float = 0.0) -> None:
    if LOOP in env.loops:
        env.loops.wake(LOOP, group_key(account, region, name), after=after)


def active(group: dict[str, Any]) -> list[dict[str, Any]]:
    """Members that count toward capacity: launching or in service, healthy."""
    return [m for m in group["instances"].values()
            if m["lifecycle"] in ACTIVE and m["health"] == "Healthy"]


def clamp(group: dict[str, Any], desired: int) -> int:
    return max(int(group["min"]), min(int(group["max"]), desired))
