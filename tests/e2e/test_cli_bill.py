"""`gureum bill` prints the month-to-date bill from the running gureum."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from gureum.services.billing.pricelist import prices
from gureum.testing.server import running_gureum

from .elasticache_support import redis_pids, wait_cluster, wait_for


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


def test_bill_and_bill_page_name_what_has_no_price() -> None:
    """A cache node of a type gureum runs but its price list does not price
    is metered at $0: ``gureum bill`` and the console's bill page say so
    ("no price for cache.m7g.large — not billed") instead of hiding it."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    lacking = "cache.m7g.large"
    assert prices().product("AmazonElastiCache", f"NodeUsage:{lacking}") is None, \
        "the price list prices it now: pick a node type it lacks"
    with running_gureum(env={"GUREUM_METER_INTERVAL": "0.5"}) as g:
        data_dir = g.data_dir
        try:
            ec = g.client("elasticache")
            ec.create_cache_cluster(CacheClusterId="unpriced", Engine="redis",
                                    CacheNodeType=lacking, NumCacheNodes=1)
            ec.create_cache_cluster(CacheClusterId="priced", Engine="redis",
                                    CacheNodeType="cache.t3.micro", NumCacheNodes=1)
            wait_cluster(ec, "unpriced")
            wait_cluster(ec, "priced")
            time.sleep(1.0)  # a few meter ticks
            out = subprocess.run(
                [sys.executable, "-m", "gureum", "bill", "--port", str(g.port),
                 "--data-dir", str(g.data_dir)],
                capture_output=True, text=True, timeout=60,
                env={k: v for k, v in os.environ.items() if not k.startswith("GUREUM_")},
            )
            assert out.returncode == 0, out.stderr
            said = [ln for ln in out.stdout.splitlines() if "no price for" in ln]
            assert len(said) == 1, out.stdout
            assert said[0].strip().startswith(f"no price for {lacking} (AmazonElastiCache "
                                              f"NodeUsage:{lacking}, "), said
            assert said[0].endswith("— not billed")
            assert "not billed (gureum's price list has no price" in out.stdout
            with urllib.request.urlopen(f"{g.endpoint}/_gureum/bill", timeout=30) as r:
                page = r.read().decode()
            assert "Not billed" in page and f"no price for {lacking} (" in page, page
            assert "no price for cache.t3.micro" not in page
            with pytest.raises(urllib.error.HTTPError) as bad:
                urllib.request.urlopen(f"{g.endpoint}/_gureum/unpriced.json?account=x",
                                       timeout=30)
            assert bad.value.code == 400
        finally:
            for cid in ("unpriced", "priced"):
                try:
                    g.client("elasticache").delete_cache_cluster(CacheClusterId=cid)
                except Exception:
                    pass
            g.stop()
        wait_for(lambda: not redis_pids(data_dir), 15, "redis-server to exit")
