"""Lifecycle rules that really run: Put/Get/DeleteBucketLifecycleConfiguration
and the control loop that applies them.

The loop (one key per bucket with rules) expires current objects by age or
date (a delete marker in a versioned bucket, as S3 does), expires
non-current versions some days after they became non-current (keeping the
newest ``NewerNoncurrentVersions``), removes expired delete markers, and
aborts incomplete multipart uploads. Ages count in whole days from the
midnight (UTC) following the object's creation, as on S3. Time comes from the
injected clock, so tests advance a fake clock instead of waiting for days.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from gureum.control.loop import Loop
from gureum.errors import AWSError

from ..base import Call
from . import objectlock
from .core import KIND
from .records import ObjectRecord
from .rulefilter import rule_filter
from .versions import VersioningOps

log = logging.getLogger("gureum.s3.lifecycle")

LOOP = "s3-lifecycle"
DAY = 86400.0
INTERVAL = 3600.0  # how often a bucket's rules are applied


def due(start: float, days: int) -> float:
    """The moment something ``days`` old by S3's count is due: midnight UTC after
    ``start`` plus ``days`` days."""
    return math.ceil(start / DAY) * DAY + days * DAY if days else start


def malformed(message: str = "The XML you provided was not well-formed or did not validate "
              "against our published schema") -> AWSError:
    return AWSError("MalformedXML", message, 400)


def _timestamp(value: Any) -> float:
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def _check_rule(rule: dict[str, Any]) -> dict[str, Any]:
    if rule.get("Status") not in ("Enabled", "Disabled"):
        raise malformed()
    if "Prefix" in rule and "Filter" in rule:
        raise malformed()
    expiration = rule.get("Expiration") or {}
    if expiration:
        given = [k for k in ("Days", "Date", "ExpiredObjectDeleteMarker")
                 if expiration.get(k) is not None]
        if len(given) != 1:
            raise malformed()
        if expiration.get("Days") is not None and int(expiration["Days"]) <= 0:
            raise AWSError("InvalidArgument", "'Days' for Expiration action must be a "
                           "positive integer", 400)
    actions = ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload",
               "Transitions", "NoncurrentVersionTransitions")
    if not any(rule.get(a) for a in actions):
        raise AWSError("InvalidRequest", "At least one action needs to be specified in a "
                       "rule", 400)
    out = dict(rule)
    if expiration.get("Date") is not None:
        out["Expiration"] = {**expiration, "Date": _timestamp(expiration["Date"])}
    return out


def _selected(record: ObjectRecord, rule: dict[str, Any]) -> bool:
    prefix, tags, above, below = rule_filter(rule)
    if not record.key.startswith(prefix):
        return False
    mine = record.meta.get("tags") or {}
    if any(mine.get(k) != v for k, v in tags.items()):
        return False
    if above is not None and not record.size > int(above):
        return False
    return below is None or record.size < int(below)


class LifecycleOps(VersioningOps):
    # -- configuration ------------------------------------------------------------

    def put_bucket_lifecycle_configuration(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        rules = (params.get("LifecycleConfiguration") or {}).get("Rules") or []
        if not rules or len(rules) > 1000:
            raise malformed()
        ids = [r.get("ID") for r in rules if r.get("ID")]
        if len(ids) != len(set(ids)):
            raise AWSError("InvalidArgument", "RuleId must be unique. Found same ID for more "
                           "than one rule", 400)
        checked = [_check_rule(r) for r in rules]
        self.update_bucket(bucket["Name"], Lifecycle=checked)
        self.wake_lifecycle(bucket["Name"])
        return {}

    def get_bucket_lifecycle_configuration(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        if not bucket.get("Lifecycle"):
            raise AWSError("NoSuchLifecycleConfiguration", "The lifecycle configuration "
                           "does not exist", 404, BucketName=bucket["Name"])
        return {"Rules": bucket["Lifecycle"]}

    def delete_bucket_lifecycle(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], Lifecycle=None)
        return {}

    # -- the loop -------------------------------------------------------------------

    def lifecycle_loop(self) -> Loop:
        return Loop(LOOP, self.reconcile_lifecycle, clock=self.env.clock,
                    resync=self._lifecycle_buckets, resync_interval=INTERVAL)

    def wake_lifecycle(self, bucket: str) -> None:
        loops = self.env.loops
        if loops is not None and hasattr(loops, "wake"):
            try:
                loops.wake(LOOP, bucket)
            except (KeyError, ValueError):
                log.debug("lifecycle loop not running; %s waits for its resync", bucket)

    async def _lifecycle_buckets(self) -> list[str]:
        return [b["Name"] for b in self.env.store.resources.list(KIND, "", "")
                if b.get("Lifecycle")]

    async def reconcile_lifecycle(self, name: str) -> float | None:
        """Apply the rules of bucket ``name`` once; come back in an hour."""
        bucket = self.bucket(name)
        if bucket is None or not bucket.get("Lifecycle"):
            return None
        self.apply_lifecycle(name)
        return INTERVAL

    def apply_lifecycle(self, name: str) -> dict[str, int]:
        """One pass of the bucket's enabled rules at the clock's now; what it did."""
        bucket = self.bucket(name)
        done = {"expired": 0, "noncurrent": 0, "markers": 0, "aborted": 0}
        if bucket is None:
            return done
        now = self.now()
        rules = [r for r in bucket.get("Lifecycle") or [] if r.get("Status") == "Enabled"]
        for rule in rules:
            expiration = rule.get("Expiration") or {}
            if expiration.get("Days") or expiration.get("Date") is not None:
                expired = [r.key for r in self._current(name, rule)
                           if self._expires(r, expiration, now)]
                for start in range(0, len(expired), 500):
                    self.delete_keys(name, [(k, None) for k in expired[start:start + 500]])
                done["expired"] += len(expired)
            noncurrent = rule.get("NoncurrentVersionExpiration") or {}
            marker_rule = bool(expiration.get("ExpiredObjectDeleteMarker"))
            if noncurrent or marker_rule:
                gone, markers = self._versions_due(name, rule, noncurrent, marker_rule, now)
                if gone:
                    self.delete_keys(name, gone)
                done["noncurrent"] += len(gone) - markers
                done["markers"] += markers
            abort = rule.get("AbortIncompleteMultipartUpload") or {}
            if abort.get("DaysAfterInitiation") is not None:
                done["aborted"] += self._abort_uploads(name, rule, abort, now)
        if any(done.values()):
            log.info("lifecycle of %s: %s", name, done)
        return done

    def _current(self, name: str, rule: dict[str, Any]) -> Iterator[ObjectRecord]:
        prefix = rule_filter(rule)[0]
        for record in self.records.scan(name, prefix, True):
            if not record.key.startswith(prefix):
                return
            if _selected(record, rule):
                yield record

    @staticmethod
    def _expires(record: ObjectRecord, expiration: dict[str, Any], now: float) -> bool:
        if expiration.get("Date") is not None:
            return now >= float(expiration["Date"])
        return now >= due(record.modified, int(expiration["Days"]))

    def _versions_due(
        self, name: str, rule: dict[str, Any], noncurrent: dict[str, Any],
        marker_rule: bool, now: float,
    ) -> tuple[list[tuple[str, str | None]], int]:
        prefix = rule_filter(rule)[0]
        days = noncurrent.get("NoncurrentDays")
        keep = int(noncurrent.get("NewerNoncurrentVersions") or 0)
        gone: list[tuple[str, str | None]] = []
        markers = 0
        key_versions: list[tuple[ObjectRecord, bool]] = []

        def settle(versions: list[tuple[ObjectRecord, bool]]) -> None:
            nonlocal markers
            if not versions:
                return
            newer_modified: float | None = None
            older = 0
            for record, latest in versions:
                if latest:
                    newer_modified = record.modified
                    if record.marker and marker_rule and len(versions) == 1:
                        gone.append((record.key, record.version))
                        markers += 1
                    continue
                became = newer_modified if newer_modified is not None else record.modified
                newer_modified = record.modified
                older += 1
                if days is None or (not _selected(record, rule) and not record.marker):
                    continue
                if older > keep and now >= due(became, int(days)) and \
                        objectlock.held(record.meta, now) is None:
                    gone.append((record.key, record.version))

        for record, latest in self.records.scan_versions(name, prefix):
            if not record.key.startswith(prefix):
                break
            if latest:
                settle(key_versions)
                key_versions = []
            key_versions.append((record, latest))
        settle(key_versions)
        return gone, markers

    def _abort_uploads(
        self, name: str, rule: dict[str, Any], abort: dict[str, Any], now: float
    ) -> int:
        prefix = rule_filter(rule)[0]
        days = int(abort["DaysAfterInitiation"])
        count = 0
        for upload in self.records.uploads(name, prefix):
            if not upload.key.startswith(prefix) or now < due(upload.initiated, days):
                continue
            with self.env.store.tx():
                parts = [p.blob for p in self.records.delete_upload(upload.upload_id)]
                self.records.add_garbage(parts, self.now())
            self.collect(parts)
            count += 1
        return count
