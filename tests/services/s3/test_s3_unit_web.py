"""CORS preflight answers and website hosting, as the gateway hook will call them."""

from __future__ import annotations

import json

from .conftest import Harness


def cors(h: Harness) -> None:
    h.run("put_bucket_cors", Bucket="bkt", CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
         "AllowedHeaders": ["Content-*", "x-amz-*"], "ExposeHeaders": ["ETag"],
         "MaxAgeSeconds": 600},
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
    ]})


def test_preflight_allowed_and_denied(h: Harness) -> None:
    cors(h)
    ok = h.s3.preflight("bkt", "https://app.example.com", "PUT", "content-type, X-Amz-Date")
    assert ok.status == 200
    assert ok.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert ok.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert ok.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert ok.headers["Access-Control-Max-Age"] == "600"
    assert ok.headers["Access-Control-Expose-Headers"] == "ETag"
    anyone = h.s3.preflight("bkt", "https://other.example", "GET", "")
    assert anyone.status == 200 and anyone.headers["Access-Control-Allow-Origin"] == "*"
    assert h.s3.preflight("bkt", "https://other.example", "PUT", "").status == 403
    assert h.s3.preflight("bkt", "https://app.example.com", "PUT", "authorization"
                          ).status == 403
    assert h.s3.preflight("bkt", "https://app.example.com", "DELETE", "").status == 403
    assert h.s3.preflight("bkt", None, "GET", "").status == 400
    assert h.s3.preflight("nope", "https://a", "GET", "").status == 404
    actual = h.s3.cors_headers("bkt", "https://app.example.com", "PUT")
    assert actual["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert h.s3.cors_headers("bkt", "https://evil.example", "PUT") == {}
    h.run("delete_bucket_cors", Bucket="bkt")
    assert h.s3.preflight("bkt", "https://app.example.com", "GET", "").status == 403


def test_website_index_error_and_redirects(h: Harness) -> None:
    assert h.s3.website("bkt", "/").status == 404  # no website configuration
    h.run("put_bucket_website", Bucket="bkt", WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
    h.run("put_object", Bucket="bkt", Key="index.html", Body=b"<h1>home</h1>",
          ContentType="text/html")
    h.run("put_object", Bucket="bkt", Key="docs/index.html", Body=b"docs")
    h.run("put_object", Bucket="bkt", Key="404.html", Body=b"missing page",
          ContentType="text/html")
    # Nothing is public yet: the website answers 403.
    assert h.s3.website("bkt", "/").status == 403
    h.run("put_bucket_policy", Bucket="bkt", Policy=json.dumps({"Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::bkt/*"}]}))
    home = h.s3.website("bkt", "/")
    assert home.status == 200 and h.read(home.body) == b"<h1>home</h1>"
    assert home.headers["Content-Type"] == "text/html"
    assert h.read(h.s3.website("bkt", "/docs/").body) == b"docs"
    folder = h.s3.website("bkt", "/docs")
    assert folder.status == 302 and folder.headers["Location"] == "/docs/"
    missing = h.s3.website("bkt", "/nowhere.html")
    assert missing.status == 404 and h.read(missing.body) == b"missing page"
    assert h.s3.website("bkt", "/", method="POST").status == 405
    h.run("put_bucket_website", Bucket="bkt", WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "https"}})
    moved = h.s3.website("bkt", "/a/b")
    assert moved.status == 301 and moved.headers["Location"] == "https://example.com/a/b"
