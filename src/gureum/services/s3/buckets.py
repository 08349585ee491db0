"""Bucket operations: CreateBucket, HeadBucket, DeleteBucket, ListBuckets,
GetBucketLocation. Bucket names are global across accounts, as on AWS; a
bucket lives in the region it was created in. Bucket records are documents
in the generic resource store."""

from __future__ import annotations

import re
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common.pagination import paginate
from . import acl, bucketrules
from .acl import owner
from .core import KIND, S3Core, access_denied

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


def _incompatible(location: str | None) -> str:
    what = location or "unspecified"
    return (
        f"The {what} location constraint is incompatible for the region specific endpoint "
        "this request was sent to."
    )


def _ownership(
    params: dict[str, Any], grants: list[dict[str, Any]] | None, account: str
) -> str | None:
    """The Object Ownership a CreateBucket asks for."""
    ownership = params.get("ObjectOwnership")
    if ownership is None:
        return None
    if ownership not in bucketrules.OWNERSHIPS:
        raise AWSError("InvalidArgument", "Invalid x-amz-object-ownership header: "
                       f"{ownership}", 400, ArgumentName="x-amz-object-ownership",
                       ArgumentValue=str(ownership))
    if ownership == bucketrules.ENFORCED and not bucketrules.owner_only(grants, account):
        raise bucketrules.acl_with_enforced()
    return str(ownership)


class BucketOps(S3Core):
    def create_bucket(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        if call.identity.anonymous:
            raise access_denied()
        name = params["Bucket"]
        check_bucket_name(name)
        grants = acl.from_request(params, acl.canonical_id(call.account), default=None)
        ownership = _ownership(params, grants, call.account)
        config = params.get("CreateBucketConfiguration") or {}
        location = config.get("LocationConstraint")
        if call.region == "us-east-1":
            if location not in (None, "", "us-east-1"):
                raise AWSError("IllegalLocationConstraintException", _incompatible(location))
        elif location != call.region:
            raise AWSError(
                "IllegalLocationConstraintException" if location else "InvalidLocationConstraint",
                _incompatible(location),
            )
        store = self.env.store
        with store.tx():
            existing = self.bucket(name)
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
            doc: dict[str, Any] = {"Name": name, "Owner": call.account, "Region": call.region,
                                   "CreationDate": self.now()}
            if grants is not None:
                doc["Acl"] = grants
            if ownership is not None:
                doc["Ownership"] = ownership
            if params.get("ObjectLockEnabledForBucket"):
                # Object Lock needs versioning, enabled for good (``objectlock``).
                doc.update(ObjectLock={"ObjectLockEnabled": "Enabled"}, Versioning="Enabled")
            store.resources.put(KIND, "", "", name, doc)
        return {"Location": f"/{name}"}

    def head_bucket(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        return {"BucketRegion": bucket["Region"]}

    def get_bucket_location(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        region = bucket["Region"]
        # S3 answers an empty constraint for us-east-1 ("", not None: the
        # document must still be written for clients to parse it).
        return {"LocationConstraint": "" if region == "us-east-1" else region}

    def delete_bucket(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = self.owned(call, params["Bucket"])["Name"]
        store = self.env.store
        with store.tx():
            if self.records.any_object(name):
                raise AWSError(
                    "BucketNotEmpty", "The bucket you tried to delete is not empty", 409,
                    BucketName=name,
                )
            parts: list[str] = []
            for upload in self.records.uploads(name):
                parts.extend(p.blob for p in self.records.delete_upload(upload.upload_id))
            self.records.add_garbage(parts, self.now())
            store.resources.delete(KIND, "", "", name)
        self.collect(parts, grace=0)
        return {}

    def list_buckets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        if call.identity.anonymous:
            raise access_denied()
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
            "Owner": owner(call.account),
        }
        if prefix:
            out["Prefix"] = prefix
        if token:
            out["ContinuationToken"] = token
        return out
