"""Versioning: Put/GetBucketVersioning and ListObjectVersions.

The current version of a key is its row in ``s3_objects`` (listings stay one
indexed scan); older versions and delete markers are rows of ``s3_versions``,
newest first by sequence. Writes and deletes keep that split (``objects``):
with versioning enabled a write pushes its predecessor down and a delete
pushes a delete marker; suspended, both produce the ``null`` version, which
replaces any earlier ``null`` version.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gureum.errors import AWSError

from ..base import Call
from . import objectlock
from .acl import owner
from .permissions import PermissionOps

MAX_KEYS = 1000


class VersioningOps(PermissionOps):
    def put_bucket_versioning(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        status = (params.get("VersioningConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise AWSError("MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema", 400)
        if status == "Suspended" and bucket.get("Replication"):
            raise AWSError("InvalidBucketState", "A replication configuration is present on "
                           "this bucket, so the versioning state cannot be changed.", 409)
        if status == "Suspended" and objectlock.enabled(bucket):
            raise AWSError("InvalidBucketState", "An Object Lock configuration is present on "
                           "this bucket, so the versioning state cannot be changed.", 409)
        if status == "Suspended" and not bucket.get("Versioning"):
            return {}  # never enabled: stays unversioned, as S3 reports it
        self.update_bucket(bucket["Name"], Versioning=status)
        return {}

    def get_bucket_versioning(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        status = bucket.get("Versioning")
        return {"Status": status} if status else {}

    def list_object_versions(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"], None, params)
        name = bucket["Name"]
        prefix = params.get("Prefix") or ""
        delimiter = params.get("Delimiter") or ""
        max_keys = params.get("MaxKeys")
        limit = min(MAX_KEYS if max_keys is None else int(max_keys), MAX_KEYS)
        key_marker = params.get("KeyMarker") or ""
        version_marker = params.get("VersionIdMarker") or ""
        url = params.get("EncodingType") == "url"

        def enc(text: str) -> str:
            return quote(text, safe="/") if url else text

        versions: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        prefixes: list[str] = []
        count = 0
        truncated = False
        next_key = next_version = None
        # Skip to just past the marker: every version of key_marker when no
        # version marker is given, else the versions up to that one.
        skipping_key = key_marker if key_marker else None
        passed_version = not version_marker
        for record, latest in self.records.scan_versions(name, max(prefix, key_marker)):
            key = record.key
            if not key.startswith(prefix):
                break
            if skipping_key is not None and key == skipping_key:
                if not passed_version:
                    passed_version = record.version == version_marker
                    continue
                if not version_marker:
                    continue
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    if prefixes and prefixes[-1] == common:
                        continue
                    if key_marker and common <= key_marker:
                        continue
                    if count == limit:
                        truncated = True
                        break
                    prefixes.append(common)
                    next_key, next_version = common, None
                    count += 1
                    continue
            if count == limit:
                truncated = True
                break
            entry: dict[str, Any] = {
                "Key": enc(key), "VersionId": record.version, "IsLatest": latest,
                "LastModified": record.modified,
                "Owner": owner(record.meta.get("owner") or bucket["Owner"]),
            }
            if record.marker:
                markers.append(entry)
            else:
                entry.update(ETag=record.etag, Size=record.size, StorageClass="STANDARD")
                versions.append(entry)
            next_key, next_version = key, record.version
            count += 1
        out: dict[str, Any] = {
            "Name": name, "Prefix": enc(prefix), "KeyMarker": enc(key_marker),
            "VersionIdMarker": version_marker, "MaxKeys": limit, "IsTruncated": truncated,
            "Versions": versions or None, "DeleteMarkers": markers or None,
            "CommonPrefixes": [{"Prefix": enc(p)} for p in prefixes] or None,
        }
        if delimiter:
            out["Delimiter"] = enc(delimiter)
        if url:
            out["EncodingType"] = "url"
        if truncated and next_key is not None:
            out["NextKeyMarker"] = enc(next_key)
            if next_version is not None:
                out["NextVersionIdMarker"] = next_version
        return out
