"""What load balancers cost, for the billing meter.

Every load balancer is billed by the hour from its creation until it is
deleted (``LoadBalancerUsage``; AWS bills each hour or partial hour it runs
as a whole hour), and by the load balancer capacity units it uses
(``LCUUsage``, LCU-hours), computed per clock hour as AWS computes them: the
metric source (``metrics``) adds each period's new connections, active
connection-seconds, processed bytes and rule evaluations to the hour on the
record (``lcu_hours``), and each hour is billed the highest of its
dimensions' averages over the hour (``hour_lcus``). Operations are
``LoadBalancing:Application`` or ``LoadBalancing:Network`` as in the price
list.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from ..billing.sources import Gauge
from .core import LB
from .metrics import hour_lcus

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
            hours = tuple(sorted(
                (int(hour), hour_lcus(doc["type"], *(float(v) for v in figures[:4])))
                for hour, figures in (doc.get("lcu_hours") or {}).items()))
            if hours:
                yield Gauge(**common, usage_type="LCUUsage", amount=0.0, unit="LCU-Hrs",
                            hour_totals=hours)
