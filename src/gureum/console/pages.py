"""The console's pages: what runs (``overview``) and what it costs (``bill``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from html import escape
from typing import Any

from gureum.services.billing import prices

from .html import Raw, money, page, section, size, state, table, when
from .reads import Reader, Section

log = logging.getLogger("gureum.console")


def _tag(item: dict[str, Any], key: str = "Name") -> str:
    for t in item.get("Tags") or []:
        if t.get("Key") == key:
            return str(t.get("Value", ""))
    return ""


def _part(title: str, anchor: str, got: Section, headers: Sequence[str],
          row: Callable[[Any], Sequence[Any]], empty: str, numeric: Sequence[int] = ()) -> str:
    if not got.error:
        try:
            return section(title, table(headers, [row(r) for r in got.rows], empty=empty,
                                        numeric=numeric), count=len(got.rows), anchor=anchor)
        except Exception as exc:  # an unexpected shape: say so, show the other parts
            log.warning("console: showing %s failed", title, exc_info=True)
            got = Section(error=f"{type(exc).__name__}: {exc}")
    body = f'<p class="warn">Could not read: {escape(got.error)}</p>'
    return section(title, body, anchor=anchor)


def _instance(i: dict[str, Any]) -> Sequence[Any]:
    return (i.get("InstanceId"), _tag(i), i.get("InstanceType"),
            Raw(state((i.get("State") or {}).get("Name"))), i.get("PrivateIpAddress"),
            i.get("PublicIpAddress"), when(i.get("LaunchTime")))


def _bucket(b: dict[str, Any]) -> Sequence[Any]:
    return (b.get("Name"), b.get("Region") or "us-east-1", f"{b['_objects']:,}",
            size(b["_bytes"]), when(b.get("CreationDate")))


def _targets(tg: dict[str, Any]) -> str:
    parts = []
    for d in tg.get("_health", []):
        target, health = d.get("Target", {}), d.get("TargetHealth", {})
        where = f"{target.get('Id')}:{target.get('Port')}"
        reason = health.get("Reason")
        parts.append(f"<code>{escape(where)}</code> {state(health.get('State'))}"
                     + (f' <span class="note">{escape(str(reason))}</span>' if reason else ""))
    return "<br>".join(parts) or '<span class="note">no targets</span>'


def _lb_rows(lbs: list[dict[str, Any]]) -> list[Sequence[Any]]:
    rows: list[Sequence[Any]] = []
    for lb in lbs:
        groups = lb.get("_groups") or [{}]
        for n, tg in enumerate(groups):
            first = n == 0
            lb_state = (lb.get("State") or {}).get("Code")
            rows.append((
                lb.get("LoadBalancerName") if first else "",
                lb.get("Type", "") if first else "",
                Raw(state(lb_state)) if first and lb_state else "",
                lb.get("DNSName", "") if first else "",
                (f"{tg.get('TargetGroupName')} ({tg.get('Protocol', '')}:{tg.get('Port', '')})"
                 if tg else ""),
                Raw(_targets(tg)) if tg else "",
            ))
    return rows


def _db(d: dict[str, Any]) -> Sequence[Any]:
    ep = d.get("Endpoint") or {}
    where = f"{ep.get('Address')}:{ep.get('Port')}" if ep.get("Address") else ""
    return (d.get("DBInstanceIdentifier"), f"{d.get('Engine', '')} {d.get('EngineVersion', '')}",
            d.get("DBInstanceClass"), Raw(state(d.get("DBInstanceStatus"))), where,
            "yes" if d.get("MultiAZ") else "no",
            d.get("ReadReplicaSourceDBInstanceIdentifier") or "")


def _cache(c: dict[str, Any]) -> Sequence[Any]:
    nodes = c.get("CacheNodes") or []
    eps = [n.get("Endpoint") or {} for n in nodes]
    where = ", ".join(f"{e.get('Address')}:{e.get('Port')}" for e in eps if e.get("Address"))
    return (c.get("CacheClusterId"), f"{c.get('Engine', '')} {c.get('EngineVersion', '')}",
            c.get("CacheNodeType"), Raw(state(c.get("CacheClusterStatus"))),
            c.get("ReplicationGroupId") or "", where)


def _alarm(a: dict[str, Any]) -> Sequence[Any]:
    if a["_type"] == "composite":
        what = a.get("AlarmRule", "")
    elif a.get("Metrics"):
        what = ", ".join(str(q.get("Expression") or
                             f"{q['MetricStat']['Metric'].get('Namespace')}/"
                             f"{q['MetricStat']['Metric'].get('MetricName')}")
                         for q in a["Metrics"] if q.get("Expression") or q.get("MetricStat"))
    else:
        dims = ",".join(f"{d.get('Name')}={d.get('Value')}" for d in a.get("Dimensions") or [])
        what = f"{a.get('Namespace')}/{a.get('MetricName')}" + (f" {{{dims}}}" if dims else "")
        if a.get("ComparisonOperator"):
            what += f" {a.get('ComparisonOperator')} {a.get('Threshold')}"
    return (a.get("AlarmName"), a["_type"], Raw(state(a.get("StateValue"))), what,
            a.get("StateReason", ""), when(a.get("StateUpdatedTimestamp")))


def _group(g: dict[str, Any]) -> Sequence[Any]:
    lt = g.get("LaunchTemplate") or (g.get("MixedInstancesPolicy") or {}).get(
        "LaunchTemplate", {}).get("LaunchTemplateSpecification") or {}
    members = "<br>".join(
        f"<code>{escape(str(i.get('InstanceId')))}</code> {state(i.get('LifecycleState'))} "
        f"{state(i.get('HealthStatus'))}" for i in g.get("Instances") or [])
    return (g.get("AutoScalingGroupName"),
            f"{g.get('MinSize')} / {g.get('DesiredCapacity')} / {g.get('MaxSize')}",
            lt.get("LaunchTemplateName") or lt.get("LaunchTemplateId")
            or g.get("LaunchConfigurationName") or "",
            Raw(members or '<span class="note">none</span>'))


async def _alerts_banner(reader: Reader) -> str:
    """The budget thresholds crossed this month, atop the overview."""
    got = await reader.section("crossings", reader.crossings)
    now = dt.datetime.fromtimestamp(reader.env.clock.now(), dt.UTC)
    month = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC).timestamp()
    recent = [a for a in got.rows if float(a.get("CrossedAt", 0)) >= month]
    if not recent:
        return ""
    items = "".join(
        f"<li>{escape(str(a.get('BudgetName')))}: "
        f"{escape(_threshold(a.get('Notification') or {}))} crossed at "
        f"{escape(when(a.get('CrossedAt')))} with {escape(money(a.get('Spend', '0')))} spent"
        "</li>" for a in recent[:5])
    more = f"<li>and {len(recent) - 5} more</li>" if len(recent) > 5 else ""
    return (f'<section class="warn"><h2>Budget thresholds crossed this month</h2>'
            f"<ul>{items}{more}</ul><p>Not e-mailed or sent to SNS: gureum delivers no "
            f'notifications. See <a href="/_gureum/bill#budgets">the bill</a>.</p></section>')


async def overview(reader: Reader) -> str:
    """What runs in the account and region."""
    parts = [
        await _alerts_banner(reader),
        _part("EC2 instances", "instances", await reader.section("ec2", reader.instances),
              ("Instance", "Name", "Type", "State", "Private IP", "Public IP", "Launched"),
              _instance, "No instances."),
        _part("S3 buckets", "buckets", await reader.section("s3", reader.buckets),
              ("Bucket", "Region", "Objects", "Size", "Created"), _bucket, "No buckets.",
              numeric=(2, 3)),
    ]
    lbs = await reader.section("elbv2", reader.load_balancers)
    if lbs.error:
        parts.append(_part("Load balancers", "load-balancers", lbs, (), lambda r: r, ""))
    else:
        count = sum(1 for lb in lbs.rows if lb.get("LoadBalancerArn"))
        parts.append(section("Load balancers and target health", table(
            ("Load balancer", "Type", "State", "DNS name", "Target group", "Targets"),
            _lb_rows(lbs.rows), empty="No load balancers."), count=count,
            anchor="load-balancers"))
    parts += [
        _part("RDS DB instances", "db-instances", await reader.section("rds", reader.db_instances),
              ("DB instance", "Engine", "Class", "Status", "Endpoint", "Multi-AZ", "Replica of"),
              _db, "No DB instances."),
        _part("ElastiCache clusters", "cache-clusters",
              await reader.section("elasticache", reader.cache_clusters),
              ("Cluster", "Engine", "Node type", "Status", "Replication group", "Endpoint"),
              _cache, "No cache clusters."),
        _part("CloudWatch alarms", "alarms", await reader.section("cloudwatch", reader.alarms),
              ("Alarm", "Type", "State", "Watches", "Reason", "Since"), _alarm, "No alarms."),
        _part("Auto Scaling groups", "groups",
              await reader.section("autoscaling", reader.groups),
              ("Group", "Min / desired / max", "Launch template or configuration",
               "Instances"), _group, "No Auto Scaling groups."),
    ]
    return page("What runs", "overview", "".join(parts), _meta(reader))


def _meta(reader: Reader) -> str:
    now = when(reader.env.clock.now())
    return f"account {reader.account} · {reader.region} · {now}"


NOT_SENT = ("gureum does not deliver budget notifications: no e-mail is sent and no SNS "
            "message is published. Each crossing is recorded here (and printed by "
            "<code>gureum bill</code>) instead; the subscribers are those AWS would notify.")


def _threshold(n: dict[str, Any]) -> str:
    unit = "" if n.get("ThresholdType") == "ABSOLUTE_VALUE" else "%"
    op = {"GREATER_THAN": ">", "LESS_THAN": "<", "EQUAL_TO": "="}.get(
        str(n.get("ComparisonOperator")), str(n.get("ComparisonOperator")))
    return f"{n.get('NotificationType')} {op} {float(n.get('Threshold', 0)):g}{unit}"


def _subscribers(subs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{s.get('SubscriptionType')} {s.get('Address')}" for s in subs) or "none"


async def bill(reader: Reader) -> str:
    """Month to date by service, top resources, forecast, budgets and crossings."""
    now = dt.datetime.fromtimestamp(reader.env.clock.now(), dt.UTC)
    today = now.date()
    first, tomorrow = today.replace(day=1), today + dt.timedelta(days=1)
    month_end = (first + dt.timedelta(days=32)).replace(day=1)
    parts = []
    services = await reader.section("ce", lambda: reader.by_service(first, tomorrow))
    total = sum((amount for _, amount in services.rows), Decimal(0))
    if services.error:
        parts.append(_part("Month to date", "month", services, (), lambda r: r, ""))
    else:
        forecast = await reader.section("forecast", lambda: _one(reader.forecast(tomorrow,
                                                                                 month_end)))
        rest = forecast.rows[0] if forecast.rows else None
        if forecast.error:
            ahead = f'<p class="warn">Forecast unavailable: {escape(forecast.error)}</p>'
        elif rest is None:
            ahead = '<p class="note">No forecast yet: nothing has been metered.</p>'
        else:
            ahead = (f"<p>Forecast for the whole month ({first:%B %Y}): "
                     f"<strong>{money(total + rest)}</strong> "
                     f'<span class="note">(the recent spend rate carried to '
                     f"{month_end - dt.timedelta(days=1):%Y-%m-%d})</span></p>")
        body = table(("Service", "Cost"), [(s, money(a)) for s, a in services.rows],
                     empty="Nothing metered this month yet.", numeric=(1,),
                     total=("Total", money(total)))
        parts.append(section(f"Month to date ({first.isoformat()} to {today.isoformat()})",
                             body + ahead, anchor="month"))
    if not services.error:
        missing = await reader.section("unpriced", lambda: reader.unpriced(first, tomorrow))
        parts.append(_unpriced(missing))
    start = max(first, today - dt.timedelta(days=13))
    names = [s for s, _ in services.rows]
    top = await reader.section("top", lambda: reader.top_resources(start, tomorrow, names))
    parts.append(_part(f"Top resources ({start.isoformat()} to {today.isoformat()})", "top",
                       top, ("Service", "Resource", "Cost"),
                       lambda r: (r[0], r[1] or "(no resource)", money(r[2])),
                       "No resource has cost anything yet.", numeric=(2,)))
    parts.append(await _budgets(reader))
    taken = prices().taken
    parts.append(f'<p class="note">Prices: AWS on-demand list prices for us-east-1 as of '
                 f"{escape(taken)}, in USD; free tiers, savings plans and taxes are not "
                 f"applied. Metered every few seconds; amounts are estimates as on AWS.</p>")
    return page("Bill", "bill", "".join(parts), _meta(reader))


def _unpriced(got: Section) -> str:
    """What was used but billed at 0 because the price list has no price for
    it: said out loud, so a bill that looks cheap is not taken for a real one."""
    if got.error:
        return section("Not billed", f'<p class="warn">Could not read: {escape(got.error)}</p>',
                       anchor="unpriced")
    if not got.rows:
        return ""
    items = "".join(f"<li>{escape(u.message())}</li>" for u in got.rows)
    body = (f'<p class="warn">gureum\'s price list has no price for these: their usage is '
            f"metered but costs $0 in this bill, which is below what AWS would charge.</p>"
            f"<ul>{items}</ul>")
    return section("Not billed", body, count=len(got.rows), anchor="unpriced")


async def _budgets(reader: Reader) -> str:
    got = await reader.section("budgets", reader.budgets)
    crossed = await reader.section("crossings", reader.crossings)

    def row(b: dict[str, Any]) -> Sequence[Any]:
        spend = b.get("CalculatedSpend") or {}
        alarms = [n for n in b["_notifications"] if n.get("NotificationState") == "ALARM"]
        notes = "<br>".join(f"{escape(_threshold(n))} {state(n.get('NotificationState'))}"
                            for n in b["_notifications"])
        return (b.get("BudgetName"), b.get("TimeUnit"),
                money(b.get("BudgetLimit", {}).get("Amount", "0")),
                money(spend.get("ActualSpend", {}).get("Amount", "0")),
                money(spend.get("ForecastedSpend", {}).get("Amount", "0")),
                Raw(state("ALARM" if alarms else "OK")),
                Raw(notes or '<span class="note">none</span>'))

    if got.error:
        body = f'<p class="warn">Could not read: {escape(got.error)}</p>'
    else:
        body = table(("Budget", "Period", "Limit", "Actual", "Forecasted", "State",
                      "Notifications"), [row(b) for b in got.rows], empty="No budgets.",
                     numeric=(2, 3, 4))
    crossings = crossed.rows
    body += "<h2>Thresholds crossed</h2>"
    if crossed.error:
        body += f'<p class="warn">Could not read: {escape(crossed.error)}</p>'
    else:
        body += table(
            ("Budget", "Notification", "Crossed at", "Spend then", "Threshold", "Subscribers"),
            [(a.get("BudgetName"), _threshold(a.get("Notification") or {}),
              when(a.get("CrossedAt")), money(a.get("Spend", "0")),
              money(a.get("Threshold", "0")), _subscribers(a.get("Subscribers") or []))
             for a in crossings],
            empty="No threshold has been crossed.", numeric=(3, 4))
        if crossings:
            body += f'<p class="warn">{NOT_SENT}</p>'
    return section("Budgets", body, count=len(got.rows), anchor="budgets")


async def _one(value: Any) -> list[Any]:
    result = await value
    return [result] if result is not None else []
