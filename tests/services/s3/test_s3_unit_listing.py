"""Listing over the records table: order, delimiters and tokens on 10,000 keys,
and proof that a page is an indexed range scan that skips whole prefixes."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from gureum.services.s3.listing import list_page, successor
from gureum.services.s3.records import ObjectRecord

from .conftest import Harness


def fill(h: Harness, keys: list[str]) -> None:
    with h.store.tx():
        for key in keys:
            h.s3.records.put(ObjectRecord("bkt", key, 0, '"x"', 0.0, [], {}))


class CountingScan:
    def __init__(self, h: Harness) -> None:
        self.h = h
        self.rows = 0
        self.scans = 0

    def __call__(self, bucket: str, start: str, inclusive: bool) -> Generator[Any, None, None]:
        self.scans += 1
        return self._count(self.h.s3.records.scan_listed(bucket, start, inclusive))

    def _count(self, rows: Generator[Any, None, None]) -> Generator[Any, None, None]:
        try:
            for row in rows:
                self.rows += 1
                yield row
        finally:
            rows.close()


def test_successor() -> None:
    assert successor("a/") == "a0"
    assert successor("\ud7ff") == "\ue000"
    assert successor("a\U0010ffff") == "b"
    assert successor("") is None


def test_ten_thousand_keys_pages(h: Harness) -> None:
    keys = [f"k/{i // 1000}/{i:05d}" for i in range(10_000)]
    fill(h, keys)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, Any] = {"Bucket": "bkt"}
        if token:
            params["ContinuationToken"] = token
        out = h.run("list_objects_v2", **params)
        pages += 1
        seen += [o["Key"] for o in out.get("Contents") or []]
        token = out.get("NextContinuationToken")
        if not out["IsTruncated"]:
            break
    assert seen == keys and pages == 10


def test_page_reads_only_what_it_returns(h: Harness) -> None:
    fill(h, [f"k/{i // 1000}/{i:05d}" for i in range(10_000)] + ["z"])
    scan = CountingScan(h)
    page = list_page(scan, "bkt", "k/", "", "k/5/05000", 1000)
    assert len(page.contents) == 1000 and page.truncated
    assert scan.rows == 1001  # the page and one more to know it is truncated
    scan = CountingScan(h)
    page = list_page(scan, "bkt", "", "/", None, 1000)
    # 10,000 keys under "k/": one row read, then a jump past the prefix.
    assert page.prefixes == ["k/"] and [r[0] for r in page.contents] == ["z"]
    assert scan.rows == 2 and scan.scans == 2


def test_scan_uses_the_primary_key(h: Harness) -> None:
    plan = h.store.connection.execute(
        "EXPLAIN QUERY PLAN SELECT key FROM s3_objects WHERE bucket = ? AND key > ? ORDER BY key",
        ("bkt", "a"),
    ).fetchall()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "USING PRIMARY KEY" in detail and "TEMP B-TREE" not in detail


def test_utf8_binary_order(h: Harness) -> None:
    keys = ["\U0001f600", "\uffff", "\u00e9", "Z", "a", "\u0100", "\ue000"]
    fill(h, keys)
    out = h.run("list_objects_v2", Bucket="bkt")
    assert [o["Key"] for o in out["Contents"]] == sorted(keys, key=lambda k: k.encode())
