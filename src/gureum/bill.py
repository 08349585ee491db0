"""``gureum bill``: the month-to-date bill of an account by service, its most
expensive resources, the month's forecast and budgets in alarm — read from the
running gureum's Cost Explorer and Budgets APIs, as any client would."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from decimal import Decimal
from typing import Any


def _client(service: str, endpoint: str, access_key: str, secret_key: str) -> Any:
    import botocore.session
    from botocore.config import Config

    return botocore.session.get_session().create_client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        config=Config(retries={"max_attempts": 1}),
    )


def _money(amount: Decimal) -> str:
    # Local clouds run up tiny bills: keep the digits that show them.
    return f"${amount:,.2f}" if amount >= 100 else f"${amount:,.6f}"


def report(endpoint: str, access_key: str, secret_key: str, *, top: int = 5,
           today: dt.date | None = None) -> str:
    ce = _client("ce", endpoint, access_key, secret_key)
    today = today or dt.datetime.now(dt.UTC).date()
    first = today.replace(day=1)
    tomorrow = today + dt.timedelta(days=1)
    period = {"Start": first.isoformat(), "End": tomorrow.isoformat()}
    account = _client("sts", endpoint, access_key, secret_key).get_caller_identity()["Account"]
    lines = [f"gureum bill for account {account}, month to date "
             f"({first.isoformat()} to {today.isoformat()})", ""]
    by_service: dict[str, Decimal] = {}
    for result in ce.get_cost_and_usage(
        TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost"],
        GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}],
    )["ResultsByTime"]:
        for group in result.get("Groups", []):
            amount = Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
            by_service[group["Keys"][0]] = by_service.get(group["Keys"][0], Decimal(0)) + amount
    total = sum(by_service.values(), Decimal(0))
    width = max([len(s) for s in by_service] + [len("total")])
    for service, amount in sorted(by_service.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {service:<{width}}  {_money(amount):>14}")
    lines.append(f"  {'total':<{width}}  {_money(total):>14}")
    missing = _unpriced(endpoint, account)
    if missing:
        lines += ["", "not billed (gureum's price list has no price; AWS would charge):"]
        lines += [f"  {m}" for m in missing]
    if by_service:
        resources = _top_resources(ce, today, list(by_service), top)
        if resources:
            lines += ["", f"top {len(resources)} resources (last 14 days):"]
            lines += [f"  {rid:<40}  {_money(amount):>14}" for rid, amount in resources]
    end_of_month = (first + dt.timedelta(days=32)).replace(day=1)
    if tomorrow < end_of_month:
        forecast = ce.get_cost_forecast(
            TimePeriod={"Start": tomorrow.isoformat(), "End": end_of_month.isoformat()},
            Metric="UNBLENDED_COST", Granularity="MONTHLY",
        )
        rest = Decimal(forecast["Total"]["Amount"])
        lines += ["", f"forecast for the whole month: {_money(total + rest)}"]
    lines += _budgets(endpoint, access_key, secret_key, account)
    return "\n".join(lines)


def _top_resources(ce: Any, today: dt.date, services: list[str], top: int
                   ) -> list[tuple[str, Decimal]]:
    start = today - dt.timedelta(days=13)
    out: dict[str, Decimal] = {}
    for result in ce.get_cost_and_usage_with_resources(
        TimePeriod={"Start": start.isoformat(),
                    "End": (today + dt.timedelta(days=1)).isoformat()},
        Granularity="MONTHLY", Metrics=["UnblendedCost"],
        Filter={"Dimensions": {"Key": "SERVICE", "Values": services}},
        GroupBy=[{"Type": "DIMENSION", "Key": "RESOURCE_ID"}],
    )["ResultsByTime"]:
        for group in result.get("Groups", []):
            rid = group["Keys"][0] or "(no resource)"
            out[rid] = out.get(rid, Decimal(0)) + Decimal(
                group["Metrics"]["UnblendedCost"]["Amount"])
    return sorted(out.items(), key=lambda kv: -kv[1])[:top]


def _budgets(endpoint: str, access_key: str, secret_key: str, account: str) -> list[str]:
    budgets = _client("budgets", endpoint, access_key, secret_key)
    found = budgets.describe_budgets(AccountId=account).get("Budgets", [])
    if not found:
        return []
    crossings = _crossings(endpoint)
    lines = ["", "budgets:"]
    for budget in found:
        name = budget["BudgetName"]
        limit = budget.get("BudgetLimit", {}).get("Amount", "?")
        actual = budget.get("CalculatedSpend", {}).get("ActualSpend", {}).get("Amount", "0")
        alarms = [
            n for n in budgets.describe_notifications_for_budget(
                AccountId=account, BudgetName=name).get("Notifications", [])
            if n.get("NotificationState") == "ALARM"
        ]
        state = "ALARM" if alarms else "ok"
        lines.append(f"  {name}: {_money(Decimal(actual))} of ${limit} ({state})")
        for n in alarms:
            lines.append(f"    crossed: {_threshold(n)}")
            for c in crossings:
                if c.get("BudgetName") == name and _threshold(c.get("Notification", {})) == \
                        _threshold(n):
                    at = dt.datetime.fromtimestamp(float(c["CrossedAt"]), dt.UTC)
                    subs = ", ".join(f"{s.get('SubscriptionType')} {s.get('Address')}"
                                     for s in c.get("Subscribers") or []) or "no subscribers"
                    lines.append(f"      at {at:%Y-%m-%d %H:%M:%S} UTC with "
                                 f"{_money(Decimal(c.get('Spend', '0')))} spent; "
                                 f"not sent to {subs} (gureum delivers no notifications)")
    return lines


def _unpriced(endpoint: str, account: str) -> list[str]:
    """What the month used that the price list has no price for, said as
    "no price for db.x.y — not billed" (gureum's own record, served to
    loopback clients; none when it cannot be read)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_gureum/unpriced.json?account={account}",
                                    timeout=10) as r:
            found: list[dict[str, Any]] = json.load(r).get("unpriced", [])
    except (OSError, ValueError):
        return []
    return [str(u.get("Message", "")) for u in found]


def _threshold(n: dict[str, Any]) -> str:
    unit = "" if n.get("ThresholdType") == "ABSOLUTE_VALUE" else "%"
    return (f"{n.get('NotificationType')} {n.get('ComparisonOperator')} "
            f"{n.get('Threshold')}{unit}")


def _crossings(endpoint: str) -> list[dict[str, Any]]:
    """When and at what spend each threshold was crossed: gureum's own record
    (the Budgets API has no such call), served to loopback clients."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_gureum/budget-alerts.json",
                                    timeout=10) as r:
            found: list[dict[str, Any]] = json.load(r).get("alerts", [])
            return found
    except (OSError, ValueError):
        return []
