"""The EC2 usage source does not decode again, at each tick, the records that
can give no gauge any more (terminated instances' records, metered), and
gives the same gauges as a source that decodes every record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gureum.services.billing import sources
from gureum.services.billing.runs import note_run
from gureum.services.billing.sources import EC2Instances
from gureum.store import Store

ACCOUNT, REGION = "000000000000", "us-east-1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "db.sqlite", now=lambda: clock[0])
    yield s
    s.close()


clock = [1000.0]


def save(store: Store, iid: str, state: str, at: float, **extra: Any) -> None:
    clock[0] = at
    doc = store.resources.get("ec2:instance", ACCOUNT, REGION, iid) or {
        "id": iid, "account": ACCOUNT, "region": REGION, "launch_time": at, "tags": {},
        "type": "t3.nano"}
    doc.update(state=state, **extra)
    note_run(doc, at, state == "running", "t3.nano")
    with store.tx():
        store.resources.put("ec2:instance", ACCOUNT, REGION, iid, doc)


def decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    count = [0]
    real = json.loads

    def counting(text: str) -> Any:
        count[0] += 1
        return real(text)

    monkeypatch.setattr(sources, "json", SimpleNamespace(loads=counting))
    return count


def test_metered_terminated_records_are_not_decoded_again(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    save(store, "i-1", "running", 1000.0)
    save(store, "i-2", "running", 1000.0)
    save(store, "i-1", "terminated", 1010.0)
    source = EC2Instances()
    count = decodes(monkeypatch)
    conn = store.connection
    first = list(source.gauges(conn, 1005.0, 1015.0))  # i-1's end is in this tick
    assert {g.resource for g in first} == {"i-1", "vol-1", "i-2", "vol-2"}
    assert count[0] == 2
    assert list(source.gauges(conn, 1015.0, 1030.0)) != []  # i-2 runs
    assert count[0] == 4  # i-1 gave nothing: found quiet at this tick
    later = list(source.gauges(conn, 1030.0, 1045.0))
    assert {g.resource for g in later} == {"i-2", "vol-2"}
    assert count[0] == 5  # only i-2 decoded
    # A record written again is read again.
    save(store, "i-1", "terminated", 1050.0, note="x")
    assert {g.resource for g in source.gauges(conn, 1045.0, 1060.0)} == {
        "vol-1", "i-2", "vol-2"}
    assert count[0] == 7
    # A tick whose since went back (a wiped meter) reads every record again.
    list(source.gauges(conn, 1000.0, 1070.0))
    assert count[0] == 9


def test_a_record_written_after_since_is_not_taken_as_quiet(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    save(store, "i-1", "running", 1000.0)
    save(store, "i-1", "terminated", 1100.0)  # written after the tick's now
    source = EC2Instances()
    conn = store.connection
    gauges = list(source.gauges(conn, 1010.0, 1020.0))
    assert {g.resource for g in gauges} == {"i-1"}  # its run, up to now
    # Its volume's end (1100) comes in a later tick: not forgotten.
    assert "vol-1" in {g.resource for g in source.gauges(conn, 1090.0, 1110.0)}


def test_same_gauges_as_a_source_that_decodes_everything(store: Store) -> None:
    kept = EC2Instances()
    conn = store.connection
    at = 1000.0
    since = at
    for step in range(40):
        at += 7.0
        iid = f"i-{step % 6}"
        state = ("running", "stopped", "terminated", "running")[step % 4]
        save(store, iid, state, at)
        now = at + 3.0
        fresh = list(EC2Instances().gauges(conn, since, now))
        assert list(kept.gauges(conn, since, now)) == fresh
        since = now
