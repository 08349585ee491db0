"""What is said about an object and a bucket besides its bytes: object tags
(Get/Put/DeleteObjectTagging, any version), bucket tags
(Get/Put/DeleteBucketTagging) and GetObjectAttributes."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from . import replrules
from .core import no_such_key
from .objects import check_tags, no_such_version
from .records import ObjectRecord
from .versions import VersioningOps

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


def _tag_dict(tag_set: list[dict[str, Any]], limit: int) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in tag_set:
        name = str(tag.get("Key") or "")
        if name in tags:
            raise AWSError("InvalidTag", "Cannot provide multiple Tags with the same key", 400)
        tags[name] = str(tag.get("Value") or "")
    check_tags(tags, limit)
    return tags


def _tag_set(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class AttributeOps(VersioningOps):
    def _version(self, call: Call, params: dict[str, Any]) -> ObjectRecord:
        bucket = self.owned(call, params["Bucket"], params["Key"], params)["Name"]
        version = params.get("VersionId")
        found = self.records.find_version(bucket, params["Key"], version)
        if found is None or (found.marker and version is None):
            if version is not None:
                raise no_such_version(params["Key"], version)
            raise no_such_key(params["Key"])
        if found.marker:
            raise AWSError("MethodNotAllowed", "The specified method is not allowed against "
                           "this resource.", 405, Method=call.operation,
                           ResourceType="DeleteMarker")
        return found

    @staticmethod
    def _version_out(record: ObjectRecord) -> dict[str, Any]:
        return {"VersionId": record.version} if "version" in record.meta else {}

    # -- object tags --------------------------------------------------------------

    def put_object_tagging(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        tags = _tag_dict((params.get("Tagging") or {}).get("TagSet") or [], 10)
        with self.env.store.tx():
            record = self._version(call, params)
            if tags:
                record.meta["tags"] = tags
            else:
                record.meta.pop("tags", None)
            replrules.meta_changed(self, record)
            self.records.update_meta(record)
        return self._version_out(record)

    def get_object_tagging(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        record = self._version(call, params)
        return {"TagSet": _tag_set(record.meta.get("tags") or {}), **self._version_out(record)}

    def delete_object_tagging(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            record = self._version(call, params)
            record.meta.pop("tags", None)
            replrules.meta_changed(self, record)
            self.records.update_meta(record)
        return self._version_out(record)

    # -- bucket tags ----------------------------------------------------------------

    def put_bucket_tagging(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        tags = _tag_dict((params.get("Tagging") or {}).get("TagSet") or [], 50)
        self.update_bucket(bucket["Name"], Tags=tags or None)
        return {}

    def get_bucket_tagging(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        if not bucket.get("Tags"):
            raise AWSError("NoSuchTagSet", "The TagSet does not exist", 404,
                           BucketName=bucket["Name"])
        return {"TagSet": _tag_set(bucket["Tags"])}

    def delete_bucket_tagging(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], Tags=None)
        return {}

    # -- attributes -------------------------------------------------------------------

    def get_object_attributes(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        wanted = set(params.get("ObjectAttributes") or [])
        if not wanted or not wanted <= set(ATTRIBUTES):
            raise AWSError("InvalidArgument", "Invalid attribute name specified.", 400,
                           ArgumentName="x-amz-object-attributes")
        record = self._version(call, params)
        out: dict[str, Any] = {"LastModified": record.modified, **self._version_out(record)}
        if "ETag" in wanted:
            out["ETag"] = record.etag.strip('"')
        if "ObjectSize" in wanted:
            out["ObjectSize"] = record.size
        if "StorageClass" in wanted:
            out["StorageClass"] = "STANDARD"
        sums = record.meta.get("checksums") or {}
        if "Checksum" in wanted and sums:
            kind = record.meta.get("checksum_type", "FULL_OBJECT")
            out["Checksum"] = {**{f"Checksum{k}": v for k, v in sums.items()},
                               "ChecksumType": kind}
        count = record.parts_count
        if "ObjectParts" in wanted and count:
            out["ObjectParts"] = self._parts_of(record, params)
        return out

    @staticmethod
    def _parts_of(record: ObjectRecord, params: dict[str, Any]) -> dict[str, Any]:
        limit = min(int(params.get("MaxParts") or 1000), 1000)
        after = int(params.get("PartNumberMarker") or 0)
        sizes = [size for _, size in record.blobs]
        page = list(enumerate(sizes, 1))[after: after + limit]
        parts: dict[str, Any] = {
            "TotalPartsCount": len(sizes), "PartNumberMarker": after, "MaxParts": limit,
            "IsTruncated": after + limit < len(sizes),
            "Parts": [{"PartNumber": n, "Size": s} for n, s in page],
        }
        if page:
            parts["NextPartNumberMarker"] = page[-1][0]
        return parts
