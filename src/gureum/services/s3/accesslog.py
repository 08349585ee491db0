"""Server access logging: Put/GetBucketLogging and the delivery of access log
records to the target bucket.

Every operation on a bucket with logging enabled leaves one record in S3's
documented format (bucket owner, bucket, time, remote IP, requester, request
id, operation, key, request-URI, status, error code, bytes sent, object size,
total time, turn-around time, referer, user agent, version id, host id,
signature version, cipher suite, authentication type, host header, TLS
version, access point ARN, ACL required). Records wait in memory and the
loop delivers them every ``INTERVAL`` seconds (by the injected clock) as one
object per target and prefix, named ``TargetPrefix`` + ``YYYY-mm-DD-HH-MM-SS-``
+ a unique string (or the partitioned form when asked). Deliveries are
written by gureum itself, not through an operation, so they are not logged
in turn. As on S3, delivery is best effort: records not yet delivered when
gureum is killed are lost (an orderly stop delivers them).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from gureum.control.loop import Loop
from gureum.drivers.blobs import digest_whole
from gureum.errors import AWSError

from ..base import Call
from . import acl
from .core import _inline_key
from .records import ObjectRecord
from .replication import ReplicationOps

log = logging.getLogger("gureum.s3.accesslog")

LOOP = "s3-access-log"
KEY = "deliver"
INTERVAL = 300.0  # seconds between deliveries
SERVICE = "logging.s3.amazonaws.com"
MAX_PENDING = 100_000  # records kept for delivery at most (older ones dropped)


def invalid_target(message: str) -> AWSError:
    return AWSError("InvalidTargetBucketForLogging", message, 400)


@dataclass
class _Pending:
    target: str
    prefix: str
    partitioned: str | None  # "EventTime" / "DeliveryTime" for PartitionedPrefix
    source: str
    account: str
    region: str
    at: float
    line: str
    grants: list[dict[str, Any]] | None = None


_VERBS = (("Get", "GET"), ("List", "GET"), ("Head", "HEAD"), ("Put", "PUT"),
          ("Delete", "DELETE"), ("Create", "POST"), ("Complete", "POST"),
          ("Restore", "POST"), ("Select", "POST"), ("Upload", "PUT"), ("Copy", "PUT"),
          ("Abort", "DELETE"))
_RESOURCES = {
    "ListObjects": "REST.GET.BUCKET", "ListObjectsV2": "REST.GET.BUCKET",
    "ListObjectVersions": "REST.GET.BUCKETVERSIONS", "CreateBucket": "REST.PUT.BUCKET",
    "DeleteBucket": "REST.DELETE.BUCKET", "HeadBucket": "REST.HEAD.BUCKET",
    "CreateMultipartUpload": "REST.POST.UPLOADS", "UploadPart": "REST.PUT.PART",
    "UploadPartCopy": "REST.COPY.PART", "CompleteMultipartUpload": "REST.POST.UPLOAD",
    "AbortMultipartUpload": "REST.DELETE.UPLOAD", "ListParts": "REST.GET.UPLOAD",
    "ListMultipartUploads": "REST.GET.UPLOADS", "DeleteObjects": "REST.POST.MULTI_OBJECT_DELETE",
    "CopyObject": "REST.COPY.OBJECT", "PostObject": "REST.POST.OBJECT",
    "PutBucketLogging": "REST.PUT.LOGGING_STATUS", "GetBucketLogging": "REST.GET.LOGGING_STATUS",
}


def _camel(operation: str) -> str:
    """``GetObject`` from a method name (``get_object``), as services call each other."""
    if operation.islower():
        return "".join(part.capitalize() for part in operation.split("_"))
    return operation


def operation_name(operation: str) -> str:
    """S3's log name of an operation: ``REST.GET.OBJECT``, ``REST.PUT.VERSIONING``."""
    operation = _camel(operation)
    if operation in _RESOURCES:
        return _RESOURCES[operation]
    method = "GET"
    rest = operation
    for verb, http in _VERBS:
        if operation.startswith(verb):
            method, rest = http, operation[len(verb):]
            break
    if rest.startswith("Bucket"):
        rest = rest[len("Bucket"):] or "Bucket"
    upper = re.sub(r"(?<!^)(?=[A-Z])", "_", rest).upper()
    return f"REST.{method}.{upper or 'OBJECT'}"


