"""Browser form uploads (POST Object): a multipart/form-data POST to a bucket
carrying a policy document signed with SigV4. The fields before the ``file``
part are checked against the policy's conditions (``eq``, ``starts-with``,
``content-length-range``, ``{"field": value}``), then the file part streams
into the object like a PUT does."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from gureum.errors import AWSError

from ..base import Call, Identity
from .objects import check_key
from .permissions import PermissionOps
from .web import WebAnswer

MAX_FIELD = 64 * 1024
# Fields the policy need not name (AWS: the signature, the policy, the file, x-ignore-*).
UNCHECKED = {"x-amz-signature", "policy", "file", "awsaccesskeyid", "signature"}
HEADERS = {"content-type": "ContentType", "cache-control": "CacheControl",
           "content-disposition": "ContentDisposition", "content-encoding": "ContentEncoding",
           "expires": "Expires"}


def invalid_policy(message: str) -> AWSError:
    return AWSError("InvalidPolicyDocument", f"Invalid Policy: {message}", 400)


def policy_denied(message: str) -> AWSError:
    return AWSError("AccessDenied", f"Invalid according to Policy: {message}", 403)


def signature_mismatch() -> AWSError:
    return AWSError("SignatureDoesNotMatch", "The request signature we calculated does not "
                    "match the signature you provided.", 403)


def key_identity(key: Any) -> Identity:
    """The caller an access key names (a user's key or an account's root key)."""
    user = getattr(key, "user_name", None)
    account = key.account_id
    if user:
        return Identity(account, f"arn:aws:iam::{account}:user/{user}",
                        getattr(key, "user_id", None) or key.access_key_id,
                        key.access_key_id, "user", user)
    return Identity.root(account, key.access_key_id)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def read_policy(encoded: str, now: float) -> list[Any]:
    """The conditions of a base64 policy document that has not expired."""
    try:
        doc = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise invalid_policy("Policy is not valid JSON.") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("conditions"), list):
        raise invalid_policy("Policy missing conditions.")
    try:
        expires = datetime.fromisoformat(str(doc["expiration"]).replace("Z", "+00:00"))
    except (KeyError, ValueError) as exc:
        raise invalid_policy("Policy missing expiration.") from exc
    if expires.timestamp() < now:
        raise policy_denied("Policy expired.")
    return list(doc["conditions"])


def check_conditions(conditions: list[Any], fields: dict[str, str]) -> tuple[int, int | None]:
    """Check ``fields`` (lower-case names) against the policy; return the
    content-length range it allows."""
    covered: set[str] = set()
    low, high = 0, None
    for cond in conditions:
        if isinstance(cond, dict) and len(cond) == 1:
            ((name, value),) = cond.items()
            cond = ["eq", f"${name}", value]
        if not isinstance(cond, list) or len(cond) != 3:
            raise invalid_policy("Invalid condition.")
        op = str(cond[0]).lower()
        if op == "content-length-range":
            try:
                low, high = int(cond[1]), int(cond[2])
            except (TypeError, ValueError) as exc:
                raise invalid_policy("Invalid content-length-range.") from exc
            continue
        name = str(cond[1]).lower().removeprefix("$")
        covered.add(name)
        actual, wanted = fields.get(name, ""), str(cond[2])
        if name == "content-type" and op == "starts-with":
            ok = all(p.strip().startswith(wanted) for p in actual.split(","))
        elif op == "starts-with":
            ok = actual.startswith(wanted)
        elif op == "eq":
            ok = actual == wanted
        else:
            raise invalid_policy(f"Unknown condition {cond[0]}.")
        if not ok:
            raise policy_denied(f'Policy Condition failed: ["{op}", "${name}", "{wanted}"]')
    for name in fields:
        if name not in covered and name not in UNCHECKED and not name.startswith("x-ignore-"):
            raise policy_denied(f"Extra input fields: {name}")
    return low, high


async def limited(chunks: AsyncIterator[bytes], low: int, high: int | None
                  ) -> AsyncIterator[bytes]:
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if high is not None and size > high:
            raise AWSError("EntityTooLarge", "Your proposed upload exceeds the maximum "
                           "allowed size", 400, MaxSizeAllowed=high)
        yield chunk
    if size < low:
        raise AWSError("EntityTooSmall", "Your proposed upload is smaller than the minimum "
                       "allowed size", 400, MinSizeAllowed=low)


async def part_chunks(part: Any) -> AsyncIterator[bytes]:
    while True:
        chunk = await part.read_chunk(1 << 20)
        if not chunk:
            return
        yield chunk


class FormOps(PermissionOps):
    async def post_object(self, bucket: str | None, request: Any, request_id: str) -> WebAnswer:
        """A browser form upload to ``bucket`` (``request`` is aiohttp's)."""
        if bucket is None:
            raise AWSError("MethodNotAllowed", "The specified method is not allowed against "
                           "this resource.", 405, Method="POST", ResourceType="SERVICE")
        reader = await request.multipart()
        fields: dict[str, str] = {}
        while True:
            part = await reader.next()
            if part is None:
                raise AWSError("InvalidArgument", "POST requires exactly one file upload "
                               "per request.", 400, ArgumentName="file")
            name = (part.name or "").lower()
            if name == "file":
                return await self._post_file(bucket, request, request_id, fields, part)
            value = await part.read(decode=False)
            if len(value) > MAX_FIELD:
                raise AWSError("MaxPostPreDataLengthExceeded", "Your POST request fields "
                               "preceding the upload file were too large.", 400)
            fields[name] = bytes(value).decode("utf-8", "replace")

    def _form_identity(self, fields: dict[str, str]) -> tuple[Identity, str]:
        """Who signed the form (and the region they signed for)."""
        if "policy" not in fields:
            return Identity.nobody(), ""
        if "awsaccesskeyid" in fields and "x-amz-algorithm" not in fields:
            return self._form_identity_v2(fields), ""
        if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise AWSError("InvalidArgument", "POST requires x-amz-algorithm AWS4-HMAC-SHA256",
                           400, ArgumentName="x-amz-algorithm")
        try:
            akid, date, region, service, _ = fields["x-amz-credential"].split("/")
            signature = fields["x-amz-signature"]
        except (KeyError, ValueError) as exc:
            raise AWSError("InvalidArgument", "POST requires a valid x-amz-credential and "
                           "x-amz-signature", 400) from exc
        key = self._form_key(akid)
        if key is None:
            return self._unknown_key(akid), region
        expected = hmac.new(signing_key(key.secret_access_key, date, region, service),
                            fields["policy"].encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise signature_mismatch()
        return key_identity(key), region

    def _form_identity_v2(self, fields: dict[str, str]) -> Identity:
        """A form signed the SigV2 way: base64 HMAC-SHA1 of the policy."""
        akid = fields["awsaccesskeyid"]
        key = self._form_key(akid)
        if key is None:
            return self._unknown_key(akid)
        expected = base64.b64encode(hmac.new(key.secret_access_key.encode(),
                                             fields["policy"].encode(), hashlib.sha1).digest())
        if not hmac.compare_digest(expected.decode(), fields.get("signature", "")):
            raise signature_mismatch()
        return key_identity(key)

    def _form_key(self, akid: str) -> Any:
        key = self.env.store.get_access_key(akid)
        if key is None or getattr(key, "status", "Active") != "Active":
            if self.env.settings.strict_credentials or key is not None:
                raise AWSError("InvalidAccessKeyId", "The AWS Access Key Id you provided does "
                               "not exist in our records.", 403, AWSAccessKeyId=akid)
            return None
        return key

    def _unknown_key(self, akid: str) -> Identity:
        account = akid if len(akid) == 12 and akid.isdigit() else self.env.settings.default_account
        return Identity.root(account, akid)

    async def _post_file(self, bucket: str, request: Any, request_id: str,
                         fields: dict[str, str], part: Any) -> WebAnswer:
        identity, region = self._form_identity(fields)
        key = fields.get("key")
        if key is None:
            raise AWSError("InvalidArgument", "Bucket POST must contain a field named 'key'.",
                           400, ArgumentName="key")
        key = key.replace("${filename}", part.filename or "")
        fields["key"] = key
        fields["bucket"] = bucket
        low, high = 0, None
        if "policy" in fields:
            low, high = check_conditions(read_policy(fields["policy"], self.now()), fields)
        call = Call("s3", "PostObject", identity.account_id,
                    region or self.env.settings.region, identity, request_id,
                    source_ip=request.remote or "", secure=request.secure, headers=request.headers)
        params: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": None}
        if fields.get("acl"):
            params["ACL"] = fields["acl"]
        if part.headers.get("Content-Type") and "content-type" not in fields:
            fields["content-type"] = part.headers["Content-Type"]
        for name, param in HEADERS.items():
            if fields.get(name):
                params[param] = fields[name]
        user = {k.removeprefix("x-amz-meta-"): v for k, v in fields.items()
                if k.startswith("x-amz-meta-")}
        params["Metadata"] = user
        params["_chunks"] = limited(part_chunks(part), low, high)
        out = await self.form_object(call, params)
        return self._form_answer(bucket, key, out["ETag"], fields, request)

    async def form_object(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        """The write of a form upload (billed as PostObject)."""
        chunks = params.pop("_chunks")
        bucket_doc = self.owned(call, params["Bucket"], params["Key"], params,
                                action="s3:PutObject")
        check_key(params["Key"])
        meta = self.new_meta(call, bucket_doc, params,
                             {k: params[k] for k in HEADERS.values() if params.get(k)},
                             params["Metadata"])
        record = await self.store_object(call, bucket_doc["Name"], params["Key"], chunks, meta,
                                         params)
        return {"ETag": record.etag}

    @staticmethod
    def _form_answer(bucket: str, key: str, etag: str, fields: dict[str, str],
                     request: Any) -> WebAnswer:
        location = f"{request.scheme}://{request.host}/{bucket}/{quote(key)}"
        redirect = fields.get("success_action_redirect") or fields.get("redirect")
        if redirect:
            sep = "&" if "?" in redirect else "?"
            target = redirect + sep + urlencode({"bucket": bucket, "key": key, "etag": etag})
            return WebAnswer(303, {"Location": target, "ETag": etag})
        status = fields.get("success_action_status", "204")
        headers = {"ETag": etag, "Location": location}
        if status == "201":
            root = ET.Element("PostResponse")
            for tag, text in (("Location", location), ("Bucket", bucket), ("Key", key),
                              ("ETag", etag)):
                ET.SubElement(root, tag).text = text
            body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
            return WebAnswer(201, {**headers, "Content-Type": "application/xml"}, body)
        return WebAnswer(200 if status == "200" else 204, headers)
