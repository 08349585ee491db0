"""Object Lock's operations: the bucket's configuration (Put/Get
ObjectLockConfiguration) and each version's retention and legal hold; the
rules they keep are in ``objectlock``."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from .attributes import AttributeOps
from .objectlock import (
    MODES,
    default_retention,
    denied,
    enabled,
    malformed,
    may_bypass,
    no_lock_configuration,
    not_lock_bucket,
    require_checksum,
    timestamp,
)
from .records import ObjectRecord


def _as_strong(old_mode: str, old_until: float, mode: str | None, until: float | None) -> bool:
    """A new retention that changes nothing S3 protects: the same mode, as
    long or longer. Any change of mode alters the retention in force: from
    GOVERNANCE (even to COMPLIANCE) it takes the bypass, from COMPLIANCE it is
    refused; ceph/s3-tests test_object_lock_changing_mode_from_governance_
    without_bypass and ceph/ceph#42505 record S3 answering AccessDenied."""
    if mode is None or until is None or until < old_until:
        return False
    return mode == old_mode


class ObjectLockOps(AttributeOps):
    # -- the bucket's configuration ------------------------------------------------

    def put_object_lock_configuration(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        require_checksum(call)
        bucket = self.owned(call, params["Bucket"])
        default = default_retention(params.get("ObjectLockConfiguration") or {})
        if not enabled(bucket) and bucket.get("Versioning") != "Enabled":
            raise AWSError("InvalidBucketState", "Versioning must be 'Enabled' on the bucket "
                           "to apply a Object Lock configuration", 409)
        config: dict[str, Any] = {"ObjectLockEnabled": "Enabled"}
        if default is not None:
            config["Rule"] = {"DefaultRetention": default}
        self.update_bucket(bucket["Name"], ObjectLock=config)
        return {}

    def get_object_lock_configuration(
        self, call: Call, params: dict[str, Any]
    ) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        if not enabled(bucket):
            raise AWSError("ObjectLockConfigurationNotFoundError", "Object Lock configuration "
                           "does not exist for this bucket", 404, BucketName=bucket["Name"])
        return {"ObjectLockConfiguration": bucket["ObjectLock"]}

    # -- one version's retention and legal hold -------------------------------------

    def _locked_version(self, call: Call, params: dict[str, Any]) -> ObjectRecord:
        bucket = self.owned(call, params["Bucket"], params["Key"], params)
        if not enabled(bucket):
            raise not_lock_bucket()
        return self._version(call, params)

    def put_object_retention(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        require_checksum(call)
        retention = params.get("Retention") or {}
        mode, until = retention.get("Mode"), retention.get("RetainUntilDate")
        if (mode is None) != (until is None):
            raise malformed()
        if mode is not None and mode not in MODES:
            raise malformed()
        now = self.now()
        when = timestamp(until) if until is not None else None
        if when is not None and when <= now:
            raise AWSError("InvalidArgument", "The retain until date must be in the future!",
                           400)
        with self.env.store.tx():
            record = self._locked_version(call, params)
            lock = dict(record.meta.get("lock") or {})
            old_mode = lock.get("Mode") if now < float(lock.get("Until") or 0) else None
            weaker = old_mode is not None and not _as_strong(
                old_mode, float(lock["Until"]), mode, when)
            if weaker and (old_mode == "COMPLIANCE" or not may_bypass(
                    self, call, record.bucket, record.key, params)):
                raise denied()
            if mode is None:
                lock.pop("Mode", None)
                lock.pop("Until", None)
            else:
                lock.update(Mode=mode, Until=when)
            if lock:
                record.meta["lock"] = lock
            else:
                record.meta.pop("lock", None)
            self.records.update_meta(record)
        return {}

    def get_object_retention(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        record = self._locked_version(call, params)
        lock = record.meta.get("lock") or {}
        if not lock.get("Mode"):
            raise no_lock_configuration()
        return {"Retention": {"Mode": lock["Mode"], "RetainUntilDate": float(lock["Until"])}}

    def put_object_legal_hold(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        require_checksum(call)
        status = (params.get("LegalHold") or {}).get("Status")
        if status not in ("ON", "OFF"):
            raise malformed()
        with self.env.store.tx():
            record = self._locked_version(call, params)
            lock = dict(record.meta.get("lock") or {})
            lock["Hold"] = status
            record.meta["lock"] = lock
            self.records.update_meta(record)
        return {}

    def get_object_legal_hold(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        record = self._locked_version(call, params)
        hold = (record.meta.get("lock") or {}).get("Hold")
        if hold is None:
            raise no_lock_configuration()
        return {"LegalHold": {"Status": hold}}
