"""S3 as browsers meet it: CORS preflight and CORS headers on real answers, and
static website hosting over plain HTTP (index and error documents)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from gureum.testing.server import RunningGureum


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture
def bucket(gureum: RunningGureum) -> str:
    name = f"web-{uuid.uuid4().hex[:12]}"
    gureum.client("s3").create_bucket(Bucket=name)
    return name


def test_cors_preflight_and_headers(gureum: RunningGureum, bucket: str) -> None:
    s3 = gureum.client("s3")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["http://app.example"], "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600,
    }]})
    url = f"{gureum.endpoint}/{bucket}/file.txt"
    status, headers, _ = fetch(url, "OPTIONS", {
        "Origin": "http://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    })
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    # A method or an origin the rules do not allow is refused.
    status, headers, _ = fetch(url, "OPTIONS", {
        "Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, _, _ = fetch(url, "OPTIONS", {
        "Origin": "http://app.example", "Access-Control-Request-Method": "DELETE"})
    assert status == 403
    # A real (signed) request from the allowed origin gets the CORS headers.
    s3.put_object(Bucket=bucket, Key="file.txt", Body=b"hi")
    seen: list[dict[str, str]] = []
    s3.meta.events.register("before-send", lambda request, **kw: request.headers.__setitem__(
        "Origin", "http://app.example"))
    s3.meta.events.register("after-call", lambda http_response, **kw: seen.append(
        {k.lower(): v for k, v in http_response.headers.items()}))
    s3.get_object(Bucket=bucket, Key="file.txt")["Body"].read()
    assert seen[-1].get("access-control-allow-origin") == "http://app.example"


def test_static_website(gureum: RunningGureum, bucket: str) -> None:
    s3 = gureum.client("s3")
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<h1>home</h1>",
                  ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="docs/index.html", Body=b"<h1>docs</h1>",
                  ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="404.html", Body=b"<h1>lost</h1>", ContentType="text/html")
    site = f"{bucket}.s3-website.localhost:{gureum.port}"
    # Without a website configuration, or before the objects are public: no page.
    status, _, _ = fetch(f"{gureum.endpoint}/", headers={"Host": site})
    assert status == 404
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
    status, _, _ = fetch(f"{gureum.endpoint}/", headers={"Host": site})
    assert status == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    status, headers, body = fetch(f"{gureum.endpoint}/", headers={"Host": site})
    assert (status, body) == (200, b"<h1>home</h1>")
    assert headers["Content-Type"].startswith("text/html")
    status, _, body = fetch(f"{gureum.endpoint}/docs/", headers={"Host": site})
    assert (status, body) == (200, b"<h1>docs</h1>")
    status, _, body = fetch(f"{gureum.endpoint}/nope.html", headers={"Host": site})
    assert (status, body) == (404, b"<h1>lost</h1>")


def test_plain_http_range_and_not_modified(gureum: RunningGureum, bucket: str) -> None:
    s3 = gureum.client("s3")
    s3.put_object(Bucket=bucket, Key="data.bin", Body=bytes(range(256)) * 4)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    url = f"{gureum.endpoint}/{bucket}/data.bin"
    status, headers, body = fetch(url, headers={"Range": "bytes=10-19"})
    assert status == 206 and body == bytes(range(10, 20))
    assert headers["Content-Range"] == "bytes 10-19/1024"
    status, headers, _ = fetch(url)
    etag = headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    status, headers, body = fetch(url, headers={"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert headers["ETag"] == etag and "Last-Modified" in headers
    status, _, _ = fetch(url, headers={"Range": "bytes=5000-"})
    assert status == 416
