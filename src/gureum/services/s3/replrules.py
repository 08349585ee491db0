"""What a bucket's replication configuration means for a write: which rule
selects a new object version or delete marker, and the durable queue of
versions waiting to be copied (``s3_replication``). The queue row is written
by the transaction that commits the version, so a write acknowledged is a
replication that will happen, across a restart. The operations and the loop
that drains the queue are in ``replication``."""

from __future__ import annotations

import logging
from typing import Any

from gureum.store import register_migration

from .records import ObjectRecord, Records
from .rulefilter import rule_filter as selected

log = logging.getLogger("gureum.s3.replication")

LOOP = "s3-replication"
PENDING, COMPLETED, FAILED, REPLICA = "PENDING", "COMPLETED", "FAILED", "REPLICA"
ARN_PREFIX = "arn:aws:s3:::"

register_migration(
    3050,
    "s3_replication",
    """
    CREATE TABLE s3_replication (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        version TEXT NOT NULL,
        dest TEXT NOT NULL,
        since REAL NOT NULL,
        PRIMARY KEY (bucket, key, version)
    ) WITHOUT ROWID;
    """,
)


def rule_filter(rule: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(prefix, tags) a rule selects by: the V1 rule's Prefix or the V2 Filter."""
    prefix, tags, _, _ = selected(rule)
    return prefix, tags


def replicates_markers(rule: dict[str, Any]) -> bool:
    """V1 rules (a Prefix, no Filter) replicate delete markers; V2 rules as they say."""
    if "Filter" not in rule:
        return True
    return (rule.get("DeleteMarkerReplication") or {}).get("Status") == "Enabled"


def selecting_rule(bucket: dict[str, Any], record: ObjectRecord) -> dict[str, Any] | None:
    """The enabled rule of highest priority that selects ``record``."""
    config = bucket.get("Replication") or {}
    best: dict[str, Any] | None = None
    mine = record.meta.get("tags") or {}
    for rule in config.get("Rules") or []:
        if rule.get("Status") != "Enabled":
            continue
        prefix, tags = rule_filter(rule)
        if not record.key.startswith(prefix):
            continue
        if record.marker:
            if not replicates_markers(rule):
                continue
        elif any(mine.get(k) != v for k, v in tags.items()):
            continue
        if best is None or int(rule.get("Priority") or 0) > int(best.get("Priority") or 0):
            best = rule
    return best


def destination(rule: dict[str, Any]) -> str:
    return str(rule["Destination"]["Bucket"])[len(ARN_PREFIX):]


def enqueue(records: Records, bucket: dict[str, Any], record: ObjectRecord,
            now: float) -> bool:
    """Inside the transaction writing ``record`` (a new version or delete marker
    of a bucket with a replication configuration): queue it if a rule selects
    it, marking an object PENDING. Replicas are never replicated again."""
    if record.meta.get("replication") == REPLICA:
        return False
    rule = selecting_rule(bucket, record)
    if rule is None:
        return False
    if not record.marker:
        record.meta["replication"] = PENDING
    records._conn.execute(
        "INSERT OR REPLACE INTO s3_replication (bucket, key, version, dest, since)"
        " VALUES (?, ?, ?, ?, ?)",
        (record.bucket, record.key, record.version, destination(rule), now),
    )
    return True


def meta_changed(service: Any, record: ObjectRecord) -> None:
    """Inside the transaction changing the tags or ACL of ``record``: a version
    already replicated (or on its way) is queued again, so its replica's tags
    and ACL follow, as S3 replicates them."""
    if record.meta.get("replication") not in (PENDING, COMPLETED, FAILED):
        return
    bucket = service.bucket(record.bucket)
    if bucket is None or "Replication" not in bucket:
        return
    if enqueue(service.records, bucket, record, service.now()):
        wake(service.env.loops, record.bucket)


def wake(loops: Any, bucket: str) -> None:
    """Ask the replication loop to look at ``bucket`` soon (its resync finds it anyway)."""
    if loops is not None and hasattr(loops, "wake"):
        try:
            loops.wake(LOOP, bucket, after=0.05)
        except (KeyError, ValueError, TypeError):
            log.debug("replication loop not running; %s waits for its resync", bucket)
