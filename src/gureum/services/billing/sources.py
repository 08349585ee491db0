"""Usage sources: what each service has that costs money, read from its records.

A source is asked, at each meter tick, for the *gauges* that are on at that
moment: an instance running (1 instance, by the hour), a volume or a bucket
holding bytes (GB, by the month). The meter integrates gauges over time; a
source never writes. Sources read other services' records read-only and
know nothing of prices. Counted usage (requests, bytes sent) does not come
from sources but from ``Meter.count``, which services call as it happens.

A service that lands adds its source with ``register_source`` (ELB hours,
RDS and ElastiCache node hours, CloudWatch metrics and alarms). A source that
needs gureum's settings (a data directory to measure) has a ``bind(env)``
method, which the meter calls once after making it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from .runs import runs_of

GIB = float(1 << 30)


@dataclass(frozen=True)
class Gauge:
    """Usage that accrues while it is on, ``amount`` units per hour (``unit``
    "Hrs"-like) or ``amount`` GB per month (``unit`` "GB-Mo")."""

    account: str
    region: str
    service: str  # price list service code: "AmazonEC2"
    usage_type: str  # without region prefix: "BoxUsage:t3.micro"
    resource: str
    amount: float
    unit: str = "Hrs"
    operation: str = ""
    # When it came on, if the source knows (a run that began between ticks).
    since: float | None = None
    # When it went off, if it went off between two ticks: accrues up to then.
    until: float | None = None
    # Seconds billed at least per run (EC2 Linux: 60).
    minimum: float = 0.0
    # Prorated by the hour (CloudWatch metrics and alarms): ``amount`` units
    # per month, each hour it is on at any moment billed a whole hour's share
    # (``amount / hours in the month``), once. ``since == until``: on at an
    # instant (a custom metric sent then).
    hourly: bool = False
    # Each clock hour it is on at any moment billed ``amount`` whole units, once
    # (AWS's "each hour or partial hour": load balancer hours).
    whole_hours: bool = False
    # Usage whose quantity is a figure of each clock hour as a whole (load
    # balancer LCUs: the highest dimension of the hour's averages): (hour
    # start, the hour's quantity so far). The meter bills each hour up to
    # that quantity, what it billed before subtracted, so a figure that grows
    # as the hour goes on is billed once in all.
    hour_totals: tuple[tuple[int, float], ...] = field(default=(), hash=False, compare=False)
    attrs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


class UsageSource(Protocol):
    name: str

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        """Gauges on at ``now``, and those that went off in ``(since, now]``."""
        ...


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None


def _records(conn: sqlite3.Connection, kind: str) -> Iterable[tuple[str, str, dict[str, Any],
                                                                        float]]:
    """(account, region, document, last write time) of the store's generic records."""
    rows = conn.execute(
        "SELECT account, region, data, updated FROM resources WHERE kind = ?", (kind,)
    ).fetchall()
    for account, region, data, updated in rows:
        yield account, region, json.loads(data), float(updated)


def run_gauges(base: dict[str, Any], runs: list[tuple[float, float | None, str]],
               since: float, now: float, what: Callable[[str], dict[str, Any]]
               ) -> Iterable[Gauge]:
    """Gauges of the recorded runs (``runs.runs_of``) that touch ``(since, now]``,
    oldest first: those that ended with their start and end, the one going on
    with its start. ``what(run's what)`` gives the fields that depend on it."""
    for start, end, thing in runs:
        if start > now:
            continue
        fields = {**base, **what(thing)}
        if end is None:
            yield Gauge(**fields, since=start)
        elif since < end:
            yield Gauge(**fields, since=start, until=min(end, now))


# EC2 ----------------------------------------------------------------------

EC2_INSTANCE = "ec2:instance"
ROOT_VOLUME_GIB = 8  # the catalog's images: an 8 GiB gp3 root volume
OFF = {"stopping", "stopped", "shutting-down", "terminated"}


def _box_type(attrs: dict[str, Any], itype: str) -> dict[str, Any]:
    return {"usage_type": f"BoxUsage:{itype}", "attrs": {**attrs, "instance_type": itype}}


