"""S3: buckets (objects come with the S3 issue). Bucket names are global across
accounts, as on AWS; a bucket lives in the region it was created in."""

from __future__ import annotations

import re
import time
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Service

KIND = "s3:bucket"
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")


def check_bucket_name(name: str) -> None:
    if (
        not _NAME.match(name)
        or _IP.match(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))
    ):
        raise AWSError("InvalidBucketName", "The specified bucket is not valid.", BucketName=name)


class S3(Service):
    name = "s3"
    kinds = (KIND,)

    def _bucket(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.env.store.resources.get(KIND, "", "", name)
        return found

    def _owned(self, call: Call, name: str) -> dict[str, Any]:
        bucket = self._bucket(name)
        if bucket is None:
            raise AWSError(
                "NoSuchBucket", "The specified bucket does not exist", 404, BucketName=name
            )
        if bucket["Owner"] != call.account:
            raise AWSError("AccessDenied", "Access Denied", 403)
        return bucket

    def create_bucket(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Bucket"]
        check_bucket_name(name)
        config = params.get("CreateBucketConfiguration") or {}
        location = config.get("LocationConstraint")
        if call.region == "us-east-1":
            if location not in (None, "", "us-east-1"):
                raise AWSError(
                    "IllegalLocationConstraintException",
                    f"The {location} location constraint is incompatible for the region "
                    "specific endpoint this request was sent to.",
                )
        elif location != call.region:
            raise AWSError(
                "IllegalLocationConstraintException" if location else "InvalidLocationConstraint",
                "The unspecified location constraint is incompatible for the region specific "
                "endpoint this request was sent to."
                if not location
                else f"The {location} location constraint is incompatible for the region "
                "specific endpoint this request was sent to.",
            )
        store = self.env.store
        with store.tx():
            existing = self._bucket(name)
            if existing is not None:
                if existing["Owner"] == call.account:
                    if call.region == "us-east-1" and existing["Region"] == "us-east-1":
                        # us-east-1 answers 200 for a bucket you already own (legacy).
                        return {"Location": f"/{name}"}
                    raise AWSError(
                        "BucketAlreadyOwnedByYou",
                        "Your previous request to create the named bucket succeeded and you "
                        "already own it.",
                        409,
                        BucketName=name,
                    )
                raise AWSError(
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is shared "
                    "by all users of the system. Please select a different name and try again.",
                    409,
                    BucketName=name,
                )
            store.resources.put(
                KIND, "", "", name,
                {"Name": name, "Owner": call.account, "Region": call.region,
                 "CreationDate": time.time()},
            )
        return {"Location": f"/{name}"}

    def head_bucket(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._owned(call, params["Bucket"])
        return {"BucketRegion": bucket["Region"]}

    def delete_bucket(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self._owned(call, params["Bucket"])
        self.env.store.resources.delete(KIND, "", "", bucket["Name"])
        return {}

    def list_buckets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        from ..common.pagination import paginate

        prefix = params.get("Prefix") or ""
        region = params.get("BucketRegion")
        buckets = [
            b
            for b in self.env.store.resources.list(KIND, "", "")
            if b["Owner"] == call.account
            and b["Name"].startswith(prefix)
            and (region is None or b["Region"] == region)
        ]
        buckets.sort(key=lambda b: b["Name"])
        page, token = paginate(
            buckets,
            params.get("ContinuationToken"),
            params.get("MaxBuckets"),
            key=lambda b: b["Name"],
            default_limit=10000,
            max_limit=10000,
            error_code="InvalidArgument",
        )
        out: dict[str, Any] = {
            "Buckets": [
                {"Name": b["Name"], "CreationDate": b["CreationDate"], "BucketRegion": b["Region"]}
                for b in page
            ],
            "Owner": {"ID": _canonical_id(call.account), "DisplayName": "gureum"},
        }
        if prefix:
            out["Prefix"] = prefix
        if token:
            out["ContinuationToken"] = token
        return out


def _canonical_id(account: str) -> str:
    import hashlib

    return hashlib.sha256(f"gureum-canonical-{account}".encode()).hexdigest()
