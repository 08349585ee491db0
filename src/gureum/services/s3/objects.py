"""Object operations: PutObject, GetObject, HeadObject, DeleteObject,
DeleteObjects and CopyObject.

Bytes stream from the request into a new blob and back out of the blobs an
object record names (a file body for sendfile when the object is one file);
nothing holds a whole object in memory. A record is committed only after its
blob is durable, and an overwrite swaps records in one transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

from gureum.errors import AWSError

from ..base import Call, FileBody
from . import acl, bucketrules, checksums, objectlock, replrules
from .conditions import check_conditions, parse_range, precondition_failed
from .core import SOURCE_EXPECTED_OWNER, S3Core, no_such_bucket, no_such_key
from .records import ObjectRecord, is_inline

MAX_PUT = 5 * 1024**3
MAX_DELETE = 1000
DEFAULT_TYPE = "binary/octet-stream"
# Standard headers stored with an object and answered on GET/HEAD.
CONTENT_HEADERS = (
    "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "ContentType",
    "Expires", "WebsiteRedirectLocation",
)
# Parameters that add an ACL or tags to a new object's metadata.
_META_PARAMS = frozenset(("ACL", "Tagging", *acl.GRANT_PARAMS))
_OVERRIDES = {
    "ResponseCacheControl": "CacheControl",
    "ResponseContentDisposition": "ContentDisposition",
    "ResponseContentEncoding": "ContentEncoding",
    "ResponseContentLanguage": "ContentLanguage",
    "ResponseContentType": "ContentType",
    "ResponseExpires": "Expires",
}
# Parameters that say how a new object is encrypted.
_SSE_PARAMS = frozenset(("ServerSideEncryption", "SSEKMSKeyId", "SSECustomerAlgorithm"))
_CONDITIONS = ("IfMatch", "IfNoneMatch", "IfModifiedSince", "IfUnmodifiedSince")


async def as_chunks(body: Any) -> AsyncIterator[bytes]:
    """The request payload as an async stream, whatever form the gateway gave it in."""
    if body is None:
        return
    if isinstance(body, bytes | bytearray | memoryview):
        if body:
            yield bytes(body)
        return
    if isinstance(body, str):
        yield body.encode()
        return
    async for chunk in body:
        yield chunk


def stream_of(body: Any) -> AsyncIterable[bytes]:
    """``as_chunks(body)``, or the body itself when it is a stream the blob
    store may receive in a thread of its own (it offers a ``receiver()``)."""
    if hasattr(body, "receiver") and hasattr(body, "__aiter__"):
        return cast(AsyncIterable[bytes], body)
    return as_chunks(body)


def check_key(key: str) -> None:
    if not key:
        raise AWSError("InvalidArgument", "Key must not be empty", 400)
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise AWSError("KeyTooLongError", "Your key is too long", 400)


def content_headers(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not params.keys().isdisjoint(CONTENT_HEADERS):
        for name in CONTENT_HEADERS:
            value = params.get(name)
            if value is None:
                continue
            out[name] = value.timestamp() if hasattr(value, "timestamp") else value
    out.setdefault("ContentType", DEFAULT_TYPE)
    return out


def declared_length(call: Call, params: dict[str, Any]) -> int | None:
    decoded = call.headers.get("x-amz-decoded-content-length")
    if decoded is not None:
        return int(decoded) if decoded.isdigit() else None
    if "chunked" in call.headers.get("Transfer-Encoding", "").lower():
        return None
    length = params.get("ContentLength")
    return int(length) if isinstance(length, int) else None


def parse_copy_source(source: str) -> tuple[str, str, str | None]:
    path, _, query = source.partition("?")
    version = None
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        if name == "versionId":
            version = unquote(value)
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise AWSError("InvalidArgument", "Copy Source must mention the source bucket and key: "
                       "sourcebucket/sourcekey", 400, ArgumentName="x-amz-copy-source")
    return bucket, key, version


class ObjectOps(S3Core):
    # -- writing ------------------------------------------------------------

    async def store_object(
        self,
        call: Call,
        bucket: str,
        key: str,
        chunks: AsyncIterable[bytes],
        meta: dict[str, Any],
        params: dict[str, Any],
        body: Any = None,
        expected_length: int | None = None,
    ) -> ObjectRecord:
        """Stream, check, then commit one object; on any failure nothing is visible."""
        self._check_write_conditions(bucket, key, params)
        wanted = checksums.requested(params, body)
        data: bytes | None = None
        if expected_length is not None and expected_length <= self.inline_max:
            # A body already all here comes as bytes in one step (the gateway's
            # ``whole()``: its declared SHA-256 checked then), else it is read.
            whole = getattr(body, "whole", None)
            taken = whole() if whole is not None else None
            if taken is not None:
                size = len(taken)
                info, data = self.take_small(
                    taken if size <= expected_length else b"", checksums.to_compute(wanted),
                    size,
                )
            else:
                info, data = await self.read_small(
                    chunks, checksums.to_compute(wanted), expected_length
                )
        else:
            info = await self.write_blob(chunks, checksums.to_compute(wanted))
        try:
            if expected_length is not None and info.size != expected_length:
                raise AWSError(
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length "
                    "HTTP header",
                    400,
                )
            checksums.check_content_md5(params.get("ContentMD5"), info)
            meta["checksums"] = checksums.settle(wanted, info, body)
            record = ObjectRecord(
                bucket, key, info.size, f'"{info.md5}"', self.now(), [(info.key, info.size)], meta
            )
            self.commit(record, params, data)
        except BaseException:
            if data is None:
                self.collect([info.key], grace=0)
            raise
        return record

    def _check_write_conditions(self, bucket: str, key: str, params: dict[str, Any]) -> None:
        if_match, if_none = params.get("IfMatch"), params.get("IfNoneMatch")
        if if_match is None and if_none is None:
            return
        current = self.records.get(bucket, key)
        if if_none is not None:
            if str(if_none).strip() != "*":
                raise AWSError("NotImplemented", "If-None-Match on writes takes only '*'", 501)
            if current is not None:
                raise precondition_failed("If-None-Match")
        if if_match is not None:
            if current is None:
                raise no_such_key(key)
            check_conditions(current.etag, current.modified, if_match=if_match)

    def commit(
        self, record: ObjectRecord, params: dict[str, Any] | None = None,
        inline: bytes | None = None,
    ) -> None:
        """Make ``record`` the object, atomically; its predecessor's blobs are
        collected. ``inline``: the bytes of its one blob, kept with the record."""
        before = self._conn.total_changes
        # (No savepoint of its own in the group: ``replace`` raises its errors,
        # a condition or the bucket gone, before its first write.)
        with self.env.store.tx(group=True, savepoint=False):
            stale = self.replace(record, params)
            if inline is not None:
                self.records.put_inline(record.blobs[0][0], inline)
        self.wrote_objects(before, [(record.bucket, record.key)])
        if stale:
            self.collect(stale)

    def replace(self, record: ObjectRecord, params: dict[str, Any] | None = None) -> list[str]:
        """Inside a transaction: put ``record``; return the blobs it made garbage.

        With versioning enabled the predecessor becomes a non-current version;
        suspended, the new object is the ``null`` version and replaces any other.
        """
        if params is not None:
            self._check_write_conditions(record.bucket, record.key, params)
        bucket = self.bucket(record.bucket, shared=True)
        if bucket is None:
            raise no_such_bucket(record.bucket)
        state = bucket.get("Versioning")
        stale: list[str] = []
        if state == "Enabled":
            record.meta["version"] = new_version_id()
            if "Replication" in bucket and replrules.enqueue(
                    self.records, bucket, record, self.now()):
                replrules.wake(self.env.loops, record.bucket)
        else:
            record.meta.pop("version", None)
        old = self.records.put(record) if state is None else self.records.delete(
            record.bucket, record.key
        )
        if state is not None:
            if old is not None and (state == "Enabled" or old.version != "null"):
                self.records.push_version(old)
                old = None
            if state == "Suspended":
                null = self.records.remove_version(record.bucket, record.key, "null")
                stale += [b for b, _ in null.blobs] if null is not None else []
            self.records.put(record)
        # Its blobs are garbage no more (reserved file keys are entered as
        # garbage; an inline key is new to the database, never garbage).
        kept = [b for b, _ in record.blobs if not is_inline(b)]
        if kept:
            self.records.keep(kept)
        stale += [b for b, _ in old.blobs] if old is not None else []
        if stale:
            self.records.add_garbage(stale, self.now())
        return stale

    async def put_object(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket_doc = self.owned(call, params["Bucket"], params["Key"], params)
        bucket = bucket_doc["Name"]
        key = params["Key"]
        check_key(key)
        length = declared_length(call, params)
        if length is not None and length > MAX_PUT:
            raise AWSError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                           "size", 400, ProposedSize=length, MaxSizeAllowed=MAX_PUT)
        meta = self.new_meta(call, bucket_doc, params, content_headers(params),
                             params.get("Metadata") or {})
        body = params.get("Body")
        record = await self.store_object(
            call, bucket, key, stream_of(body), meta, params, body, length
        )
        out = {"ETag": record.etag, "Size": record.size,
               **checksums.output(record.meta["checksums"]),
               **bucketrules.encryption_out(record.meta)}
        if "version" in record.meta:
            out["VersionId"] = record.version
        return out

    def new_meta(
        self, call: Call, bucket: dict[str, Any], params: dict[str, Any],
        headers: dict[str, Any], user: dict[str, Any],
    ) -> dict[str, Any]:
        """The metadata of a new object: headers, user metadata, owner, ACL, tags."""
        meta: dict[str, Any] = {"headers": headers, "user": user}
        if "Encryption" in bucket or not params.keys().isdisjoint(_SSE_PARAMS):
            sse = bucketrules.object_encryption(bucket, params)
            if sse is not None:
                meta["sse"] = sse
        if "ObjectLock" in bucket or not params.keys().isdisjoint(objectlock.PARAMS):
            lock = objectlock.new_lock(call, bucket, params, self.now())
            if lock is not None:
                meta["lock"] = lock
        if call.account != bucket["Owner"] and not (
            "Ownership" in bucket and bucketrules.owned_by_bucket_owner(bucket, params)
        ):
            meta["owner"] = call.account
        if params.keys().isdisjoint(_META_PARAMS):  # no ACL, grants or tags: most PUTs
            return meta
        if bucketrules.enforced(bucket):
            # ACLs are disabled: the one ACL accepted is the bucket owner's full control.
            owner_id = acl.canonical_id(bucket["Owner"])
            if not bucketrules.owner_only(
                acl.from_request(params, owner_id, owner_id, default=None), bucket["Owner"]
            ):
                raise bucketrules.acls_disabled()
            grants = None
        else:
            grants = acl.from_request(params, acl.canonical_id(call.account),
                                      acl.canonical_id(bucket["Owner"]), default=None)
        if grants is not None:
            block = bucket.get("PublicAccessBlock") or {}
            if block.get("BlockPublicAcls") and acl.is_public(grants):
                raise AWSError("AccessDenied", "Access Denied", 403)
            meta["acl"] = grants
        if params.get("Tagging"):
            meta["tags"] = tags_from_query(str(params["Tagging"]))
        return meta

    # -- reading --------------------------------------------------------------

    def _readable(self, call: Call, params: dict[str, Any], small: bool = False) -> ObjectRecord:
        """The object a GET or HEAD reads; ``small``: a small object's bytes
        are read with its record (a GET's body)."""
        bucket = self.owned(call, params["Bucket"], params["Key"], params)["Name"]
        version = params.get("VersionId")
        record = self.records.find_version(bucket, params["Key"], version, shared=True,
                                           small=small)
        if record is None:
            if version is not None:
                raise no_such_version(params["Key"], version)
            raise no_such_key(params["Key"])
        if record.marker:
            raise AWSError("MethodNotAllowed", "The specified method is not allowed against "
                           "this resource.", 405, Method="GET", ResourceType="DeleteMarker")
        if not params.keys().isdisjoint(_CONDITIONS):  # (most requests have none)
            check_conditions(
                record.etag,
                record.modified,
                if_match=params.get("IfMatch"),
                if_none_match=params.get("IfNoneMatch"),
                if_modified_since=params.get("IfModifiedSince"),
                if_unmodified_since=params.get("IfUnmodifiedSince"),
            )
        return record

    def _describe(
        self, record: ObjectRecord, params: dict[str, Any]
    ) -> tuple[dict[str, Any], tuple[int, int] | None]:
        """Output headers of GET/HEAD, and the byte range asked for (None: whole)."""
        meta = record.meta
        out: dict[str, Any] = {
            "ETag": record.etag,
            "LastModified": record.modified,
            "ContentLength": record.size,
            "AcceptRanges": "bytes",
            "Metadata": meta.get("user") or {},
            "StorageClass": None,
        }
        if "version" in meta or params.get("VersionId"):
            out["VersionId"] = record.version
        if meta.get("tags"):
            out["TagCount"] = len(meta["tags"])
        if "replication" in meta:
            out["ReplicationStatus"] = meta["replication"]
        out.update(bucketrules.encryption_out(meta))
        if "lock" in meta:
            out.update(objectlock.describe(meta))
        headers = meta.get("headers")
        if headers:
            out.update(headers)
        if not params.keys().isdisjoint(_OVERRIDES):
            for param, header in _OVERRIDES.items():
                if params.get(param) is not None:
                    out[header] = params[param]
        span: tuple[int, int] | None = None
        part = params.get("PartNumber")
        if part is not None:
            span = self._part_span(record, int(part))
            out["PartsCount"] = record.parts_count or 1
        elif params.get("Range"):
            span = parse_range(params["Range"], record.size)
        if span is not None:
            start, end = span
            out["ContentLength"] = end - start
            out["ContentRange"] = f"bytes {start}-{end - 1}/{record.size}"
        elif params.get("ChecksumMode") == "ENABLED":
            out.update(
                checksums.output(
                    record.meta.get("checksums") or {},
                    record.meta.get("checksum_type", "FULL_OBJECT"),
                )
            )
        return out, span

    @staticmethod
    def _part_span(record: ObjectRecord, number: int) -> tuple[int, int]:
        count = record.parts_count
        blobs = record.blobs if count else [("", record.size)]
        if number < 1 or number > len(blobs):
            raise AWSError("InvalidPartNumber", "The requested partnumber is not satisfiable",
                           416, PartNumberRequested=number, ActualPartCount=len(blobs))
        start = sum(size for _, size in blobs[: number - 1])
        return start, start + blobs[number - 1][1]

    def body(self, record: ObjectRecord, span: tuple[int, int] | None) -> Any:
        """The bytes ``[start, end)`` of an object: a file body when one file holds them."""
        start, end = span if span is not None else (0, record.size)
        if len(record.blobs) == 1:
            blob = record.blobs[0][0]
            if is_inline(blob):
                data = self.records.inline(blob)
                if data is not None:
                    return data[start:end]
            else:
                path = self.blobs.path(blob)
                if path is not None:
                    return FileBody(path, start, end - start)
        return self._stream(record.blobs, start, end)

    async def _stream(
        self, blobs: list[tuple[str, int]], start: int, end: int
    ) -> AsyncIterator[bytes]:
        offset = 0
        for key, size in blobs:
            lo, hi = max(start - offset, 0), min(end - offset, size)
            offset += size
            if lo >= hi:
                continue
            async for chunk in self.read_blob(key, lo, hi):
                yield chunk

    def get_object(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        record = self._readable(call, params, small=True)
        out, span = self._describe(record, params)
        out["Body"] = self.body(record, span)
        return out

    def head_object(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        record = self._readable(call, params)
        out, _ = self._describe(record, params)
        return out

    # -- deleting -------------------------------------------------------------

    def delete_keys(
        self, bucket: str, keys: list[tuple[str, str | None]]
    ) -> list[dict[str, Any]]:
        """Delete objects (or versions of them); return what each deletion did."""
        results: list[dict[str, Any]] = []
        with self.env.store.tx():
            doc = self.bucket(bucket)
            if doc is None:
                raise no_such_bucket(bucket)
            state = doc.get("Versioning")
            stale: list[str] = []
            for key, version in keys:
                if version is not None:
                    results.append(self._delete_version(bucket, key, version, stale))
                    continue
                old = self.records.delete(bucket, key)
                if state is None:
                    if old is not None:
                        stale.extend(b for b, _ in old.blobs)
                    results.append({"Key": key})
                    continue
                if old is not None and (state == "Enabled" or old.version != "null"):
                    self.records.push_version(old)
                elif old is not None:
                    stale.extend(b for b, _ in old.blobs)
                if state == "Suspended":
                    null = self.records.remove_version(bucket, key, "null")
                    if null is not None:
                        stale.extend(b for b, _ in null.blobs)
                meta: dict[str, Any] = {"marker": True}
                if state == "Enabled":
                    meta["version"] = new_version_id()
                marker = ObjectRecord(bucket, key, 0, "", self.now(), [], meta)
                if state == "Enabled" and "Replication" in doc and replrules.enqueue(
                        self.records, doc, marker, self.now()):
                    replrules.wake(self.env.loops, bucket)
                self.records.push_version(marker)
                results.append({"Key": key, "DeleteMarker": True,
                                "DeleteMarkerVersionId": marker.version})
            self.records.add_garbage(stale, self.now())
        self.collect(stale)
        return results

    def _delete_version(
        self, bucket: str, key: str, version: str, stale: list[str]
    ) -> dict[str, Any]:
        result: dict[str, Any] = {"Key": key, "VersionId": version}
        current = self.records.get(bucket, key)
        if current is not None and current.version == version:
            self.records.delete(bucket, key)
            stale.extend(b for b, _ in current.blobs)
        else:
            old = self.records.remove_version(bucket, key, version)
            if old is None:
                return result
            stale.extend(b for b, _ in old.blobs)
            if old.marker:
                result["DeleteMarker"] = True
                result["DeleteMarkerVersionId"] = version
            if current is not None:
                return result
        newest = self.records.newest_version(bucket, key)
        if newest is not None and not newest.marker:
            # The newest remaining version becomes the current object again.
            self.records.remove_version(bucket, key, newest.version)
            self.records.put(newest)
        return result

    def delete_object(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"], params["Key"], params)["Name"]
        if params.get("IfMatch") is not None:
            current = self.records.get(bucket, params["Key"])
            if current is None:
                raise no_such_key(params["Key"])
            check_conditions(current.etag, current.modified, if_match=params["IfMatch"])
        objectlock.check_deletable(self, call, bucket, params["Key"], params.get("VersionId"),
                                   params)
        (result,) = self.delete_keys(bucket, [(params["Key"], params.get("VersionId"))])
        out: dict[str, Any] = {}
        if result.get("DeleteMarker"):
            out["DeleteMarker"] = True
        version = result.get("DeleteMarkerVersionId") or result.get("VersionId")
        if version:
            out["VersionId"] = version
        return out

    def delete_objects(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"], None, params)["Name"]
        request = params.get("Delete") or {}
        objects = request.get("Objects") or []
        if not objects or len(objects) > MAX_DELETE:
            raise AWSError("MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema", 400)
        wanted: list[tuple[str, str | None]] = []
        errors: list[dict[str, Any]] = []
        for o in objects:
            try:
                self.owned(call, bucket, o["Key"], o, action="s3:DeleteObject")
                objectlock.check_deletable(self, call, bucket, o["Key"], o.get("VersionId"),
                                           params)
            except AWSError as error:
                errors.append({"Key": o["Key"], "Code": error.code, "Message": error.message})
                continue
            wanted.append((o["Key"], o.get("VersionId")))
        results = self.delete_keys(bucket, wanted) if wanted else []
        out: dict[str, Any] = {}
        if not request.get("Quiet"):
            out["Deleted"] = results
        if errors:
            out["Errors"] = errors
        return out

    # -- copying --------------------------------------------------------------

    def copy_source(self, call: Call, params: dict[str, Any]) -> ObjectRecord:
        """The object ``CopySource`` names, readable by the caller, preconditions met."""
        src_bucket, src_key, src_version = parse_copy_source(params["CopySource"])
        self.owned(call, src_bucket, src_key, {"VersionId": src_version},
                   action="s3:GetObjectVersion" if src_version else "s3:GetObject",
                   expected_header=SOURCE_EXPECTED_OWNER)
        source = self.records.find_version(src_bucket, src_key, src_version)
        if source is None:
            if src_version is not None:
                raise no_such_version(src_key, src_version)
            raise no_such_key(src_key)
        if source.marker:
            raise AWSError("InvalidRequest", "The source of a copy request may not "
                           "specifically refer to a delete marker by version id.", 400)
        check_conditions(
            source.etag,
            source.modified,
            if_match=params.get("CopySourceIfMatch"),
            if_none_match=params.get("CopySourceIfNoneMatch"),
            if_modified_since=params.get("CopySourceIfModifiedSince"),
            if_unmodified_since=params.get("CopySourceIfUnmodifiedSince"),
            copy=True,
        )
        return source

    async def copy_object(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket_doc = self.owned(call, params["Bucket"], params["Key"], params)
        bucket = bucket_doc["Name"]
        key = params["Key"]
        check_key(key)
        src_bucket, src_key, _ = parse_copy_source(params["CopySource"])
        source = self.copy_source(call, params)
        directive = (params.get("MetadataDirective") or "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise AWSError("InvalidArgument", "Unknown metadata directive.", 400)
        if (src_bucket, src_key) == (bucket, key) and directive == "COPY" and not (
            params.get("StorageClass") or params.get("WebsiteRedirectLocation")
        ):
            raise AWSError(
                "InvalidRequest",
                "This copy request is illegal because it is trying to copy an object to itself "
                "without changing the object's metadata, storage class, website redirect "
                "location or encryption attributes.",
                400,
            )
        if directive == "REPLACE":
            meta = self.new_meta(call, bucket_doc, params, content_headers(params),
                                 params.get("Metadata") or {})
        else:
            meta = self.new_meta(call, bucket_doc, params,
                                 dict(source.meta.get("headers") or {}),
                                 dict(source.meta.get("user") or {}))
        if (params.get("TaggingDirective") or "COPY").upper() == "COPY":
            meta.pop("tags", None)
            if source.meta.get("tags"):
                meta["tags"] = dict(source.meta["tags"])
        wanted_params = dict(params)
        for name in source.meta.get("checksums") or {}:
            if name in checksums.COMPUTED and not params.get("ChecksumAlgorithm"):
                wanted_params["ChecksumAlgorithm"] = name
        wanted_params.pop("ContentMD5", None)
        chunks = self._stream(source.blobs, 0, source.size)
        record = await self.store_object(call, bucket, key, chunks, meta, wanted_params)
        result = {"ETag": record.etag, "LastModified": record.modified,
                  **checksums.output(record.meta["checksums"])}
        out: dict[str, Any] = {"CopyObjectResult": result,
                               **bucketrules.encryption_out(record.meta)}
        if "version" in record.meta:
            out["VersionId"] = record.version
        if "version" in source.meta:
            out["CopySourceVersionId"] = source.version
        return out


def new_version_id() -> str:
    return secrets.token_urlsafe(24)


def no_such_version(key: str, version: str) -> AWSError:
    return AWSError("NoSuchVersion", "The specified version does not exist.", 404, Key=key,
                    VersionId=version)


def tags_from_query(text: str) -> dict[str, str]:
    """``x-amz-tagging`` (``k1=v1&k2=v2``, URL-encoded) as a dict, validated."""
    tags = dict(parse_qsl(text, keep_blank_values=True))
    check_tags(tags)
    return tags


def check_tags(tags: dict[str, str], limit: int = 10) -> None:
    if len(tags) > limit:
        raise AWSError("BadRequest", f"Object tags cannot be greater than {limit}", 400)
    for name, value in tags.items():
        if not name or len(name) > 128 or len(value) > 256:
            raise AWSError("InvalidTag", "The TagKey you have provided is invalid", 400)


def etag_of_parts(md5s: list[str]) -> str:
    joined = b"".join(bytes.fromhex(m.strip('"')) for m in md5s)
    return f'"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(md5s)}"'
