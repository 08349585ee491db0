"""Multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
AbortMultipartUpload, ListParts and ListMultipartUploads.

Each part is its own durable blob. Completing an upload does not copy a byte:
the object record lists the chosen part blobs in order and GET reads them in
sequence; parts left out of the completion are collected.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterable
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from . import bucketrules, checksums
from .acl import owner
from .objects import (
    ObjectOps,
    check_key,
    content_headers,
    declared_length,
    etag_of_parts,
    stream_of,
)
from .records import ObjectRecord, Part, Upload

MIN_PART = 5 * 1024 * 1024
MAX_PART = 5 * 1024**3
MAX_PARTS = 10000


def no_such_upload(upload_id: str) -> AWSError:
    return AWSError(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may "
        "have been aborted or completed.",
        404,
        UploadId=upload_id,
    )


_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def _part_number(params: dict[str, Any]) -> int:
    number = int(params["PartNumber"])
    if not 1 <= number <= MAX_PARTS:
        raise AWSError("InvalidArgument", "Part number must be an integer between 1 and "
                       "10000, inclusive", 400, ArgumentName="partNumber",
                       ArgumentValue=str(number))
    return number


def _bare(etag: str) -> str:
    return etag.strip().strip('"')


class MultipartOps(ObjectOps):
    def _upload(self, call: Call, params: dict[str, Any]) -> Upload:
        bucket = self.owned(call, params["Bucket"], params["Key"], params)["Name"]
        upload = self.records.upload(params["UploadId"])
        if upload is None or upload.bucket != bucket or upload.key != params["Key"]:
            raise no_such_upload(params["UploadId"])
        return upload

    def create_multipart_upload(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket_doc = self.owned(call, params["Bucket"], params["Key"], params)
        bucket = bucket_doc["Name"]
        check_key(params["Key"])
        upload_id = secrets.token_urlsafe(48)
        algorithm, kind = _checksum_choice(params)
        meta = self.new_meta(call, bucket_doc, params, content_headers(params),
                             params.get("Metadata") or {})
        meta.update({"checksum": algorithm, "checksum_type": kind, "owner": call.account})
        with self.env.store.tx():
            self.records.add_upload(Upload(upload_id, bucket, params["Key"], self.now(), meta))
        out: dict[str, Any] = {"Bucket": bucket, "Key": params["Key"], "UploadId": upload_id,
                               **bucketrules.encryption_out(meta)}
        if meta["checksum"]:
            out["ChecksumAlgorithm"] = meta["checksum"]
            out["ChecksumType"] = meta["checksum_type"]
        return out

    async def upload_part(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._upload(call, params)
        number = _part_number(params)
        length = declared_length(call, params)
        if length is not None and length > MAX_PART:
            raise AWSError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed "
                           "size", 400)
        body = params.get("Body")
        part, sums = await self._store_part(upload, number, stream_of(body), params, body)
        out: dict[str, Any] = {"ETag": part.etag, **bucketrules.encryption_out(upload.meta)}
        out.update({f"Checksum{name}": value for name, value in sums.items()})
        return out

    async def upload_part_copy(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._upload(call, params)
        number = _part_number(params)
        source = self.copy_source(call, params)
        start, end = 0, source.size
        spec = params.get("CopySourceRange")
        if spec:
            m = _RANGE.match(str(spec).strip())
            if m is None or int(m.group(1)) > int(m.group(2)) or int(m.group(2)) >= source.size:
                raise AWSError("InvalidArgument", "The x-amz-copy-source-range value must be of "
                               "the form bytes=first-last where first and last are the "
                               "zero-based offsets of the first and last bytes to copy", 400,
                               ArgumentName="x-amz-copy-source-range", ArgumentValue=spec)
            start, end = int(m.group(1)), int(m.group(2)) + 1
        if end - start > MAX_PART:
            raise AWSError("InvalidRequest", "The specified copy source is larger than the "
                           "maximum allowable size for a copy source: 5368709120", 400)
        wanted = {k: v for k, v in params.items() if k != "ContentMD5"}
        if upload.meta.get("checksum"):
            wanted["ChecksumAlgorithm"] = upload.meta["checksum"]
        part, sums = await self._store_part(
            upload, number, self._stream(source.blobs, start, end), wanted, None
        )
        result: dict[str, Any] = {"ETag": part.etag, "LastModified": part.modified}
        result.update({f"Checksum{name}": value for name, value in sums.items()})
        out: dict[str, Any] = {"CopyPartResult": result}
        if "version" in source.meta:
            out["CopySourceVersionId"] = source.version
        return out

    async def _store_part(
        self, upload: Upload, number: int, chunks: AsyncIterable[bytes],
        params: dict[str, Any], body: Any,
    ) -> tuple[Part, dict[str, str]]:
        wanted = checksums.requested(params, body)
        expected = upload.meta.get("checksum")
        sent = [name for name, value in wanted.items() if value is not None]
        if expected and sent and sent[0] != expected:
            raise AWSError("InvalidRequest", "Checksum Type mismatch occurred, expected checksum "
                           f"Type: {expected.lower()}, actual checksum Type: "
                           f"{sent[0].lower()}", 400)
        if expected:
            wanted.setdefault(expected, None)
        info = await self.write_blob(chunks, checksums.to_compute(wanted), prefix="p")
        try:
            checksums.check_content_md5(params.get("ContentMD5"), info)
            sums = checksums.settle(wanted, info, body)
            part = Part(upload.upload_id, number, info.key, info.size, f'"{info.md5}"',
                        self.now(), sums)
            with self.env.store.tx():
                if self.records.upload(upload.upload_id) is None:
                    raise no_such_upload(upload.upload_id)
                old = self.records.put_part(part)
                self.records.keep([info.key])
                stale = [old.blob] if old is not None else []
                self.records.add_garbage(stale, self.now())
        except BaseException:
            self.collect([info.key], grace=0)
            raise
        self.collect(stale)
        return part, sums

    def complete_multipart_upload(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._upload(call, params)
        wanted = (params.get("MultipartUpload") or {}).get("Parts") or []
        if not wanted:
            raise AWSError("MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema", 400)
        stored = {p.number: p for p in self.records.parts(upload.upload_id)}
        chosen: list[Part] = []
        previous = 0
        for item in wanted:
            number = int(item.get("PartNumber") or 0)
            if number <= previous:
                raise AWSError("InvalidPartOrder", "The list of parts was not in ascending "
                               "order. Parts must be ordered by part number.", 400,
                               UploadId=upload.upload_id)
            previous = number
            part = stored.get(number)
            if part is None or _bare(item.get("ETag") or "") != _bare(part.etag):
                raise AWSError("InvalidPart", "One or more of the specified parts could not be "
                               "found. The part may not have been uploaded, or the specified "
                               "entity tag may not match the part's entity tag.", 400,
                               UploadId=upload.upload_id, PartNumber=number,
                               ETag=item.get("ETag"))
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < MIN_PART:
                raise AWSError("EntityTooSmall", "Your proposed upload is smaller than the "
                               "minimum allowed object size.", 400, ProposedSize=part.size,
                               MinSizeAllowed=MIN_PART, PartNumber=part.number,
                               ETag=part.etag)
        meta: dict[str, Any] = {
            "headers": upload.meta.get("headers") or {},
            "user": upload.meta.get("user") or {},
            "parts": len(chosen),
            "checksums": {},
        }
        for name in ("acl", "tags", "sse", "lock"):
            if upload.meta.get(name):
                meta[name] = upload.meta[name]
        if upload.meta.get("owner") and upload.meta["owner"] != self._bucket_owner(upload):
            meta["owner"] = upload.meta["owner"]
        kind = _settle_checksum(upload, chosen, wanted, params, meta)
        record = ObjectRecord(
            upload.bucket, upload.key, sum(p.size for p in chosen),
            etag_of_parts([p.etag for p in chosen]), self.now(),
            [(p.blob, p.size) for p in chosen], meta,
        )
        used = {p.blob for p in chosen}
        with self.env.store.tx():
            if self.records.upload(upload.upload_id) is None:
                raise no_such_upload(upload.upload_id)
            unused = [p.blob for p in self.records.delete_upload(upload.upload_id)
                      if p.blob not in used]
            self.records.add_garbage(unused, self.now())
            stale = self.replace(record)
        self.collect(unused + stale)
        out: dict[str, Any] = {
            **({"VersionId": record.version} if "version" in record.meta else {}),
            "Location": f"/{upload.bucket}/{upload.key}",
            "Bucket": upload.bucket,
            "Key": upload.key,
            "ETag": record.etag,
        }
        out.update(checksums.output(meta["checksums"], kind))
        out.update(bucketrules.encryption_out(meta))
        return out

    def _bucket_owner(self, upload: Upload) -> str | None:
        """Who owns the object an upload makes, if the bucket's owner does
        (with ACLs disabled, the bucket owner owns every object)."""
        bucket = self.bucket(upload.bucket)
        if bucket is None:
            return None
        return upload.meta.get("owner") if bucketrules.enforced(bucket) else str(bucket["Owner"])

    def abort_multipart_upload(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._upload(call, params)
        with self.env.store.tx():
            parts = [p.blob for p in self.records.delete_upload(upload.upload_id)]
            self.records.add_garbage(parts, self.now())
        self.collect(parts)
        return {}

    def list_parts(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        upload = self._upload(call, params)
        limit = min(int(params.get("MaxParts") or 1000), 1000)
        after = int(params.get("PartNumberMarker") or 0)
        parts = self.records.parts(upload.upload_id, after)
        page = parts[:limit]
        out: dict[str, Any] = {
            "Bucket": upload.bucket,
            "Key": upload.key,
            "UploadId": upload.upload_id,
            "PartNumberMarker": after,
            "MaxParts": limit,
            "IsTruncated": len(parts) > limit,
            "Parts": [
                {"PartNumber": p.number, "LastModified": p.modified, "ETag": p.etag,
                 "Size": p.size, **{f"Checksum{k}": v for k, v in p.checksums.items()}}
                for p in page
            ],
            "Initiator": owner(upload.meta.get("owner", call.account)),
            "Owner": owner(upload.meta.get("owner", call.account)),
            "StorageClass": "STANDARD",
        }
        if page:
            out["NextPartNumberMarker"] = page[-1].number
        if upload.meta.get("checksum"):
            out["ChecksumAlgorithm"] = upload.meta["checksum"]
        return out

    def list_multipart_uploads(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"], None, params)["Name"]
        prefix = params.get("Prefix") or ""
        limit = min(int(params.get("MaxUploads") or 1000), 1000)
        key_marker = params.get("KeyMarker") or ""
        id_marker = params.get("UploadIdMarker") or ""
        found = [
            u for u in self.records.uploads(bucket, max(prefix, key_marker))
            if u.key.startswith(prefix)
            and (u.key > key_marker or (u.key == key_marker and id_marker
                                        and u.upload_id > id_marker) or not key_marker)
        ]
        page = found[:limit]
        out: dict[str, Any] = {
            "Bucket": bucket,
            "KeyMarker": key_marker,
            "UploadIdMarker": id_marker,
            "Prefix": prefix,
            "MaxUploads": limit,
            "IsTruncated": len(found) > limit,
            "Uploads": [
                {"UploadId": u.upload_id, "Key": u.key, "Initiated": u.initiated,
                 "StorageClass": "STANDARD",
                 "Owner": owner(u.meta.get("owner", call.account)),
                 "Initiator": owner(u.meta.get("owner", call.account))}
                for u in page
            ] or None,
        }
        if len(found) > limit and page:
            out["NextKeyMarker"] = page[-1].key
            out["NextUploadIdMarker"] = page[-1].upload_id
        return out


def _checksum_choice(params: dict[str, Any]) -> tuple[str | None, str | None]:
    """CreateMultipartUpload's ChecksumAlgorithm and ChecksumType, checked as S3 does."""
    algorithm = checksums.algorithm_of(params)
    kind = params.get("ChecksumType")
    if kind is not None:
        kind = str(kind).upper()
        if kind not in ("COMPOSITE", "FULL_OBJECT"):
            raise AWSError("InvalidRequest", "Value for x-amz-checksum-type header is invalid.",
                           400)
        if algorithm is None:
            raise AWSError("InvalidRequest", "The x-amz-checksum-type header can only be used "
                           "with the x-amz-checksum-algorithm header.", 400)
    if algorithm is None:
        return None, None
    allowed = checksums.TYPES[algorithm]
    if kind is None:
        kind = allowed[0]
    elif kind not in allowed:
        raise AWSError("InvalidRequest", f"The {kind} checksum type cannot be used with the "
                       f"{algorithm.lower()} checksum algorithm.", 400)
    return algorithm, kind


