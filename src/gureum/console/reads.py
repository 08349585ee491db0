"""What the console shows, read in-process through the services' own Describe
operations (as the root of the account), so the pages show what the APIs
answer. S3 buckets are read from S3's records instead: S3 bills every
request, and looking at the console must cost nothing. Nothing here writes,
except that Cost Explorer and Budgets bring the meter up to now first, as
their API calls do.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gureum.services.base import Call, Env, Identity, Service
from gureum.services.billing import Unpriced, meter_for

log = logging.getLogger("gureum.console")

BUDGET_ALERT = "budgets:alert"
BUDGET = "budgets:budget"


@dataclass
class Section:
    """One part of a page: its rows, or why it could not be read."""

    rows: list[Any] = field(default_factory=list)
    error: str = ""


class Reader:
    """Reads for one account and region."""

    def __init__(self, env: Env, services: dict[str, Service], account: str,
                 region: str) -> None:
        self.env = env
        self.services = services
        self.account = account
        self.region = region

    async def op(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """Call an operation (``DescribeInstances``) of a service in-process."""
        svc = self.services[service]
        method = getattr(svc, _snake(operation))
        call = Call(service, operation, self.account, self.region, Identity.root(self.account),
                    f"console-{uuid.uuid4()}")
        out = method(call, params)
        if inspect.isawaitable(out):
            out = await out
        result: dict[str, Any] = out
        return result

    async def section(self, name: str, read: Any) -> Section:
        """Run one read; a failure is shown in its section, not as a broken page."""
        try:
            return Section(rows=await read())
        except Exception as exc:  # the other sections still show
            log.warning("console: reading %s failed", name, exc_info=True)
            return Section(error=f"{type(exc).__name__}: {exc}")

    # -- what runs ------------------------------------------------------------

    async def instances(self) -> list[dict[str, Any]]:
        out = await self.op("ec2", "DescribeInstances")
        found = [i for r in out.get("Reservations", []) for i in r.get("Instances", [])]
        return sorted(found, key=lambda i: str(i.get("LaunchTime", "")))

    async def buckets(self) -> list[dict[str, Any]]:
        docs = [b for b in self.env.store.resources.list("s3:bucket")
                if b.get("Owner") == self.account]
        sizes: dict[str, tuple[int, int]] = {}
        conn = self.env.store.connection
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 's3_objects'").fetchone():
            for name, n, total in conn.execute(
                    "SELECT bucket, count(*), coalesce(sum(size), 0) FROM s3_objects"
                    " GROUP BY bucket"):
                sizes[name] = (int(n), int(total))
        rows = []
        for b in sorted(docs, key=lambda d: str(d.get("Name"))):
            n, total = sizes.get(str(b.get("Name")), (0, 0))
            rows.append({**b, "_objects": n, "_bytes": total})
        return rows

    async def load_balancers(self) -> list[dict[str, Any]]:
        lbs = (await self.op("elbv2", "DescribeLoadBalancers")).get("LoadBalancers", [])
        groups = (await self.op("elbv2", "DescribeTargetGroups")).get("TargetGroups", [])
        for tg in groups:
            health = await self.op("elbv2", "DescribeTargetHealth",
                                   TargetGroupArn=tg["TargetGroupArn"])
            tg["_health"] = health.get("TargetHealthDescriptions", [])
        for lb in lbs:
            lb["_groups"] = [tg for tg in groups
                             if lb["LoadBalancerArn"] in tg.get("LoadBalancerArns", [])]
        attached = {tg["TargetGroupArn"] for lb in lbs for tg in lb["_groups"]}
        loose = [tg for tg in groups if tg["TargetGroupArn"] not in attached]
        if loose:
            lbs.append({"LoadBalancerName": "(no load balancer)", "_groups": loose})
        return list(lbs)

    async def db_instances(self) -> list[dict[str, Any]]:
        out = await self.op("rds", "DescribeDBInstances")
        return list(out.get("DBInstances", []))

    async def cache_clusters(self) -> list[dict[str, Any]]:
        out = await self.op("elasticache", "DescribeCacheClusters", ShowCacheNodeInfo=True)
        return list(out.get("CacheClusters", []))

    async def alarms(self) -> list[dict[str, Any]]:
        out = await self.op("cloudwatch", "DescribeAlarms",
                            AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        found = [{**a, "_type": "metric"} for a in out.get("MetricAlarms", [])]
        found += [{**a, "_type": "composite"} for a in out.get("CompositeAlarms", [])]
        return sorted(found, key=lambda a: str(a.get("AlarmName")))

    async def groups(self) -> list[dict[str, Any]]:
        out = await self.op("autoscaling", "DescribeAutoScalingGroups")
        return list(out.get("AutoScalingGroups", []))

    # -- the bill -------------------------------------------------------------------

    async def by_service(self, first: dt.date, tomorrow: dt.date) -> list[tuple[str, Decimal]]:
        out = await self.op("ce", "GetCostAndUsage",
                            TimePeriod={"Start": first.isoformat(), "End": tomorrow.isoformat()},
                            Granularity="MONTHLY", Metrics=["UnblendedCost"],
                            GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}])
        totals: dict[str, Decimal] = {}
        for result in out.get("ResultsByTime", []):
            for g in result.get("Groups", []):
                amount = Decimal(g["Metrics"]["UnblendedCost"]["Amount"])
                totals[g["Keys"][0]] = totals.get(g["Keys"][0], Decimal(0)) + amount
        return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))

    async def top_resources(self, start: dt.date, tomorrow: dt.date, services: list[str],
                            top: int = 10) -> list[tuple[str, str, Decimal]]:
        if not services:
            return []
        out = await self.op("ce", "GetCostAndUsageWithResources",
                            TimePeriod={"Start": start.isoformat(), "End": tomorrow.isoformat()},
                            Granularity="MONTHLY", Metrics=["UnblendedCost"],
                            Filter={"Dimensions": {"Key": "SERVICE", "Values": services}},
                            GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"},
                                     {"Type": "DIMENSION", "Key": "RESOURCE_ID"}])
        totals: dict[tuple[str, str], Decimal] = {}
        for result in out.get("ResultsByTime", []):
            for g in result.get("Groups", []):
                key = (g["Keys"][0], g["Keys"][1])
                totals[key] = totals.get(key, Decimal(0)) + Decimal(
                    g["Metrics"]["UnblendedCost"]["Amount"])
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [(svc, rid, amount) for (svc, rid), amount in ranked]

    async def forecast(self, tomorrow: dt.date, end: dt.date) -> Decimal | None:
        """The spend forecast from tomorrow to ``end`` (None: no history yet)."""
        if tomorrow >= end:
            return Decimal(0)
        try:
            out = await self.op("ce", "GetCostForecast",
                                TimePeriod={"Start": tomorrow.isoformat(),
                                            "End": end.isoformat()},
                                Metric="UNBLENDED_COST", Granularity="MONTHLY")
        except Exception as exc:
            if getattr(exc, "code", "") == "DataUnavailableException":
                return None
            raise
        return Decimal(out["Total"]["Amount"])

    async def unpriced(self, first: dt.date, tomorrow: dt.date) -> list[Unpriced]:
        """Usage metered at 0 between the dates for want of a price (read after
        a Cost Explorer call has brought the meter up to now)."""
        start = dt.datetime.combine(first, dt.time(), dt.UTC).timestamp()
        end = dt.datetime.combine(tomorrow, dt.time(), dt.UTC).timestamp()
        return meter_for(self.env).unpriced(self.account, start, end)

    async def budgets(self) -> list[dict[str, Any]]:
        out = await self.op("budgets", "DescribeBudgets", AccountId=self.account)
        found = list(out.get("Budgets", []))
        for b in found:
            notes = await self.op("budgets", "DescribeNotificationsForBudget",
                                  AccountId=self.account, BudgetName=b["BudgetName"])
            b["_notifications"] = notes.get("Notifications", [])
        return found

    async def crossings(self) -> list[dict[str, Any]]:
        """Every threshold crossing Budgets recorded, newest first."""
        found = self.env.store.resources.list(BUDGET_ALERT, self.account, "")
        return sorted(found, key=lambda a: -float(a.get("CrossedAt", 0)))


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or
                                   (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
