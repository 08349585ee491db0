"""Secrets Manager on the bill, end to end: boto3's calls are counted as API
requests and a stored secret as its hour's share of a secret-month, shown by
Cost Explorer under "AWS Secrets Manager"."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from gureum.testing.server import running_gureum

from .test_billing import days, grouped


def test_secret_and_calls_on_the_bill() -> None:
    with running_gureum() as g:
        sm, ce = g.client("secretsmanager"), g.client("ce")
        sm.create_secret(Name="app/db", SecretString="pw")
        for _ in range(4):
            assert sm.get_secret_value(SecretId="app/db")["SecretString"] == "pw"
        with pytest.raises(sm.exceptions.ResourceNotFoundException):
            sm.get_secret_value(SecretId="missing")  # a failed call is not billed
        out = ce.get_cost_and_usage(
            TimePeriod=days(), Granularity="DAILY", Metrics=["UsageQuantity"],
            GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
        usage = grouped(out, "UsageQuantity")
        assert usage["AWSSecretsManager-APIRequest"] == 5  # create and 4 gets
        now = dt.datetime.now(dt.UTC)
        hours = calendar.monthrange(now.year, now.month)[1] * 24
        # The hour it was stored in (two if the test ran across an hour's start).
        assert float(usage["AWSSecretsManager-Secrets"]) * hours in (
            pytest.approx(1), pytest.approx(2))
        by_service = grouped(ce.get_cost_and_usage(
            TimePeriod=days(), Granularity="DAILY", Metrics=["UnblendedCost"],
            GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}]), "UnblendedCost")
        assert by_service["AWS Secrets Manager"] > 0
