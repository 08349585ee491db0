"""ELB's quotas as DescribeAccountLimits reports them: AWS's defaults, by
AWS's names. Where gureum enforces a quota it enforces the value here
(load balancers of each type, target groups, listeners, rules and
certificates per load balancer, target groups per forward action, condition
values per rule), so the two cannot disagree."""

from __future__ import annotations

from typing import Any

from ..base import Call
from .core import name_page

LOAD_BALANCERS = 50  # of each type, per account and region
TARGET_GROUPS = 3000
LISTENERS_PER_LB = 50
RULES_PER_ALB = 100  # rules of all its listeners, the default rules not counted
CERTIFICATES_PER_LB = 25  # the default certificates not counted
TARGET_GROUPS_PER_ACTION = 5
CONDITION_VALUES_PER_RULE = 5

LIMITS: tuple[tuple[str, int], ...] = (
    ("application-load-balancers", LOAD_BALANCERS),
    ("condition-values-per-alb-rule", CONDITION_VALUES_PER_RULE),
    ("condition-wildcards-per-alb-rule", 5),
    ("gateway-load-balancers", 100),
    ("gateway-load-balancers-per-vpc", 100),
    ("geneve-target-groups", 100),
    ("listeners-per-application-load-balancer", LISTENERS_PER_LB),
    ("listeners-per-network-load-balancer", LISTENERS_PER_LB),
    ("network-load-balancer-enis-per-vpc", 1200),
    ("network-load-balancers", LOAD_BALANCERS),
    ("rules-per-application-load-balancer", RULES_PER_ALB),
    ("target-groups", TARGET_GROUPS),
    ("target-groups-per-action-on-application-load-balancer", TARGET_GROUPS_PER_ACTION),
    ("target-groups-per-action-on-network-load-balancer", 1),
    ("target-groups-per-application-load-balancer", 100),
    ("targets-per-application-load-balancer", 1000),
    ("targets-per-availability-zone-per-network-load-balancer", 500),
    ("targets-per-network-load-balancer", 3000),
    ("certificates-per-application-load-balancer", CERTIFICATES_PER_LB),
    ("certificates-per-network-load-balancer", CERTIFICATES_PER_LB),
)


class LimitOperations:
    def describe_account_limits(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        start, end, after = name_page([n for n, _ in LIMITS], params)
        out: dict[str, Any] = {"Limits": [{"Name": n, "Max": str(v)}
                                          for n, v in LIMITS[start:end]]}
        if after is not None:
            out["NextMarker"] = after
        return out
