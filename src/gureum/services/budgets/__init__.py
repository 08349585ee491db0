"""AWS Budgets: cost (and usage) budgets whose actual and forecasted spend
come from the metered usage, and notifications whose crossings are recorded.

A budget is a generic record (``budgets:budget``, account, global). After
each meter tick every budget is evaluated; a notification whose threshold
is crossed in the current budget period is recorded once per period (the
record holds when and at what spend) and shows ``ALARM`` until the period
ends.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env, Service
from ..billing.meter import meter_for
from ..billing.usage import Usage
from ..ce import query, spend
from ..ce.forecast import rate

log = logging.getLogger("gureum.budgets")

KIND = "budgets:budget"
ALERT = "budgets:alert"
TIME_UNITS = {"DAILY", "MONTHLY", "QUARTERLY", "ANNUALLY"}
# Budgets' CostFilters keys -> Cost Explorer dimensions
FILTER_KEYS = {"Service": "SERVICE", "Region": "REGION", "UsageType": "USAGE_TYPE",
               "InstanceType": "INSTANCE_TYPE", "LinkedAccount": "LINKED_ACCOUNT",
               "Operation": "OPERATION", "UsageTypeGroup": "USAGE_TYPE_GROUP",
               "PurchaseType": "PURCHASE_TYPE", "AZ": "AZ"}


def _invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterException", message)


def _not_found(message: str) -> AWSError:
    return AWSError("NotFoundException", message)


def period_of(unit: str, t: float) -> tuple[dt.datetime, dt.datetime]:
    """The budget period holding ``t``."""
    d = dt.datetime.fromtimestamp(t, dt.UTC)
    if unit == "DAILY":
        start = dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)
        return start, start + dt.timedelta(days=1)
    if unit == "MONTHLY":
        start = dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC)
        months = 1
    elif unit == "QUARTERLY":
        start = dt.datetime(d.year, (d.month - 1) // 3 * 3 + 1, 1, tzinfo=dt.UTC)
        months = 3
    else:
        start = dt.datetime(d.year, 1, 1, tzinfo=dt.UTC)
        months = 12
    month = start.month - 1 + months
    return start, dt.datetime(start.year + month // 12, month % 12 + 1, 1, tzinfo=dt.UTC)


def filter_expression(budget: dict[str, Any]) -> dict[str, Any] | None:
    """The budget's filter as a Cost Explorer expression."""
    if budget.get("FilterExpression"):
        expr: dict[str, Any] = budget["FilterExpression"]
        return expr
    parts: list[dict[str, Any]] = []
    for key, values in (budget.get("CostFilters") or {}).items():
        if key == "TagKeyValue":
            by_key: dict[str, list[str]] = {}
            for kv in values:
                k, _, v = str(kv).partition("$")
                by_key.setdefault(k, []).append(v)
            parts += [{"Tags": {"Key": k, "Values": vs}} for k, vs in by_key.items()]
        elif key in FILTER_KEYS:
            parts.append({"Dimensions": {"Key": FILTER_KEYS[key], "Values": list(values)}})
        else:
            raise _invalid(f"Unsupported cost filter {key}")
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"And": parts}


def _notification_key(n: dict[str, Any]) -> str:
    return "|".join([n.get("NotificationType", ""), n.get("ComparisonOperator", ""),
                     repr(float(n.get("Threshold", 0))), n.get("ThresholdType", "PERCENTAGE")])


def _compare(value: Decimal, op: str, threshold: Decimal) -> bool:
    if op == "GREATER_THAN":
        return value > threshold
    if op == "LESS_THAN":
        return value < threshold
    return value == threshold


