"""Counted usage (requests, bytes sent) from many calls: every unit reaches the
usage rows exactly once, per resource, operation and hour, across ticks,
a failed tick and hour boundaries."""

from __future__ import annotations

import pytest

from gureum.services.billing.meter import HOUR

from .conftest import ACCOUNT, Harness

BUCKETS = ("a", "b", "c")
OPERATIONS = ("GetObject", "HeadObject", "PutObject")


def rows(h: Harness) -> dict[tuple[str, str, int], float]:
    """Usage rows by (resource, usage type, hour): the operations of one tier
    share a row."""
    found = h.store.connection.execute(
        "SELECT resource, usage_type, hour, quantity FROM billing_usage"
        " WHERE service = 'AmazonS3'").fetchall()
    return {(r[0], r[1], r[2]): r[3] for r in found}


def test_counts_from_many_calls_are_exact(h: Harness) -> None:
    expected: dict[tuple[str, str, int], float] = {}
    calls = 0
    for step in range(40):
        hour = int(h.clock.now() // HOUR * HOUR)
        for i in range(250):
            bucket = BUCKETS[(step + i) % 3]
            operation = OPERATIONS[i % 3]
            usage = "Requests-Tier1" if operation == "PutObject" else "Requests-Tier2"
            h.meter.count(ACCOUNT, "us-east-1", "AmazonS3", usage, 1, resource=bucket,
                          operation=operation)
            key = (bucket, usage, hour)
            expected[key] = expected.get(key, 0.0) + 1
            if operation == "GetObject":  # bytes sent: exact binary fractions
                h.meter.count(ACCOUNT, "us-east-1", "AmazonS3", "DataTransfer-Out-Bytes",
                              2.0 ** -18, resource=bucket, operation=operation, unit="GB")
                out = (bucket, "DataTransfer-Out-Bytes", hour)
                expected[out] = expected.get(out, 0.0) + 2.0 ** -18
            calls += 1
        h.advance(400 if step % 4 else 7, tick_every=None)  # ticks cross hour boundaries
    assert calls == 10000
    assert len({k[2] for k in expected}) > 1, "the counts span several hours"
    assert rows(h) == expected
    assert sum(v for k, v in rows(h).items() if k[1].startswith("Requests")) == calls


def test_counts_kept_by_a_failed_tick_are_added_to_the_later_ones(h: Harness) -> None:
    for _ in range(1000):
        h.meter.count(ACCOUNT, "us-east-1", "AmazonS3", "Requests-Tier2", 1, resource="a",
                      operation="GetObject")

    class Boom(Exception):
        pass

    original = h.meter._write_counted

    def failing(counted: object) -> None:
        raise Boom

    h.meter._write_counted = failing  # type: ignore[method-assign]
    h.loop.run_until_complete(h.clock.advance(30))
    with pytest.raises(Boom):
        h.meter.tick()
    h.meter._write_counted = original  # type: ignore[method-assign]
    for _ in range(500):  # counted after the failure, in the same hour
        h.meter.count(ACCOUNT, "us-east-1", "AmazonS3", "Requests-Tier2", 1, resource="a",
                      operation="GetObject")
    h.advance(30, tick_every=None)
    assert [v for k, v in rows(h).items() if k[1] == "Requests-Tier2"] == [1500]
    h.advance(30, tick_every=None)  # nothing counted twice
    assert [v for k, v in rows(h).items() if k[1] == "Requests-Tier2"] == [1500]
