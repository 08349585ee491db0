"""Shared helpers of the S3 end-to-end tests (no tests here): a bucket that cleans up
after itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def unique(prefix: str = "bkt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for up in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found = page.get("Versions", []) + page.get("DeleteMarkers", [])
        versions = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in found]
        if versions:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions, "Quiet": True})


@contextmanager
def temp_bucket(s3: Any, prefix: str = "bkt") -> Iterator[str]:
    name = unique(prefix)
    s3.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        empty_bucket(s3, name)
        s3.delete_bucket(Bucket=name)
