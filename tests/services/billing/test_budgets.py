"""Budgets: spend from metered usage, notifications recorded when crossed."""

from __future__ import annotations

import pytest

from gureum.errors import AWSError
from gureum.services.budgets import Budgets

from .conftest import ACCOUNT, Harness, price


def budget(name: str = "monthly", amount: str = "1.0", **extra: object) -> dict[str, object]:
    return {"BudgetName": name, "BudgetLimit": {"Amount": amount, "Unit": "USD"},
            "TimeUnit": "MONTHLY", "BudgetType": "COST", **extra}


def test_budget_lifecycle_and_actual_spend(h: Harness) -> None:
    svc = Budgets(h.env)
    h.loop.run_until_complete(svc.start())
    h.run(svc, "create_budget", AccountId=ACCOUNT, Budget=budget(),
          NotificationsWithSubscribers=[
              {"Notification": {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                                "Threshold": 50.0, "ThresholdType": "PERCENTAGE"},
               "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "ops@example.com"}]},
              {"Notification": {"NotificationType": "FORECASTED",
                                "ComparisonOperator": "GREATER_THAN", "Threshold": 100.0}},
          ])
    with pytest.raises(AWSError) as err:
        h.run(svc, "create_budget", AccountId=ACCOUNT, Budget=budget())
    assert err.value.code == "DuplicateRecordException"
    h.instance("i-1", itype="m5.large")
    h.advance(3 * 3600, tick_every=600)
    shown = h.run(svc, "describe_budget", AccountId=ACCOUNT, BudgetName="monthly")["Budget"]
    assert float(shown["CalculatedSpend"]["ActualSpend"]["Amount"]) == pytest.approx(
        3 * price("AmazonEC2", "BoxUsage:m5.large")
        + 8 * 3 / 744 * price("AmazonEC2", "EBS:VolumeUsage.gp3"), rel=1e-6)
    states = h.run(svc, "describe_notifications_for_budget", AccountId=ACCOUNT,
                   BudgetName="monthly")["Notifications"]
    # $0.29 of $1: not yet half; the forecast for the month is far past $1.
    assert [n["NotificationState"] for n in states] == ["OK", "ALARM"]
    h.advance(3 * 3600, tick_every=600)
    states = h.run(svc, "describe_notifications_for_budget", AccountId=ACCOUNT,
                   BudgetName="monthly")["Notifications"]
    assert [n["NotificationState"] for n in states] == ["ALARM", "ALARM"]
    alerts = h.store.resources.list("budgets:alert", ACCOUNT, "")
    assert len(alerts) == 2  # recorded once per period, not once per tick
    h.run(svc, "update_budget", AccountId=ACCOUNT, NewBudget=budget(amount="100"))
    assert h.run(svc, "describe_budgets", AccountId=ACCOUNT)["Budgets"][0]["BudgetLimit"][
        "Amount"] == "100"
    h.run(svc, "delete_budget", AccountId=ACCOUNT, BudgetName="monthly")
    assert h.run(svc, "describe_budgets", AccountId=ACCOUNT)["Budgets"] == []
    assert h.store.resources.list("budgets:alert", ACCOUNT, "") == []
    with pytest.raises(AWSError) as err:
        h.run(svc, "delete_budget", AccountId=ACCOUNT, BudgetName="monthly")
    assert err.value.code == "NotFoundException"


def test_cost_filters_narrow_the_spend(h: Harness) -> None:
    svc = Budgets(h.env)
    h.run(svc, "create_budget", AccountId=ACCOUNT, Budget=budget(
        "s3-only", CostFilters={"Service": ["Amazon Simple Storage Service"]}))
    h.instance("i-1")
    h.meter.count(ACCOUNT, "us-east-1", "AmazonS3", "Requests-Tier1", 1000)
    h.advance(600)
    shown = h.run(svc, "describe_budget", AccountId=ACCOUNT, BudgetName="s3-only")["Budget"]
    assert shown["CalculatedSpend"]["ActualSpend"]["Amount"] == str(
        round(1000 * price("AmazonS3", "Requests-Tier1", "PutObject"), 10))