class EC2Instances:
    """Linux on-demand instance time while ``running`` (per second, 60 s minimum
    per start), and each instance's gp3 root volume until it is terminated.

    A record that gave no gauge at a tick, written and its runs ended no later
    than that tick's ``since`` (a terminated instance's, metered), gives none
    at any later tick while its text stays the same (``since`` only grows): it
    is not decoded again. EC2
    keeps terminated instances' records for an hour, and every tick decoded
    each of them (a burst's worth of launches and terminations left hundreds)."""

    name = "ec2"

    def __init__(self) -> None:
        # (account, region, record id) -> (its text, the since it gave nothing at)
        self._quiet: dict[tuple[str, str, str], tuple[str, float]] = {}

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        rows = conn.execute(
            "SELECT account, region, id, data, updated FROM resources WHERE kind = ?",
            (EC2_INSTANCE,),
        ).fetchall()
        quiet: dict[tuple[str, str, str], tuple[str, float]] = {}
        for account, region, rid, data, updated in rows:
            key = (account, region, rid)
            kept = self._quiet.get(key)
            if kept is not None and kept[0] == data and kept[1] <= since:
                quiet[key] = kept
                continue
            doc, written = json.loads(data), float(updated)
            found = list(self._record(account, region, doc, written, since, now))
            if not found and written <= since and all(
                    end is not None and end <= since for _, end, _ in runs_of(doc) or ()):
                quiet[key] = (data, since)
            yield from found
        self._quiet = quiet  # (records gone are forgotten)

    def _record(self, account: str, region: str, doc: dict[str, Any], updated: float,
                since: float, now: float) -> Iterable[Gauge]:
        state = doc.get("state")
        itype = str(doc.get("type", ""))
        tags = doc.get("tags") or {}
        attrs = {"instance_type": itype, "tags": tags}
        box = dict(account=account, region=region, service="AmazonEC2",
                   usage_type=f"BoxUsage:{itype}", resource=doc["id"], amount=1.0,
                   unit="Hrs", operation="RunInstances", minimum=60.0, attrs=attrs)
        runs = runs_of(doc)
        if runs is not None:  # billed from its recorded starts and stops
            yield from run_gauges(box, runs, since, now, partial(_box_type, attrs))
        elif state == "running":
            yield Gauge(**box, since=updated)
        elif state in OFF and since < updated <= now:
            yield Gauge(**box, until=updated)
        volume = dict(account=account, region=region, service="AmazonEC2",
                      usage_type="EBS:VolumeUsage.gp3", resource="vol-" + doc["id"][2:],
                      amount=float(doc.get("root_volume_gib", ROOT_VOLUME_GIB)),
                      unit="GB-Mo", operation="CreateVolume-Gp3",
                      attrs={"tags": tags})
        if state not in ("terminated", "shutting-down"):
            launched = doc.get("launch_time")
            yield Gauge(**volume,
                        since=float(launched) if isinstance(launched, int | float) else None)
        elif since < updated <= now:
            yield Gauge(**volume, until=updated)


# S3 -----------------------------------------------------------------------

S3_BUCKET = "s3:bucket"


class S3Storage:
    """Standard storage of each bucket (objects and the parts of multipart
    uploads in progress), in GB-months, sampled at each tick."""

    name = "s3"

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        sizes: dict[str, int] = {}
        if _table_exists(conn, "s3_objects"):
            for bucket, size in conn.execute(
                "SELECT bucket, sum(size) FROM s3_objects GROUP BY bucket"
            ):
                sizes[bucket] = int(size or 0)
        if _table_exists(conn, "s3_parts"):
            for bucket, size in conn.execute(
                "SELECT u.bucket, sum(p.size) FROM s3_parts p JOIN s3_uploads u"
                " ON u.upload_id = p.upload_id GROUP BY u.bucket"
            ):
                sizes[bucket] = sizes.get(bucket, 0) + int(size or 0)
        for _, _, doc, _ in _records(conn, S3_BUCKET):
            name = doc.get("Name", "")
            size = sizes.get(name, 0)
            if size <= 0:
                continue
            yield Gauge(
                account=str(doc.get("Owner", "")), region=str(doc.get("Region", "us-east-1")),
                service="AmazonS3", usage_type="TimedStorage-ByteHrs", resource=name,
                amount=size / GIB, unit="GB-Mo", operation="StandardStorage",
                attrs={"tags": doc.get("Tags") or {}},
            )


SOURCES: dict[str, Callable[[], UsageSource]] = {
    "ec2": EC2Instances,
    "s3": S3Storage,
}


def register_source(name: str, factory: Callable[[], UsageSource]) -> None:
    """Meter a service: ``factory()`` makes its source when the meter starts."""
    SOURCES[name] = factory


# Request tiers of S3 (what ``Meter.count`` is called with by S3's operations).
S3_TIER1 = {"PutObject", "CopyObject", "PostObject", "ListObjects", "ListObjectsV2",
            "ListObjectVersions", "ListBuckets", "ListMultipartUploads", "ListParts",
            "CreateMultipartUpload", "UploadPart", "UploadPartCopy",
            "CompleteMultipartUpload", "CreateBucket", "PutBucketPolicy",
            "PutBucketLifecycleConfiguration", "PutBucketVersioning", "PutBucketTagging",
            "PutBucketCors", "PutBucketAcl", "PutObjectAcl", "PutObjectTagging"}
FREE_S3 = {"DeleteObject", "DeleteObjects", "DeleteBucket", "AbortMultipartUpload"}


def s3_request_usage_type(operation: str) -> str | None:
    """The usage type an S3 request is billed as (None: free)."""
    if operation in FREE_S3:
        return None
    return "Requests-Tier1" if operation in S3_TIER1 else "Requests-Tier2"
