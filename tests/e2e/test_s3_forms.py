"""Browser form uploads (POST Object): boto3's ``generate_presigned_post`` fields,
posted as multipart/form-data by hand, make an object; the policy's conditions
are enforced."""

from __future__ import annotations

import http.client
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket


def post_form(url: str, fields: dict[str, str], data: bytes,
              filename: str = "photo.jpg") -> tuple[int, dict[str, str], bytes]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    out += data + f"\r\n--{boundary}--\r\n".encode()
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        conn.request("POST", parts.path, body=bytes(out),
                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3", signature_version="s3v4")


def test_form_upload_then_get(s3: Any) -> None:
    with temp_bucket(s3, "form") as bucket:
        post = s3.generate_presigned_post(
            bucket, "uploads/${filename}",
            Fields={"success_action_status": "201", "x-amz-meta-who": "browser"},
            Conditions=[["starts-with", "$key", "uploads/"],
                        {"success_action_status": "201"}, {"x-amz-meta-who": "browser"},
                        ["content-length-range", 1, 1 << 20]])
        status, headers, body = post_form(post["url"], post["fields"], b"JPEG" * 100)
        assert status == 201, body
        assert b"<Key>uploads/photo.jpg</Key>" in body
        got = s3.get_object(Bucket=bucket, Key="uploads/photo.jpg")
        assert got["Body"].read() == b"JPEG" * 100
        assert got["Metadata"] == {"who": "browser"}
        assert got["ETag"] == headers["ETag"]


def test_form_upload_conditions_are_enforced(s3: Any) -> None:
    with temp_bucket(s3, "form") as bucket:
        post = s3.generate_presigned_post(
            bucket, "small.bin", Conditions=[["content-length-range", 1, 10]])
        status, _, body = post_form(post["url"], post["fields"], b"x" * 11)
        assert status == 400 and b"EntityTooLarge" in body
        fields = dict(post["fields"], key="other.bin")  # not the key the policy names
        status, _, body = post_form(post["url"], fields, b"x")
        assert status == 403 and b"AccessDenied" in body
        fields = dict(post["fields"], **{"x-amz-meta-extra": "1"})  # not in the policy
        status, _, body = post_form(post["url"], fields, b"x")
        assert status == 403
        fields = dict(post["fields"], **{"x-amz-signature": "0" * 64})
        status, _, body = post_form(post["url"], fields, b"x")
        assert status == 403 and b"SignatureDoesNotMatch" in body
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
        status, _, _ = post_form(post["url"], post["fields"], b"fine")
        assert status == 204
        assert s3.get_object(Bucket=bucket, Key="small.bin")["Body"].read() == b"fine"


def test_form_upload_redirects(s3: Any) -> None:
    with temp_bucket(s3, "form") as bucket:
        post = s3.generate_presigned_post(
            bucket, "r.txt", Fields={"success_action_redirect": "http://example.com/done"},
            Conditions=[{"success_action_redirect": "http://example.com/done"}])
        status, headers, _ = post_form(post["url"], post["fields"], b"hi")
        assert status == 303
        assert headers["Location"].startswith("http://example.com/done?bucket=")
        assert "key=r.txt" in headers["Location"]


def test_form_upload_signed_the_sigv2_way(gureum: RunningGureum) -> None:
    s3 = gureum.client("s3")  # boto3 signs posts with SigV2 unless told s3v4
    with temp_bucket(s3, "form") as bucket:
        post = s3.generate_presigned_post(bucket, "v2.txt")
        assert "signature" in post["fields"]
        status, _, body = post_form(post["url"], post["fields"], b"two")
        assert status == 204, body
        assert s3.get_object(Bucket=bucket, Key="v2.txt")["Body"].read() == b"two"
        bad = dict(post["fields"], signature="AAAA")
        assert post_form(post["url"], bad, b"x")[0] == 403
