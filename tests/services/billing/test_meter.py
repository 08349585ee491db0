"""The meter with the fake clock: AWS's billing rules, hours, idempotency."""

from __future__ import annotations

import pytest

from gureum.services.billing.meter import Meter
from gureum.services.billing.pricelist import prices

from .conftest import MARCH, Harness, price

HOURLY = price("AmazonEC2", "BoxUsage:t3.micro")
GP3 = price("AmazonEC2", "EBS:VolumeUsage.gp3")
S3_GB_MONTH = price("AmazonS3", "TimedStorage-ByteHrs")


def test_t3_micro_running_90_minutes_costs_one_and_a_half_hours(h: Harness) -> None:
    h.instance("i-1")
    h.advance(90 * 60)
    qty, cost = h.totals("BoxUsage:t3.micro")["BoxUsage:t3.micro"]
    assert qty == pytest.approx(1.5)
    assert cost == pytest.approx(1.5 * HOURLY)
    rows = h.store.connection.execute(
        "SELECT hour, quantity FROM billing_usage WHERE usage_type = 'BoxUsage:t3.micro'"
        " ORDER BY hour").fetchall()
    assert [(r[0] - MARCH, round(r[1], 9)) for r in rows] == [(0, 1.0), (3600, 0.5)]


def test_ticks_do_not_change_the_total(h: Harness) -> None:
    h.instance("i-1")
    h.advance(5000, tick_every=7)
    h.advance(400, tick_every=None)
    assert h.totals("BoxUsage:t3.micro")["BoxUsage:t3.micro"][0] == pytest.approx(5400 / 3600)


def test_a_stopped_instance_costs_nothing_for_compute_but_keeps_its_volume(h: Harness) -> None:
    h.instance("i-1", state="stopped")
    h.advance(3600)
    totals = h.totals()
    assert "BoxUsage:t3.micro" not in totals
    gb_months = totals["EBS:VolumeUsage.gp3"][0]
    assert gb_months == pytest.approx(8 / (31 * 24))
    assert totals["EBS:VolumeUsage.gp3"][1] == pytest.approx(gb_months * GP3)


def test_sixty_second_minimum_per_start(h: Harness) -> None:
    h.instance("i-1")
    h.advance(20, tick_every=10)
    h.set_state("i-1", "stopped")
    h.advance(100, tick_every=10)
    assert h.totals("BoxUsage:t3.micro")["BoxUsage:t3.micro"][0] == pytest.approx(60 / 3600)
    h.set_state("i-1", "running")  # a second start: a second minimum
    h.advance(90, tick_every=10)
    h.set_state("i-1", "stopped")
    h.advance(30, tick_every=10)
    assert h.totals("BoxUsage:t3.micro")["BoxUsage:t3.micro"][0] == pytest.approx(150 / 3600)


def test_stop_between_ticks_bills_up_to_the_stop(h: Harness) -> None:
    h.instance("i-1")
    h.advance(120, tick_every=60)
    h.loop.run_until_complete(h.clock.advance(25))
    h.set_state("i-1", "stopped")
    h.advance(35, tick_every=None)
    assert h.totals("BoxUsage:t3.micro")["BoxUsage:t3.micro"][0] == pytest.approx(145 / 3600)


def test_ten_gib_for_half_a_month_is_five_gb_months(h: Harness) -> None:
    h.bucket("bkt", 10 << 30)
    h.advance(31 * 24 * 3600 / 2, tick_every=3600)
    qty, cost = h.totals("TimedStorage-ByteHrs")["TimedStorage-ByteHrs"]
    assert qty == pytest.approx(5.0)
    assert cost == pytest.approx(5.0 * S3_GB_MONTH)


def test_a_million_gets_cost_what_aws_charges(h: Harness) -> None:
    for _ in range(10):
        h.meter.count("000000000000", "us-east-1", "AmazonS3", "Requests-Tier2", 100_000,
                      resource="bkt", operation="GetObject")
    h.advance(60)
    qty, cost = h.totals("Requests-Tier2")["Requests-Tier2"]
    assert qty == 1_000_000
    # AWS lists GETs at $0.0004 per 1,000: $0.40 a million
    assert cost == pytest.approx(1_000_000 * price("AmazonS3", "Requests-Tier2", "GetObject"))


def test_tiered_prices_follow_the_month_to_date_total(h: Harness) -> None:
    # 60 TB for a whole hour-long "month share": tier 1 up to 50 TB, tier 2 after.
    product = prices().product("AmazonS3", "TimedStorage-ByteHrs")
    assert product is not None
    first, second = (price("AmazonS3", "TimedStorage-ByteHrs", tier=n) for n in (0, 1))
    assert first > second
    assert product.cost(60 * 1024) == pytest.approx(51200 * first + 10240 * second)
    assert product.cost(10240, before=51200) == pytest.approx(10240 * second)


def test_a_failed_tick_is_redone_whole_and_a_new_meter_resumes(h: Harness) -> None:
    h.instance("i-1")
    h.advance(600)
    h.meter.count("000000000000", "us-east-1", "AmazonS3", "Requests-Tier1", 5)

    class Boom(Exception):
        pass

    original = h.meter._write_counted

    def failing(counted: object) -> None:
        original(counted)  # type: ignore[arg-type]
        raise Boom

    h.meter._write_counted = failing  # type: ignore[method-assign]
    h.loop.run_until_complete(h.clock.advance(300))
    with pytest.raises(Boom):
        h.meter.tick()
    h.meter._write_counted = original  # type: ignore[method-assign]
    # A fresh meter on the same store (gureum restarted) picks up at the watermark.
    fresh = Meter(h.env)
    fresh._counted = h.meter._counted
    h.meter = fresh
    h.advance(300)
    totals = h.totals()
    assert totals["BoxUsage:t3.micro"][0] == pytest.approx(1200 / 3600)
    assert totals["Requests-Tier1"][0] == 5


def test_other_regions_carry_their_prefix_and_us_east_1_prices(h: Harness) -> None:
    h.instance("i-2", region="eu-west-1", itype="m5.large")
    h.advance(3600)
    qty, cost = h.totals("BoxUsage:m5.large")["BoxUsage:m5.large"]
    assert qty == pytest.approx(1.0)
    assert cost == pytest.approx(price("AmazonEC2", "BoxUsage:m5.large"))
    assert prices().prefix("eu-west-1") == "EU-"
