"""Replication between gureum buckets: Put/Get/DeleteBucketReplication and the
loop that copies each new object version (and delete marker, when the rule
says so) to its destination bucket, in this gureum, any region, any account.

A write selected by a rule is marked PENDING and queued by the transaction
that commits it (``replrules``). The loop (one key per source bucket) copies
the version with its id, metadata, tags, checksums and ETag into the
destination as a REPLICA, then marks the source COMPLETED (FAILED when the
destination is gone or no longer versioned). The replica gets blobs of its
own, so deleting or overwriting either side never touches the other: a small
object's bytes are copied in the database, a file blob is hard-linked where
the blob store can (``link``), otherwise streamed. A later change of the
source version's tags or ACL is queued too and copied to the replica. Replicas
are not queued again, so two buckets replicating to each other do not
ping-pong.
"""

from __future__ import annotations

from typing import Any

from gureum.control.loop import Loop
from gureum.errors import AWSError

from ..base import Call
from . import acl
from .core import KIND, _inline_key
from .lifecycle import LifecycleOps
from .policy import Principal, evaluate
from .records import ObjectRecord, is_inline
from .replrules import (
    ARN_PREFIX,
    COMPLETED,
    FAILED,
    LOOP,
    REPLICA,
    log,
)

RESYNC = 5.0  # seconds between looks for queued work
BATCH = 100
STORAGE_CLASSES = ("STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA",
                   "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS",
                   "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE")


def malformed() -> AWSError:
    return AWSError("MalformedXML", "The XML you provided was not well-formed or did not "
                    "validate against our published schema", 400)


def invalid(message: str) -> AWSError:
    return AWSError("InvalidRequest", message, 400)