class Budgets(Service):
    name = "budgets"
    kinds = (KIND, ALERT)

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.meter = meter_for(env)
        self.usage = Usage(env.store.connection)

    async def start(self) -> None:
        if self.evaluate not in self.meter.listeners:
            self.meter.listeners.append(self.evaluate)

    async def stop(self) -> None:
        if self.evaluate in self.meter.listeners:
            self.meter.listeners.remove(self.evaluate)

    # -- records --------------------------------------------------------------

    def _account(self, call: Call, params: dict[str, Any]) -> str:
        account = str(params.get("AccountId", ""))
        if account != call.account:
            raise AWSError("AccessDeniedException",
                           f"Account {call.account} may not manage budgets of {account}")
        return account

    def _get(self, account: str, name: str) -> dict[str, Any]:
        doc: dict[str, Any] | None = self.env.store.resources.get(KIND, account, "", name)
        if doc is None:
            raise _not_found(f"Unable to get budget: {name} - the budget doesn't exist.")
        return doc

    def _validated(self, budget: dict[str, Any]) -> dict[str, Any]:
        name = str(budget.get("BudgetName", ""))
        if not name or len(name) > 100 or ":" in name or "\\" in name:
            raise _invalid("The budget name is invalid")
        if budget.get("TimeUnit") not in TIME_UNITS:
            raise _invalid(f"TimeUnit must be one of {sorted(TIME_UNITS)}")
        btype = budget.get("BudgetType")
        if btype not in ("COST", "USAGE"):
            raise _invalid("gureum meters COST and USAGE budgets")
        limit = budget.get("BudgetLimit")
        if not limit or "Amount" not in limit:
            raise _invalid("BudgetLimit is required")
        try:
            if Decimal(str(limit["Amount"])) < 0:
                raise _invalid("BudgetLimit must not be negative")
        except ArithmeticError as exc:
            raise _invalid("BudgetLimit amount is not a number") from exc
        query.predicate(filter_expression(budget))
        kept = {k: v for k, v in budget.items() if k not in ("CalculatedSpend",
                                                              "LastUpdatedTime")}
        kept.setdefault("CostTypes", {"IncludeTax": True, "IncludeSubscription": True,
                                      "UseBlended": False, "IncludeRefund": False,
                                      "IncludeCredit": False, "IncludeUpfront": True,
                                      "IncludeRecurring": True, "IncludeOtherSubscription": True,
                                      "IncludeSupport": True, "IncludeDiscount": True,
                                      "UseAmortized": False})
        kept["BudgetLimit"] = {"Amount": str(limit["Amount"]), "Unit": limit.get("Unit", "USD")}
        return kept

    def _notification(self, n: dict[str, Any]) -> dict[str, Any]:
        if n.get("NotificationType") not in ("ACTUAL", "FORECASTED"):
            raise _invalid("NotificationType must be ACTUAL or FORECASTED")
        if n.get("ComparisonOperator") not in ("GREATER_THAN", "LESS_THAN", "EQUAL_TO"):
            raise _invalid("ComparisonOperator is invalid")
        threshold = float(n.get("Threshold", -1))
        if threshold < 0:
            raise _invalid("Threshold must be a positive number")
        return {"NotificationType": n["NotificationType"],
                "ComparisonOperator": n["ComparisonOperator"], "Threshold": threshold,
                "ThresholdType": n.get("ThresholdType", "PERCENTAGE")}

    # -- spend ---------------------------------------------------------------------

    def _spend(self, account: str, budget: dict[str, Any], now: float) -> tuple[Decimal,
                                                                              Decimal]:
        """(actual, forecasted) spend of the budget's current period."""
        lo, hi = period_of(budget["TimeUnit"], now)
        expr = filter_expression(budget)
        actual = spend(self.usage, account, lo.timestamp(), hi.timestamp(), expr)
        per_second = rate(self.usage, account, now, query.predicate(expr), True)
        ahead = Decimal(max(0.0, hi.timestamp() - now))
        forecast = actual + (per_second * ahead if per_second is not None else Decimal(0))
        return actual.quantize(query.PLACES), forecast.quantize(query.PLACES)

    def _shown(self, account: str, budget: dict[str, Any]) -> dict[str, Any]:
        now = self.env.clock.now()
        actual, forecast = self._spend(account, budget, now)
        unit = budget["BudgetLimit"].get("Unit", "USD")
        shown = {k: v for k, v in budget.items() if k not in ("Notifications", "Created")}
        lo, _ = period_of(budget["TimeUnit"], now)
        shown.setdefault("TimePeriod", {"Start": budget.get("Created", lo.timestamp()),
                                        "End": 3706473600.0})
        shown["CalculatedSpend"] = {
            "ActualSpend": {"Amount": query.amount(actual), "Unit": unit},
            "ForecastedSpend": {"Amount": query.amount(forecast), "Unit": unit},
        }
        return shown

    def evaluate(self, now: float) -> None:
        """Record each notification crossed in its budget's current period."""
        with self.env.store.tx():
            for budget in self.env.store.resources.list(KIND):
                account = budget["Account"]
                actual, forecast = self._spend(account, budget, now)
                limit = Decimal(str(budget["BudgetLimit"]["Amount"]))
                lo, _ = period_of(budget["TimeUnit"], now)
                for entry in budget.get("Notifications", []):
                    n = entry["Notification"]
                    value = actual if n["NotificationType"] == "ACTUAL" else forecast
                    threshold = Decimal(repr(n["Threshold"]))
                    if n.get("ThresholdType", "PERCENTAGE") == "PERCENTAGE":
                        threshold = limit * threshold / 100
                    if not _compare(value, n["ComparisonOperator"], threshold):
                        continue
                    alert_id = f"{budget['BudgetName']}|{_notification_key(n)}|{lo.timestamp()}"
                    if self.env.store.resources.get(ALERT, account, "", alert_id) is None:
                        log.warning("budget %s: %s spend %s crossed %s %s", budget["BudgetName"],
                                    n["NotificationType"], value, n["ComparisonOperator"],
                                    threshold)
                        self.env.store.resources.put(ALERT, account, "", alert_id, {
                            "BudgetName": budget["BudgetName"], "Notification": n,
                            "PeriodStart": lo.timestamp(), "CrossedAt": now,
                            "Spend": str(value), "Threshold": str(threshold),
                            "Subscribers": entry.get("Subscribers", []),
                        })

    def _alerted(self, account: str, name: str, n: dict[str, Any], now: float,
                 unit: str) -> bool:
        lo, _ = period_of(unit, now)
        alert_id = f"{name}|{_notification_key(n)}|{lo.timestamp()}"
        return self.env.store.resources.get(ALERT, account, "", alert_id) is not None

    # -- operations ---------------------------------------------------------------

    def create_budget(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        budget = self._validated(params["Budget"])
        notifications = [
            {"Notification": self._notification(e["Notification"]),
             "Subscribers": list(e.get("Subscribers") or [])}
            for e in params.get("NotificationsWithSubscribers") or []
        ]
        now = self.env.clock.now()
        with self.env.store.tx():
            name = budget["BudgetName"]
            if self.env.store.resources.get(KIND, account, "", name) is not None:
                raise AWSError("DuplicateRecordException",
                               f"Error creating budget: {name} - the budget already exists.")
            budget.update(Account=account, Notifications=notifications, Created=now,
                          LastUpdatedTime=now)
            self.env.store.resources.put(KIND, account, "", name, budget)
        return {}

    def describe_budget(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        self.meter.tick()
        return {"Budget": self._shown(account, self._get(account, params["BudgetName"]))}

    def describe_budgets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        self.meter.tick()
        budgets = sorted(self.env.store.resources.list(KIND, account, ""),
                         key=lambda b: str(b["BudgetName"]))
        limit = int(params.get("MaxResults") or 100)
        offset = int(params["NextToken"]) if str(params.get("NextToken", "")).isdigit() else 0
        page = budgets[offset:offset + limit]
        out: dict[str, Any] = {"Budgets": [self._shown(account, b) for b in page]}
        if offset + limit < len(budgets):
            out["NextToken"] = str(offset + limit)
        return out

    def update_budget(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        new = self._validated(params["NewBudget"])
        with self.env.store.tx():
            old = self._get(account, new["BudgetName"])
            new.update(Account=account, Notifications=old.get("Notifications", []),
                       Created=old.get("Created"), LastUpdatedTime=self.env.clock.now())
            self.env.store.resources.put(KIND, account, "", new["BudgetName"], new)
        return {}

    def delete_budget(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        name = params["BudgetName"]
        with self.env.store.tx():
            self._get(account, name)
            self.env.store.resources.delete(KIND, account, "", name)
            for alert in self.env.store.resources.list(
                    ALERT, account, "", where=lambda a: a["BudgetName"] == name):
                alert_id = (f"{name}|{_notification_key(alert['Notification'])}|"
                            f"{alert['PeriodStart']}")
                self.env.store.resources.delete(ALERT, account, "", alert_id)
        return {}

    def describe_notifications_for_budget(self, call: Call,
                                          params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        self.meter.tick()
        budget = self._get(account, params["BudgetName"])
        now = self.env.clock.now()
        out = []
        for entry in budget.get("Notifications", []):
            n = dict(entry["Notification"])
            alarm = self._alerted(account, budget["BudgetName"], n, now, budget["TimeUnit"])
            n["NotificationState"] = "ALARM" if alarm else "OK"
            out.append(n)
        return {"Notifications": out}

    def create_notification(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        n = self._notification(params["Notification"])
        with self.env.store.tx():
            budget = self._get(account, params["BudgetName"])
            entries = budget.setdefault("Notifications", [])
            if any(_notification_key(e["Notification"]) == _notification_key(n)
                   for e in entries):
                raise AWSError("DuplicateRecordException", "The notification already exists.")
            entries.append({"Notification": n, "Subscribers": list(params["Subscribers"])})
            self.env.store.resources.put(KIND, account, "", budget["BudgetName"], budget)
        return {}

    def delete_notification(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        key = _notification_key(self._notification(params["Notification"]))
        with self.env.store.tx():
            budget = self._get(account, params["BudgetName"])
            entries = budget.get("Notifications", [])
            kept = [e for e in entries if _notification_key(e["Notification"]) != key]
            if len(kept) == len(entries):
                raise _not_found("The notification does not exist.")
            budget["Notifications"] = kept
            self.env.store.resources.put(KIND, account, "", budget["BudgetName"], budget)
        return {}

    def describe_subscribers_for_notification(self, call: Call,
                                              params: dict[str, Any]) -> dict[str, Any]:
        account = self._account(call, params)
        key = _notification_key(self._notification(params["Notification"]))
        budget = self._get(account, params["BudgetName"])
        for e in budget.get("Notifications", []):
            if _notification_key(e["Notification"]) == key:
                return {"Subscribers": e.get("Subscribers", [])}
        raise _not_found("The notification does not exist.")
