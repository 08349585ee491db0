"""Group metrics: EnableMetricsCollection, DisableMetricsCollection,
DescribeMetricCollectionTypes, and ``GroupMetrics``, the CloudWatch metric
source publishing the enabled ``AWS/AutoScaling`` metrics of every group
each minute (dimension ``AutoScalingGroupName``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..base import Call, Env
from ..cloudwatch.sources import Sample
from .core import GROUP, need_group, save_group, timing, validation

METRICS = ("GroupMinSize", "GroupMaxSize", "GroupDesiredCapacity", "GroupInServiceInstances",
           "GroupPendingInstances", "GroupStandbyInstances", "GroupTerminatingInstances",
           "GroupTotalInstances", "GroupInServiceCapacity", "GroupPendingCapacity",
           "GroupStandbyCapacity", "GroupTerminatingCapacity", "GroupTotalCapacity")
STATES = {"InService": ("InService",), "Pending": ("Pending", "Pending:Wait"),
          "Standby": ("Standby",), "Terminating": ("Terminating", "Terminating:Wait")}


def values(group: dict[str, Any]) -> dict[str, float]:
    """Every group metric's current value."""
    members = list(group["instances"].values())
    out: dict[str, float] = {"GroupMinSize": group["min"], "GroupMaxSize": group["max"],
                             "GroupDesiredCapacity": group["desired"],
                             "GroupTotalInstances": len(members),
                             "GroupTotalCapacity": len(members)}
    for name, states in STATES.items():
        count = sum(1 for m in members if m["lifecycle"] in states)
        out[f"Group{name}Instances"] = out[f"Group{name}Capacity"] = count
    return out


class GroupMetrics:
    """The metric source of groups with metrics collection enabled."""

    name = "autoscaling-groups"

    def __init__(self, env: Env) -> None:
        self.env = env
        self.interval = 60.0 / timing(env).scale

    async def collect(self, now: float) -> Iterable[Sample]:
        out = []
        for group in self.env.store.resources.list(GROUP, where=lambda g: bool(g.get("metrics"))):
            current = values(group)
            dims = (("AutoScalingGroupName", group["name"]),)
            for metric in group["metrics"]:
                out.append(Sample(group["account"], group["region"], "AWS/AutoScaling", metric,
                                  float(current[metric]), now, dims))
        return out


class MetricsOperations:
    env: Env

    def enable_metrics_collection(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("Granularity") != "1Minute":
            raise validation("Granularity must be 1Minute")
        wanted = params.get("Metrics") or list(METRICS)
        for m in wanted:
            if m not in METRICS:
                raise validation(f"Invalid metric name: {m}")
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            enabled = set(group.get("metrics") or []) | set(wanted)
            group["metrics"] = [m for m in METRICS if m in enabled]
            save_group(self.env, group)
        return {}

    def disable_metrics_collection(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        dropped = set(params.get("Metrics") or METRICS)
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            group["metrics"] = [m for m in group.get("metrics") or [] if m not in dropped]
            save_group(self.env, group)
        return {}

    def describe_metric_collection_types(self, call: Call,
                                         params: dict[str, Any]) -> dict[str, Any]:
        return {"Metrics": [{"Metric": m} for m in METRICS],
                "Granularities": [{"Granularity": "1Minute"}]}