def _settle_checksum(upload: Upload, chosen: list[Part], wanted: list[dict[str, Any]],
                     params: dict[str, Any], meta: dict[str, Any]) -> str:
    """The completed object's checksum: parts' values sent back must match the
    stored ones, and a full-object value sent must match the combined CRC."""
    algorithm = upload.meta.get("checksum")
    kind = upload.meta.get("checksum_type") or "COMPOSITE"
    if not algorithm:
        return kind
    for part, item in zip(chosen, wanted, strict=True):
        sent = item.get(f"Checksum{algorithm}")
        if sent and sent != part.checksums.get(algorithm):
            raise AWSError("InvalidPart", "One or more of the specified parts could not be "
                           "found. The part may not have been uploaded, or the specified "
                           "entity tag may not match the part's entity tag.", 400,
                           UploadId=upload.upload_id, PartNumber=part.number)
    if not all(algorithm in p.checksums for p in chosen):
        return kind
    if kind == "FULL_OBJECT":
        value = checksums.full_object(
            [(p.checksums[algorithm], p.size) for p in chosen], algorithm)
    else:
        value = checksums.composite([p.checksums[algorithm] for p in chosen], algorithm)
    sent = params.get(f"Checksum{algorithm}")
    if sent and value is not None and str(sent).split("-")[0] != value.split("-")[0]:
        raise checksums.bad_digest(algorithm)
    if value is not None:
        meta["checksums"] = {algorithm: value}
        meta["checksum_type"] = kind
    return kind