class ReplicationOps(LifecycleOps):
    # -- configuration ------------------------------------------------------------

    def put_bucket_replication(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        config = params.get("ReplicationConfiguration") or {}
        rules = config.get("Rules") or []
        if not config.get("Role") or not rules or len(rules) > 1000:
            raise malformed()
        if bucket.get("Versioning") != "Enabled":
            raise invalid("Versioning must be 'Enabled' on the bucket to apply a replication "
                          "configuration")
        checked = [self._check_rule(bucket, rule) for rule in rules]
        ids = [r["ID"] for r in checked]
        if len(ids) != len(set(ids)):
            raise AWSError("InvalidArgument", "Rule Id must be unique", 400)
        v2 = [r for r in checked if "Filter" in r]
        if v2 and len(v2) != len(checked):
            raise malformed()  # one schema version per configuration
        priorities = [int(r.get("Priority") or 0) for r in v2]
        if len(priorities) != len(set(priorities)):
            raise invalid("Found duplicate priority in rules. Priority must be unique")
        self.update_bucket(bucket["Name"], Replication={"Role": config["Role"],
                                                        "Rules": checked})
        return {}

    def _check_rule(self, bucket: dict[str, Any], rule: dict[str, Any]) -> dict[str, Any]:
        if rule.get("Status") not in ("Enabled", "Disabled"):
            raise malformed()
        if "Prefix" in rule and "Filter" in rule:
            raise malformed()
        out = dict(rule)
        out["ID"] = str(rule.get("ID") or _rule_id())
        if len(out["ID"]) > 255:
            raise AWSError("InvalidArgument", "The ID must be no longer than 255 characters",
                           400)
        if "Filter" in rule:
            flt = rule.get("Filter") or {}
            if len([k for k in ("Prefix", "Tag", "And") if k in flt]) > 1:
                raise malformed()
            marker = rule.get("DeleteMarkerReplication")
            if marker is None:
                raise invalid("DeleteMarkerReplication must be specified for this version of "
                              "Cross Region Replication configuration schema.")
            if marker.get("Status") not in ("Enabled", "Disabled"):
                raise malformed()
            tagged = "Tag" in flt or bool((flt.get("And") or {}).get("Tags"))
            if tagged and marker.get("Status") == "Enabled":
                raise invalid("Delete marker replication is not supported if any Tag filter "
                              "is specified. Please refer to S3 Developer Guide for more "
                              "information.")
            out["Priority"] = int(rule.get("Priority") or 0)
        dest = rule.get("Destination") or {}
        arn = str(dest.get("Bucket") or "")
        if not arn.startswith(ARN_PREFIX) or "/" in arn[len(ARN_PREFIX):]:
            raise AWSError("InvalidArgument", "Invalid bucket ARN", 400)
        name = arn[len(ARN_PREFIX):]
        if name == bucket["Name"]:
            raise invalid("Destination bucket cannot be the same as the source bucket.")
        target = self.bucket(name)
        if target is None:
            raise invalid("Destination bucket must exist.")
        if target.get("Versioning") != "Enabled":
            raise invalid("Destination bucket must have versioning enabled.")
        storage = dest.get("StorageClass")
        if storage is not None and storage not in STORAGE_CLASSES:
            raise malformed()
        return out

    def get_bucket_replication(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        config = bucket.get("Replication")
        if not config:
            raise AWSError("ReplicationConfigurationNotFoundError", "The replication "
                           "configuration was not found", 404, BucketName=bucket["Name"])
        return {"ReplicationConfiguration": config}

    def delete_bucket_replication(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], Replication=None)
        return {}

    # -- the loop -------------------------------------------------------------------

    def replication_loop(self) -> Loop:
        return Loop(LOOP, self.reconcile_replication, clock=self.env.clock,
                    resync=self._replication_buckets, resync_interval=RESYNC)

    async def _replication_buckets(self) -> list[str]:
        rows = self._conn.execute("SELECT DISTINCT bucket FROM s3_replication")
        return [str(r[0]) for r in rows]

    async def reconcile_replication(self, name: str) -> float | None:
        """Copy up to ``BATCH`` queued versions of bucket ``name``; again at once
        while more wait."""
        rows = self._conn.execute(
            "SELECT key, version, dest FROM s3_replication WHERE bucket = ?"
            " ORDER BY since LIMIT ?", (name, BATCH + 1)).fetchall()
        for key, version, dest in rows[:BATCH]:
            await self.replicate_one(name, str(key), str(version), str(dest))
        return 0.0 if len(rows) > BATCH else None

    def _dequeue(self, name: str, key: str, version: str) -> None:
        self._conn.execute("DELETE FROM s3_replication WHERE bucket = ? AND key = ?"
                           " AND version = ?", (name, key, version))

    def _set_status(self, source: ObjectRecord, status: str) -> None:
        if not source.marker:
            source.meta["replication"] = status
            self.records.update_meta(source)

    async def replicate_one(self, name: str, key: str, version: str, dest: str) -> str:
        """Copy one queued version; what became of it (COMPLETED, FAILED, gone)."""
        source = self.records.find_version(name, key, version)
        target = self.bucket(dest)
        if source is None or target is None or target.get("Versioning") != "Enabled" or (
                not self._may_replicate(name, target, source)):
            outcome = "gone" if source is None else FAILED
            before = self._conn.total_changes
            with self.env.store.tx():
                if source is not None:
                    self._set_status(source, FAILED)
                self._dequeue(name, key, version)
            self.wrote_objects(before, [(name, key)])
            if outcome == FAILED:
                log.warning("replication of %s/%s (%s) to %s failed: the destination is "
                            "missing, not versioned or does not let the role write",
                            name, key, version, dest)
            return outcome
        if self.records.find_version(dest, key, version) is not None:
            self._follow_meta(source, dest)
            return COMPLETED
        copied: list[tuple[str, int]] = []
        inline: list[tuple[str, bytes]] = []
        for blob, size in source.blobs:
            if is_inline(blob):
                data = self.records.inline(blob)
                if data is None:
                    return "gone"  # deleted meanwhile: found again as gone
                fresh = _inline_key()
                inline.append((fresh, data))
                copied.append((fresh, size))
            else:
                copied.append((await self._copy_blob(blob, size), size))
        files = [b for b, _ in copied if not is_inline(b)]
        meta = dict(source.meta)
        if not source.marker:
            meta["replication"] = REPLICA
        if target["Owner"] != self._owner_of(name, source) and "owner" not in meta:
            meta["owner"] = self._owner_of(name, source)
        replica = ObjectRecord(dest, key, source.size, source.etag, source.modified,
                               copied, meta)
        before = self._conn.total_changes
        with self.env.store.tx():
            still = self.records.find_version(name, key, version)
            already = self.records.find_version(dest, key, version)
            if still is None or already is not None:
                self.records.add_garbage(files, self.now())
                stale = files
            else:
                for blob, data in inline:
                    self.records.put_inline(blob, data)
                if files:
                    self.records.keep(files)
                stale = []
                old = self.records.delete(dest, key)
                if old is not None:
                    self.records.push_version(old)
                if replica.marker:
                    self.records.push_version(replica)
                else:
                    self.records.put(replica)
                self._set_status(still, COMPLETED)
            self._dequeue(name, key, version)
        self.wrote_objects(before, [(name, key), (dest, key)])
        self.collect(stale, grace=0)
        return COMPLETED

    def _may_replicate(self, name: str, target: dict[str, Any],
                       source: ObjectRecord) -> bool:
        """A destination of another account must let the replication role in by
        its bucket policy (``s3:ReplicateObject``, ``s3:ReplicateDelete`` for a
        delete marker), as S3 requires; the same account's needs nothing."""
        bucket = self.bucket(name)
        if bucket is None or bucket["Owner"] == target["Owner"]:
            return True
        role = str((bucket.get("Replication") or {}).get("Role") or "")
        who = Principal(bucket["Owner"], role, acl.canonical_id(bucket["Owner"]), False)
        action = "s3:ReplicateDelete" if source.marker else "s3:ReplicateObject"
        resource = f"arn:aws:s3:::{target['Name']}/{source.key}"
        return evaluate(target.get("PolicyDoc"), who, action, resource, {}) == "Allow"

    def _follow_meta(self, source: ObjectRecord, dest: str) -> None:
        """The replica is there already: its tags and ACL become the source's."""
        before = self._conn.total_changes
        with self.env.store.tx():
            replica = self.records.find_version(dest, source.key, source.version)
            if replica is not None and not replica.marker:
                for field in ("tags", "acl"):
                    if field in source.meta:
                        replica.meta[field] = source.meta[field]
                    else:
                        replica.meta.pop(field, None)
                self.records.update_meta(replica)
            still = self.records.find_version(source.bucket, source.key, source.version)
            if still is not None:
                self._set_status(still, COMPLETED)
            self._dequeue(source.bucket, source.key, source.version)
        self.wrote_objects(before, [(source.bucket, source.key), (dest, source.key)])

    def _owner_of(self, name: str, record: ObjectRecord) -> str:
        owner = record.meta.get("owner")
        if owner:
            return str(owner)
        bucket = self.bucket(name)
        return str(bucket["Owner"]) if bucket is not None else ""

    async def _copy_blob(self, blob: str, size: int) -> str:
        """A new blob with the bytes of ``blob``: a hard link where the blob store
        can make one (the bytes never change), else a streamed copy."""
        link = getattr(self.blobs, "link", None)
        if link is not None:
            fresh = self._reserve("o")
            try:
                await link(blob, fresh)
                return fresh
            except (OSError, NotImplementedError):
                log.debug("no hard link for %s; copying its bytes", blob)
        info = await self.write_blob(self.read_blob(blob, 0, size))
        return info.key


def _rule_id() -> str:
    import secrets

    return secrets.token_urlsafe(30)[:40]


__all__ = ["KIND", "ReplicationOps"]
