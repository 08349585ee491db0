"""S3 for browsers: CORS configuration (Put/Get/DeleteBucketCors) with the
answers to preflight ``OPTIONS`` requests and the headers of actual
cross-origin requests, and static website hosting (Put/Get/DeleteBucketWebsite)
with index and error documents.

``preflight``, ``cors_headers`` and ``website`` answer plain HTTP requests
that no S3 operation models; the gateway calls them and sends the ``WebAnswer``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Identity
from . import access
from .lifecycle import LifecycleOps
from .policy import glob_match
from .records import ObjectRecord

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")


@dataclass
class WebAnswer:
    """A plain HTTP answer: status, headers and a body (bytes or an object's bytes)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = b""


def _html(status: int, title: str, detail: str) -> WebAnswer:
    page = (f"<html><head><title>{status} {title}</title></head><body><h1>{status} {title}"
            f"</h1><ul><li>{detail}</li></ul></body></html>").encode()
    return WebAnswer(status, {"Content-Type": "text/html; charset=utf-8"}, page)


class WebOps(LifecycleOps):
    # -- CORS -----------------------------------------------------------------------

    def put_bucket_cors(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
        if not rules or len(rules) > 100:
            raise AWSError("MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema", 400)
        for rule in rules:
            if not rule.get("AllowedOrigins") or not rule.get("AllowedMethods"):
                raise AWSError("MalformedXML", "The XML you provided was not well-formed or "
                               "did not validate against our published schema", 400)
            for method in rule["AllowedMethods"]:
                if method not in METHODS:
                    raise AWSError("InvalidRequest", "Found unsupported HTTP method in CORS "
                                   f"config. Unsupported method is {method}", 400)
            for origin in rule["AllowedOrigins"]:
                if origin.count("*") > 1:
                    raise AWSError("InvalidRequest", f'AllowedOrigin "{origin}" can not have '
                                   "more than one wildcard.", 400)
        self.update_bucket(bucket["Name"], Cors=rules)
        return {}

    def get_bucket_cors(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        if not bucket.get("Cors"):
            raise AWSError("NoSuchCORSConfiguration", "The CORS configuration does not exist",
                           404, BucketName=bucket["Name"])
        return {"CORSRules": bucket["Cors"]}

    def delete_bucket_cors(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], Cors=None)
        return {}

    def _cors_rule(
        self, bucket: dict[str, Any] | None, origin: str, method: str, headers: list[str]
    ) -> dict[str, Any] | None:
        for rule in (bucket or {}).get("Cors") or []:
            if method not in rule["AllowedMethods"]:
                continue
            if not any(glob_match(o, origin) for o in rule["AllowedOrigins"]):
                continue
            allowed = rule.get("AllowedHeaders") or []
            if all(any(glob_match(a, h, True) for a in allowed) for h in headers):
                return dict(rule)
        return None

    @staticmethod
    def _cors_out(rule: dict[str, Any], origin: str) -> dict[str, str]:
        out = {
            "Access-Control-Allow-Origin": "*" if rule["AllowedOrigins"] == ["*"] else origin,
            "Access-Control-Allow-Methods": ", ".join(rule["AllowedMethods"]),
            "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        }
        if out["Access-Control-Allow-Origin"] != "*":
            out["Access-Control-Allow-Credentials"] = "true"
        if rule.get("ExposeHeaders"):
            out["Access-Control-Expose-Headers"] = ", ".join(rule["ExposeHeaders"])
        if rule.get("MaxAgeSeconds") is not None:
            out["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
        return out

    def preflight(
        self, bucket_name: str, origin: str | None, method: str | None, request_headers: str
    ) -> WebAnswer:
        """The answer to ``OPTIONS /bucket[/key]`` from a browser."""
        if not origin or not method:
            return _html(400, "Bad Request", "Insufficient information. Origin request header "
                         "needed.")
        bucket = self.bucket(bucket_name)
        if bucket is None:
            return _html(404, "Not Found", "The specified bucket does not exist")
        wanted = [h.strip() for h in request_headers.split(",") if h.strip()]
        rule = self._cors_rule(bucket, origin, method.upper(), wanted)
        if rule is None:
            return _html(403, "Forbidden", "CORSResponse: This CORS request is not allowed. "
                         "This is usually because the evalution of Origin, request method / "
                         "Access-Control-Request-Method or Access-Control-Request-Headers are "
                         "not whitelisted by the resource's CORS spec.")
        out = self._cors_out(rule, origin)
        if wanted:
            out["Access-Control-Allow-Headers"] = ", ".join(h.lower() for h in wanted)
        return WebAnswer(200, out)

    def cors_headers(self, bucket_name: str, origin: str | None, method: str) -> dict[str, str]:
        """Headers to add to the answer of an actual cross-origin request."""
        if not origin:
            return {}
        rule = self._cors_rule(self.bucket(bucket_name), origin, method.upper(), [])
        return {} if rule is None else self._cors_out(rule, origin)

    # -- website --------------------------------------------------------------------------

    def put_bucket_website(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        config = dict(params.get("WebsiteConfiguration") or {})
        index = (config.get("IndexDocument") or {}).get("Suffix")
        if not config.get("RedirectAllRequestsTo") and (not index or "/" in index):
            raise AWSError("InvalidArgument", "The IndexDocument Suffix is not well formed",
                           400, ArgumentName="IndexDocument")
        self.update_bucket(bucket["Name"], Website=config)
        return {}

    def get_bucket_website(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        if not bucket.get("Website"):
            raise AWSError("NoSuchWebsiteConfiguration", "The specified bucket does not have "
                           "a website configuration", 404, BucketName=bucket["Name"])
        return dict(bucket["Website"])

    def delete_bucket_website(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        bucket = self.owned(call, params["Bucket"])
        self.update_bucket(bucket["Name"], Website=None)
        return {}

    def _public_object(self, bucket: dict[str, Any], key: str, source_ip: str
                       ) -> ObjectRecord | None:
        """The object if an anonymous reader may get it (website requests are unsigned)."""
        record = self.records.get(bucket["Name"], key)
        if record is None:
            return None
        call = Call("s3", "GetObject", "", "us-east-1", Identity.nobody(), "web",
                    source_ip=source_ip)
        if not access.allowed(bucket, call, "s3:GetObject", key, {}, record.meta.get("acl")):
            raise PermissionError(key)
        return record

    def website(self, bucket_name: str, path: str, method: str = "GET",
                source_ip: str = "127.0.0.1") -> WebAnswer:
        """Answer ``GET path`` on the website endpoint of ``bucket_name``."""
        bucket = self.bucket(bucket_name)
        if bucket is None:
            return _html(404, "Not Found", "Code: NoSuchBucket")
        config = bucket.get("Website")
        if not config:
            return _html(404, "Not Found", "Code: NoSuchWebsiteConfiguration")
        redirect = config.get("RedirectAllRequestsTo")
        if redirect:
            scheme = redirect.get("Protocol") or "http"
            return WebAnswer(301, {"Location": f"{scheme}://{redirect['HostName']}{path}"})
        if method not in ("GET", "HEAD"):
            return _html(405, "Method Not Allowed", "Code: MethodNotAllowed")
        suffix = config["IndexDocument"]["Suffix"]
        key = path.lstrip("/")
        if not key or key.endswith("/"):
            key += suffix
        try:
            record = self._public_object(bucket, key, source_ip)
            if record is None and not path.endswith("/") and key:
                folder = self._public_object(bucket, f"{key}/{suffix}", source_ip)
                if folder is not None:
                    return WebAnswer(302, {"Location": f"{path}/"})
        except PermissionError:
            return self._error_page(bucket, 403, "Forbidden", "Code: AccessDenied", source_ip)
        if record is None:
            return self._error_page(bucket, 404, "Not Found", "Code: NoSuchKey", source_ip)
        return self._object_answer(record, 200)

    def _object_answer(self, record: ObjectRecord, status: int) -> WebAnswer:
        headers = {"ETag": record.etag, "Content-Length": str(record.size)}
        content_type = (record.meta.get("headers") or {}).get("ContentType")
        if content_type:
            headers["Content-Type"] = str(content_type)
        return WebAnswer(status, headers, self.body(record, None))

    def _error_page(self, bucket: dict[str, Any], status: int, title: str, detail: str,
                    source_ip: str) -> WebAnswer:
        key = ((bucket.get("Website") or {}).get("ErrorDocument") or {}).get("Key")
        if key:
            try:
                record = self._public_object(bucket, key, source_ip)
            except PermissionError:
                record = None
            if record is not None:
                return self._object_answer(record, status)
        return _html(status, title, detail)
