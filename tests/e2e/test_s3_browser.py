"""S3 configuration for browsers and sharing, end to end: presigned GET and
PUT URLs (expiry enforced, tampering refused), CORS, website and lifecycle
configurations through boto3 and the AWS CLI."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3")


@pytest.fixture
def v4(gureum: RunningGureum) -> Any:
    """Presigns with SigV4 (boto3's default presigner for S3 is still SigV2)."""
    return gureum.client("s3", signature_version="s3v4")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    with temp_bucket(s3, "web") as name:
        yield name


def fetch(url: str, method: str = "GET", data: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.mark.parametrize("signer", ["v4", "s3"])
def test_presigned_get_and_put(request: pytest.FixtureRequest, s3: Any, bucket: str,
                               signer: str) -> None:
    presigner = request.getfixturevalue(signer)
    put_url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up"},
                                        ExpiresIn=300)
    # SigV2 signs the Content-Type; send the one it signed (none).
    plain = {"Content-Type": ""}
    assert fetch(put_url, "PUT", b"sent by a browser", plain)[0] == 200
    get_url = presigner.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=300)
    assert fetch(get_url) == (200, b"sent by a browser")
    # A URL for one key does not open another, and a changed signature is refused.
    assert fetch(get_url.replace("/up?", "/other?"))[0] == 403
    assert fetch(get_url[:-4] + "0000")[0] == 403
    assert fetch(put_url, "PUT", b"again", plain)[0] == 200  # reusable until it expires
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"again"


def test_presigned_url_expires(s3: Any, v4: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    with mock.patch("botocore.auth.get_current_datetime", return_value=past):
        old_get = v4.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=3600)
        old_put = v4.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=3600)
    status, body = fetch(old_get)
    assert status == 403 and b"expired" in body.lower()
    assert fetch(old_put, "PUT", b"late")[0] == 403
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_aws_cli_presign(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"via cli")
    out = gureum.aws("s3", "presign", f"s3://{bucket}/shared.txt", "--expires-in", "60")
    assert out.returncode == 0, out.stderr
    assert fetch(out.stdout.strip()) == (200, b"via cli")


def test_cors_configuration(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(exc) == "NoSuchCORSConfiguration"
    rules = [{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET", "PUT"],
              "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 300}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
            {"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]})
    assert code(exc) == "InvalidRequest"
    out = gureum.aws("s3api", "get-bucket-cors", "--bucket", bucket, "--output", "json")
    assert json.loads(out.stdout)["CORSRules"][0]["MaxAgeSeconds"] == 300
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert code(exc) == "NoSuchCORSConfiguration"


def test_website_configuration(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_website(Bucket=bucket)
    assert code(exc) == "NoSuchWebsiteConfiguration"
    out = gureum.aws("s3", "website", f"s3://{bucket}", "--index-document", "index.html",
                     "--error-document", "error.html")
    assert out.returncode == 0, out.stderr
    got = s3.get_bucket_website(Bucket=bucket)
    assert got["IndexDocument"] == {"Suffix": "index.html"}
    assert got["ErrorDocument"] == {"Key": "error.html"}
    s3.delete_bucket_website(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_website(Bucket=bucket)
    assert code(exc) == "NoSuchWebsiteConfiguration"


def test_lifecycle_configuration(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(exc) == "NoSuchLifecycleConfiguration"
    rules = [
        {"ID": "logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"},
         "Expiration": {"Days": 30}},
        {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": ""},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 10}},
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket,
                                          LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "mpu"]
    assert got[0]["Expiration"] == {"Days": 30}
    out = gureum.aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket)
    assert out.returncode == 0 and "logs/" in out.stdout, out.stderr
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={
            "Rules": [{"ID": "x", "Status": "Enabled", "Filter": {}}]})
    assert code(exc) == "InvalidRequest"
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(exc) == "NoSuchLifecycleConfiguration"