def _field(value: Any) -> str:
    text = str(value) if value not in (None, "") else "-"
    return text.replace(" ", "%20")


def _quoted(value: str | None) -> str:
    return '"' + (value or "-").replace('"', "%22") + '"'


def log_time(at: float) -> str:
    return time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime(at))


def _status(operation: str, out: Any, error: BaseException | None) -> tuple[int, str]:
    if isinstance(error, AWSError):
        return int(error.status), error.code
    if error is not None:
        return 500, "InternalError"
    if operation in ("DeleteObject", "DeleteBucket") or (
        operation.startswith("Delete") and operation != "DeleteObjects"
    ):
        return 204, "-"
    if isinstance(out, dict) and out.get("ContentRange"):
        return 206, "-"
    return 200, "-"


def _grants_log_delivery(target: dict[str, Any]) -> bool:
    """Whether the target bucket lets S3's log delivery write: a policy allowing
    ``logging.s3.amazonaws.com`` to ``s3:PutObject``, or (ACLs enabled) the
    LogDelivery group's WRITE and READ_ACP (or FULL_CONTROL)."""
    doc = target.get("PolicyDoc")
    if doc is None and target.get("Policy"):
        try:
            doc = json.loads(target["Policy"])
        except ValueError:
            doc = None
    statements = (doc or {}).get("Statement") or []
    for st in statements if isinstance(statements, list) else [statements]:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        services = principal.get("Service") if isinstance(principal, dict) else None
        services = services if isinstance(services, list) else [services]
        actions = st.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if SERVICE in services and any(a in ("s3:PutObject", "s3:*", "*") for a in actions):
            return True
    if target.get("Ownership") == "BucketOwnerEnforced":
        return False
    granted = {g.get("Permission") for g in target.get("Acl") or []
               if (g.get("Grantee") or {}).get("URI") == acl.LOG_DELIVERY}
    return "FULL_CONTROL" in granted or {"WRITE", "READ_ACP"} <= granted


