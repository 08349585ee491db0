"""`gureum bill` prints the month-to-date bill from the running gureum."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from gureum.testing.server import running_gureum


def test_bill_shows_services_total_forecast_and_budgets() -> None:
    with running_gureum() as g:
        s3 = g.client("s3")
        s3.create_bucket(Bucket="billed-bucket")
        for i in range(20):
            s3.put_object(Bucket="billed-bucket", Key=f"k{i}", Body=b"x" * 1024)
            s3.get_object(Bucket="billed-bucket", Key=f"k{i}")["Body"].read()
        g.client("budgets").create_budget(AccountId="000000000000", Budget={
            "BudgetName": "tiny", "BudgetLimit": {"Amount": "0.000001", "Unit": "USD"},
            "TimeUnit": "MONTHLY", "BudgetType": "COST"},
            NotificationsWithSubscribers=[{"Notification": {
                "NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                "Threshold": 50.0, "ThresholdType": "PERCENTAGE"},
                "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "a@example.com"}]}])
        out = subprocess.run(
            [sys.executable, "-m", "gureum", "bill", "--port", str(g.port),
             "--data-dir", str(g.data_dir)],
            capture_output=True, text=True, timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("GUREUM_")},
        )
        assert out.returncode == 0, out.stderr
        text = out.stdout
        assert "account 000000000000" in text
        assert "Amazon Simple Storage Service" in text
        assert "total" in text and "forecast for the whole month" in text
        assert "billed-bucket" in text  # the bucket is a top resource
        assert "tiny:" in text
        crossed = [ln for ln in text.splitlines() if "crossed: ACTUAL GREATER_THAN 50.0%" in ln]
        assert crossed, text
        # when, at what spend, and that the subscriber was not notified
        assert re.search(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC with \$0\.\d+ spent; "
                         r"not sent to EMAIL a@example.com", text), text
