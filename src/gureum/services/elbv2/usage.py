"""What load balancers cost, for the billing meter.

Every load balancer is billed by the hour from its creation until it is
deleted (``LoadBalancerUsage``; AWS bills each hour or partial hour it runs
as a whole hour), and by the load balancer capacity units it
uses (``LCUUsage``, LCU-hours): the metric source (``metrics``) keeps the
units used in its last period on the record as ``lcu`` — the highest of new
connections, active connections, processed bytes and rule evaluations, each
against its per-LCU allowance. Operations are ``LoadBalancing:Application``
or ``LoadBalancing:Network`` as in the price list.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from ..billing.sources import Gauge
from .core import LB

SERVICE = "AWSELB"
OPERATIONS = {"application": "LoadBalancing:Application", "network": "LoadBalancing:Network"}


class LoadBalancerUsage:
    """The ELBv2 usage source (see the module docstring)."""

    name = "elbv2"

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        rows = conn.execute(
            "SELECT account, region, data FROM resources WHERE kind = ?", (LB,)).fetchall()
        for account, region, data in rows:
            doc = json.loads(data)
            operation = OPERATIONS.get(doc.get("type", ""))
            if operation is None:
                continue
            common = dict(account=account, region=region, service=SERVICE,
                          resource=doc["arn"], operation=operation,
                          attrs={"tags": doc.get("tags") or {}})
            created = doc.get("created")
            yield Gauge(**common, usage_type="LoadBalancerUsage", amount=1.0, unit="Hrs",
                        since=float(created) if isinstance(created, int | float) else None,
                        whole_hours=True)
            lcu = float(doc.get("lcu") or 0.0)
            if lcu > 0:
                yield Gauge(**common, usage_type="LCUUsage", amount=lcu, unit="LCU-Hrs")
