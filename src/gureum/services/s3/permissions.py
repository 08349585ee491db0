"""Access control operations: bucket policies (Put/Get/DeleteBucketPolicy,
GetBucketPolicyStatus), ACLs (Get/PutBucketAcl, Get/PutObjectAcl) and Public
Access Block (Put/Get/DeletePublicAccessBlock). What they decide is applied
by ``access.allowed`` on every request."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from . import acl, bucketrules, replrules
from .core import KIND, no_such_key
from .objects import ObjectOps
from .policy import parse_policy, policy_is_public

PAB_FIELDS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


def _blocked() -> AWSError:
    return AWSError("AccessDenied", "Access Denied", 403)


class PermissionOps(ObjectOps):
    def update_bucket(self, name: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a bucket document in one transaction (None removes one)."""
        store = self.env.store
        with store.tx():
            bucket = self.bucket(name)
            if bucket is None:
                from .core import no_such_bucket

                raise no_such_bucket(name)
            for field, value in changes.items():
                if value is None:
                    bucket.pop(field, None)
                else:
                    bucket[field] = value
            store.resources.put(KIND, "", "", name, bucket)
        return bucket

    def check_acl_allowed(self, bucket: dict[str, Any], grants: list[dict[str, Any]] | None
                          ) -> None:
        """Block Public Access: a request setting a public ACL is refused."""
        block = bucket.get("PublicAccessBlock") or {}
        if block.get("BlockPublicAcls") and acl.is_public(grants):
            raise _blocked()

    # -- bucket policy ----------------------------------------------------------

    def put_bucket_policy(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        text = params.get("Policy") or ""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        doc = parse_policy(text, bucket["Name"])
        block = bucket.get("PublicAccessBlock") or {}
        if block.get("BlockPublicPolicy") and policy_is_public(doc):
            raise _blocked()
        self.update_bucket(bucket["Name"], Policy=text, PolicyDoc=doc)
        return {}

    def get_bucket_policy(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        if not bucket.get("Policy"):
            raise AWSError("NoSuchBucketPolicy", "The bucket policy does not exist", 404,
                           BucketName=bucket["Name"])
        return {"Policy": bucket["Policy"]}

    def delete_bucket_policy(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], Policy=None, PolicyDoc=None)
        return {}

    def get_bucket_policy_status(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        if not bucket.get("Policy"):
            raise AWSError("NoSuchBucketPolicy", "The bucket policy does not exist", 404,
                           BucketName=bucket["Name"])
        return {"PolicyStatus": {"IsPublic": policy_is_public(bucket.get("PolicyDoc"))}}

    # -- ACLs -------------------------------------------------------------------

    def _requested_grants(
        self, params: dict[str, Any], owner_account: str, bucket_owner: str | None = None
    ) -> list[dict[str, Any]]:
        document = params.get("AccessControlPolicy")
        grants = acl.from_request(
            params, acl.canonical_id(owner_account),
            acl.canonical_id(bucket_owner) if bucket_owner else None, default=None,
        )
        if grants is not None and document:
            raise AWSError("UnexpectedContent", "This request does not support content", 400)
        if grants is None:
            if not document:
                raise AWSError("MissingSecurityHeader", "Your request was missing a required "
                               "header", 400, MissingHeaderName="x-amz-acl")
            grants = acl.from_policy_document(document)
        return grants

    def put_bucket_acl(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        grants = self._requested_grants(params, bucket["Owner"])
        if bucketrules.enforced(bucket):
            # ACLs are disabled: only the owner's full control is accepted, and changes nothing.
            if not bucketrules.owner_only(grants, bucket["Owner"]):
                raise bucketrules.acls_disabled()
            return {}
        self.check_acl_allowed(bucket, grants)
        self.update_bucket(bucket["Name"], Acl=grants)
        return {}

    def get_bucket_acl(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        owner_id = acl.canonical_id(bucket["Owner"])
        grants = bucket.get("Acl") or [acl.user(owner_id, "FULL_CONTROL")]
        if bucketrules.enforced(bucket):
            grants = [acl.user(owner_id, "FULL_CONTROL")]
        return {"Owner": acl.owner(bucket["Owner"]), "Grants": grants}

    def put_object_acl(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"], params["Key"], params)
        with self.env.store.tx():
            found = self.records.find_version(bucket["Name"], params["Key"],
                                              params.get("VersionId"))
            if found is None:
                raise no_such_key(params["Key"])
            owner_account = found.meta.get("owner") or bucket["Owner"]
            if bucketrules.enforced(bucket):
                grants = self._requested_grants(params, bucket["Owner"])
                if not bucketrules.owner_only(grants, bucket["Owner"]):
                    raise bucketrules.acls_disabled()
                return {}
            grants = self._requested_grants(params, owner_account, bucket["Owner"])
            self.check_acl_allowed(bucket, grants)
            found.meta["acl"] = grants
            replrules.meta_changed(self, found)
            self.records.update_meta(found)
        return {}

    def get_object_acl(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"], params["Key"], params)
        found = self.records.find_version(bucket["Name"], params["Key"], params.get("VersionId"))
        if found is None:
            raise no_such_key(params["Key"])
        owner_account = found.meta.get("owner") or bucket["Owner"]
        grants = found.meta.get("acl") or [
            acl.user(acl.canonical_id(owner_account), "FULL_CONTROL")
        ]
        if bucketrules.enforced(bucket):  # the bucket owner owns every object
            owner_account = bucket["Owner"]
            grants = [acl.user(acl.canonical_id(owner_account), "FULL_CONTROL")]
        return {"Owner": acl.owner(owner_account), "Grants": grants}

    # -- Public Access Block ------------------------------------------------------

    def put_public_access_block(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        config = params.get("PublicAccessBlockConfiguration") or {}
        settings = {f: bool(config.get(f, False)) for f in PAB_FIELDS}
        self.update_bucket(bucket["Name"], PublicAccessBlock=settings)
        return {}

    def get_public_access_block(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        settings = bucket.get("PublicAccessBlock")
        if settings is None:
            raise AWSError("NoSuchPublicAccessBlockConfiguration",
                           "The public access block configuration was not found", 404,
                           BucketName=bucket["Name"])
        return {"PublicAccessBlockConfiguration": settings}

    def delete_public_access_block(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], PublicAccessBlock=None)
        return {}