class AccessLogOps(ReplicationOps):
    _access_pending: list[_Pending]

    # -- configuration ------------------------------------------------------------

    def put_bucket_logging(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        status = params.get("BucketLoggingStatus")
        if status is None:
            raise AWSError("MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema", 400)
        enabled = status.get("LoggingEnabled")
        if not enabled:
            self.update_bucket(bucket["Name"], Logging=None)
            return {}
        name = str(enabled.get("TargetBucket") or "")
        target = self.bucket(name) if name else None
        if target is None:
            raise invalid_target("The target bucket for logging does not exist")
        if target["Owner"] != bucket["Owner"]:
            raise invalid_target("The owner for the bucket to be logged and the target "
                                 "bucket must be the same.")
        if target.get("Region") != bucket.get("Region"):
            raise AWSError("CrossLocationLoggingProhibitted", "Cross S3 location logging not "
                           "allowed.", 403, SourceBucketLocation=bucket.get("Region"),
                           TargetBucketLocation=target.get("Region"))
        if not _grants_log_delivery(target):
            raise invalid_target("You must give the log-delivery group WRITE and READ_ACP "
                                 "permissions to the target bucket")
        if enabled.get("TargetGrants") and target.get("Ownership") == "BucketOwnerEnforced":
            raise invalid_target("Target grants are not supported for buckets with the bucket "
                                 "owner enforced setting for Object Ownership")
        kept: dict[str, Any] = {"TargetBucket": name,
                                "TargetPrefix": str(enabled.get("TargetPrefix") or "")}
        if enabled.get("TargetGrants"):
            for grant in enabled["TargetGrants"]:
                grantee = grant.get("Grantee") or {}
                if grant.get("Permission") not in ("FULL_CONTROL", "READ", "WRITE") or not (
                        grantee.get("ID") or grantee.get("URI")):
                    raise AWSError("MalformedXML", "The XML you provided was not "
                                   "well-formed or did not validate against our published "
                                   "schema", 400)
            kept["TargetGrants"] = enabled["TargetGrants"]
        key_format = enabled.get("TargetObjectKeyFormat")
        if key_format:
            partitioned = key_format.get("PartitionedPrefix")
            if partitioned is not None:
                source = partitioned.get("PartitionDateSource") or "EventTime"
                if source not in ("EventTime", "DeliveryTime"):
                    raise AWSError("MalformedXML", "The XML you provided was not well-formed "
                                   "or did not validate against our published schema", 400)
                kept["TargetObjectKeyFormat"] = {
                    "PartitionedPrefix": {"PartitionDateSource": source}}
            else:
                kept["TargetObjectKeyFormat"] = {"SimplePrefix": {}}
        self.update_bucket(bucket["Name"], Logging=kept)
        return {}

    def get_bucket_logging(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        enabled = bucket.get("Logging")
        return {"LoggingEnabled": enabled} if enabled else {}

    # -- records ------------------------------------------------------------------

    def note_access(self, call: Call, params: dict[str, Any], name: str, out: Any,
                    error: BaseException | None, started: float) -> None:
        """After an operation on bucket ``name``: its record, if the bucket logs."""
        bucket = self.bucket(name)
        if bucket is None or "Logging" not in bucket:
            return
        try:
            self._note(call, params, bucket, out, error, started)
        except Exception:  # a log record never fails the request it describes
            log.exception("could not make an access log record for %s", name)

    def _note(self, call: Call, params: dict[str, Any], bucket: dict[str, Any], out: Any,
              error: BaseException | None, started: float) -> None:
        config = bucket["Logging"]
        headers = {k.lower(): v for k, v in (call.headers or {}).items()}
        now = self.now()
        elapsed = max(int((time.monotonic() - started) * 1000), 0)
        operation = _camel(call.operation)
        status, code = _status(operation, out, error)
        result = out if isinstance(out, dict) else {}
        key = params.get("Key") or result.get("Key")
        sent = result.get("ContentLength") if operation == "GetObject" else None
        size = result.get("ContentLength") if operation in ("GetObject", "HeadObject") \
            else result.get("Size")
        if result.get("ContentRange"):  # "bytes 0-9/1234": the object is 1234 bytes
            size = str(result["ContentRange"]).rpartition("/")[2]
        method = operation_name(operation).split(".")[1]
        method = {"COPY": "PUT"}.get(method, method)
        uri = "/" + quote(bucket["Name"]) + ("/" + quote(str(key), safe="/") if key else "")
        if params.get("VersionId"):
            uri += "?versionId=" + quote(str(params["VersionId"]))
        auth = headers.get("authorization", "")
        if auth:
            signature, auth_type = ("SigV2" if auth.startswith("AWS ") else "SigV4"), \
                "AuthHeader"
        elif not call.identity.anonymous:  # a presigned URL
            signature, auth_type = "SigV4", "QueryString"
        else:
            signature, auth_type = "-", "-"
        requester = "-" if call.identity.anonymous else call.identity.arn
        fields = [
            acl.canonical_id(bucket["Owner"]), bucket["Name"], log_time(now),
            call.source_ip or "-", _field(requester), call.request_id,
            operation_name(operation), _field(quote(str(key), safe="/") if key else None),
            _quoted(f"{method} {uri} HTTP/1.1"), str(status), code,
            _field(sent if sent else None), _field(size if size is not None else None),
            str(elapsed), str(elapsed), _quoted(headers.get("referer")),
            _quoted(headers.get("user-agent")), _field(result.get("VersionId")),
            secrets.token_hex(16), signature, "-", auth_type,
            _field(headers.get("host")), "-", "-", "-",
        ]
        pending = self.__dict__.setdefault("_access_pending", [])
        if len(pending) >= MAX_PENDING:
            del pending[: len(pending) // 10]
        fmt = config.get("TargetObjectKeyFormat") or {}
        partitioned = (fmt.get("PartitionedPrefix") or {}).get("PartitionDateSource") \
            if "PartitionedPrefix" in fmt else None
        pending.append(_Pending(config["TargetBucket"], config["TargetPrefix"], partitioned,
                                bucket["Name"], bucket["Owner"], bucket.get("Region") or "",
                                now, " ".join(fields), config.get("TargetGrants")))

    # -- delivery -----------------------------------------------------------------

    def access_log_loop(self) -> Loop:
        async def keys() -> list[str]:
            return [KEY]

        return Loop(LOOP, self._deliver_due, clock=self.env.clock, resync=keys,
                    resync_interval=INTERVAL)

    async def _deliver_due(self, key: str) -> float | None:
        await self.deliver_access_logs()
        return INTERVAL

    async def deliver_access_logs(self) -> list[tuple[str, str]]:
        """Write every waiting record as log objects; the (bucket, key) written."""
        pending: list[_Pending] = self.__dict__.get("_access_pending") or []
        if not pending:
            return []
        self._access_pending = []
        batches: dict[tuple[str, str, str | None, str, str, str], list[_Pending]] = {}
        for item in pending:
            group = (item.target, item.prefix, item.partitioned, item.source, item.account,
                     item.region)
            batches.setdefault(group, []).append(item)
        written: list[tuple[str, str]] = []
        now = self.now()
        for (target, prefix, partitioned, source, account, region), items in batches.items():
            doc = self.bucket(target)
            if doc is None:
                log.warning("access logs of %s dropped: target bucket %s is gone",
                            source, target)
                continue
            name = self._log_key(prefix, partitioned, source, account, region, now,
                                 items[0].at)
            data = ("\n".join(i.line for i in items) + "\n").encode()
            grants = None
            if items[-1].grants and doc.get("Ownership") != "BucketOwnerEnforced":
                # The target's owner has full control; TargetGrants give the rest.
                grants = [acl.user(acl.canonical_id(doc["Owner"]), "FULL_CONTROL")]
                grants += [{"Grantee": {"Type": "Group" if g["Grantee"].get("URI")
                                        else "CanonicalUser", **g["Grantee"]},
                            "Permission": g["Permission"]} for g in items[-1].grants]
            try:
                await self._write_log(target, name, data, grants)
            except Exception:
                log.exception("could not deliver access logs to %s/%s", target, name)
                continue
            written.append((target, name))
        return written

    @staticmethod
    def _log_key(prefix: str, partitioned: str | None, source: str, account: str,
                 region: str, now: float, event: float) -> str:
        unique = secrets.token_hex(8).upper()
        stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now))
        if partitioned is None:
            return f"{prefix}{stamp}-{unique}"
        day = time.strftime("%Y/%m/%d", time.gmtime(event if partitioned == "EventTime"
                                                     else now))
        return f"{prefix}{account}/{region}/{source}/{day}/{stamp}-{unique}"

    async def _write_log(self, target: str, name: str, data: bytes,
                         grants: list[dict[str, Any]] | None = None) -> None:
        meta: dict[str, Any] = {"headers": {"ContentType": "text/plain"}, "user": {},
                                "checksums": {}}
        if grants:
            meta["acl"] = grants
        if len(data) <= self.inline_max:
            info = digest_whole(_inline_key(), data, ())
            record = ObjectRecord(target, name, info.size, f'"{info.md5}"', self.now(),
                                  [(info.key, info.size)], meta)
            self.commit(record, None, data)
            return

        async def chunks() -> Any:
            yield data

        blob = await self.write_blob(chunks())
        record = ObjectRecord(target, name, blob.size, f'"{blob.md5}"', self.now(),
                              [(blob.key, blob.size)], meta)
        try:
            self.commit(record)
        except BaseException:
            self.collect([blob.key], grace=0)
            raise
