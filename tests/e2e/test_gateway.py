"""The gateway's wire behaviour through real clients: every protocol answers in
its own envelope, bad input and unknown operations get AWS errors, SigV4 is
enforced, and a crash never leaks a traceback."""

from __future__ import annotations

import datetime
import hashlib
import json
import time
import urllib.error
import urllib.request
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as err:
        call()
    response: dict[str, Any] = err.value.response
    return {"code": response["Error"]["Code"], "status":
            response["ResponseMetadata"]["HTTPStatusCode"], "message":
            response["Error"].get("Message", "")}


def signed(gureum: RunningGureum, service: str, body: bytes, headers: dict[str, str],
           secret: str = "test", method: str = "POST", path: str = "/") -> tuple[int, bytes]:
    request = AWSRequest(method=method, url=gureum.endpoint + path, data=body, headers=headers)
    SigV4Auth(Credentials("test", secret), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=body or None, method=method,
                                 headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# -- protocols -------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "json", "query"])
def test_cloudwatch_every_protocol_is_routed(gureum: RunningGureum, protocol: str) -> None:
    cw = gureum.client("cloudwatch", protocol=protocol)
    sent: list[dict[str, str]] = []
    cw.meta.events.register(
        "before-send", lambda request, **kw: sent.append(dict(request.headers))
    )
    # CloudWatch's operations are their own issue; here each protocol must be
    # recognised and answered in its own envelope, which botocore parses.
    err = error_of(lambda: cw.get_metric_widget_image(MetricWidget="{}"))
    assert (err["code"], err["status"]) == ("NotImplemented", 501)
    headers = {
        k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in sent[0].items()
    }
    if protocol == "smithy-rpc-v2-cbor":
        assert headers.get("smithy-protocol") == "rpc-v2-cbor"
    elif protocol == "json":
        assert "x-amz-target" in headers and "smithy-protocol" not in headers
    else:
        assert "x-amz-target" not in headers and "smithy-protocol" not in headers


def test_unimplemented_operation_is_501(gureum: RunningGureum) -> None:
    err = error_of(lambda: gureum.client("ec2").describe_spot_price_history())
    assert (err["code"], err["status"]) == ("NotImplemented", 501)
    assert "DescribeSpotPriceHistory" in err["message"]


def test_unknown_action_query(gureum: RunningGureum) -> None:
    status, body = signed(
        gureum, "sts", b"Action=NoSuchThing&Version=2011-06-15",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 400 and b"<Code>InvalidAction</Code>" in body


def test_unknown_operation_json(gureum: RunningGureum) -> None:
    status, body = signed(
        gureum, "ce", b"{}",
        {"Content-Type": "application/x-amz-json-1.1",
         "X-Amz-Target": "AWSInsightsIndexService.NoSuchThing"},
    )
    assert status == 400 and b"UnknownOperationException" in body


def test_model_validation_errors(gureum: RunningGureum) -> None:
    loose = Config(parameter_validation=False)
    sts = gureum.client("sts", parameter_validation=False)
    err = error_of(lambda: sts.get_access_key_info(AccessKeyId="short"))
    assert (err["code"], err["status"]) == ("ValidationError", 400)
    assert "accessKeyId" in err["message"]
    assert loose.parameter_validation is False
    status, body = signed(
        gureum, "ec2", b"Action=DescribeAvailabilityZones&Version=2016-11-15"
        b"&AllAvailabilityZones=maybe",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 400 and b"<Code>InvalidParameterValue</Code>" in body


@pytest.mark.parametrize("when", [-10_000_000_000_000, 1e300])
def test_timestamp_out_of_range_is_bad_input(gureum: RunningGureum, when: float) -> None:
    """Epoch seconds beyond years 1-9999 are the client's error (400), not a crash."""
    body = json.dumps({"Namespace": "N", "MetricName": "m", "StartTime": 0,
                       "EndTime": when, "Period": 60, "Statistics": ["Sum"]}).encode()
    status, answer = signed(gureum, "monitoring", body, {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricStatistics",
    })
    assert status == 400, answer
    assert json.loads(answer)["__type"] == "InvalidParameterValueException"


def test_enum_violation(gureum: RunningGureum) -> None:
    s3 = gureum.client("s3", parameter_validation=False)
    err = error_of(lambda: s3.create_bucket(Bucket="enum-check-bucket", ACL="everyone"))
    assert err["status"] == 400 and err["code"] == "InvalidArgument"


def test_s3_errors_are_s3_envelopes(gureum: RunningGureum) -> None:
    s3 = gureum.client("s3")
    err = error_of(lambda: s3.head_bucket(Bucket="no-such-bucket-here"))
    assert err["status"] == 404
    err = error_of(lambda: s3.create_bucket(Bucket="Bad_Name"))
    assert (err["code"], err["status"]) == ("InvalidBucketName", 400)
    err = error_of(lambda: s3.delete_bucket(Bucket="no-such-bucket-here"))
    assert (err["code"], err["status"]) == ("NoSuchBucket", 404)


# -- authentication ----------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch", 403),
        ("ec2", lambda c: c.describe_regions(), "AuthFailure", 401),
        ("s3", lambda c: c.list_buckets(), "SignatureDoesNotMatch", 403),
    ],
)
def test_wrong_secret(gureum: RunningGureum, service: str, call: Any, code: str,
                      status: int) -> None:
    client = gureum.client(service, secret_key="not-the-secret")
    err = error_of(lambda: call(client))
    assert (err["code"], err["status"]) == (code, status)


def test_wrong_secret_json_protocol(gureum: RunningGureum) -> None:
    status, body = signed(
        gureum, "ce", b"{}",
        {"Content-Type": "application/x-amz-json-1.1",
         "X-Amz-Target": "AWSInsightsIndexService.GetCostAndUsage"},
        secret="wrong",
    )
    assert status == 400 and b"InvalidSignatureException" in body


def test_clock_skew_is_rejected(gureum: RunningGureum) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    request = AWSRequest(method="POST", url=gureum.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    stale = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        minutes=16
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=stale):
        SigV4Auth(Credentials("test", "test"), "sts", "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=body, method="POST",
                                 headers=dict(prepared.headers))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 403
    assert b"SignatureDoesNotMatch" in err.value.read()


def test_presigned_urls(gureum: RunningGureum) -> None:
    s3 = gureum.client("s3", signature_version="s3v4")
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and b"ListAllMyBucketsResult" in r.read()
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=61")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(tampered, timeout=10)
    assert err.value.code == 403
    sts_url = gureum.client("sts").generate_presigned_url(
        "get_caller_identity", ExpiresIn=60, HttpMethod="GET"
    )
    with urllib.request.urlopen(sts_url, timeout=10) as r:
        assert b"<Account>000000000000</Account>" in r.read()


def test_presigned_url_signature_v2(gureum: RunningGureum) -> None:
    # boto3's default for S3 in us-east-1 with a custom endpoint.
    s3 = gureum.client("s3")
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and b"ListAllMyBucketsResult" in r.read()
    bad = url.replace("Signature=", "Signature=x")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, timeout=10)
    assert err.value.code == 403 and b"SignatureDoesNotMatch" in err.value.read()
    wrong = gureum.client("s3", secret_key="nope").generate_presigned_url("list_buckets")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(wrong, timeout=10)
    assert err.value.code == 403


def test_expired_presigned_url(gureum: RunningGureum) -> None:
    s3 = gureum.client("s3", signature_version="s3v4")
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=1)
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url, timeout=10)
    assert err.value.code == 403
    assert b"<Code>AccessDenied</Code>" in err.value.read()


def test_anonymous_request_to_non_s3_service(gureum: RunningGureum) -> None:
    req = urllib.request.Request(
        gureum.endpoint + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Host": "sts.localhost"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code in (400, 403)
    assert b"MissingAuthenticationToken" in err.value.read()


def test_payload_hash_is_checked(gureum: RunningGureum) -> None:
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    request = AWSRequest(method="POST", url=gureum.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials("test", "test"), "sts", "us-east-1").add_auth(request)
    prepared = request.prepare()
    other = body.replace(b"2011-06-15", b"2011-06-16")
    assert hashlib.sha256(other).hexdigest() != hashlib.sha256(body).hexdigest()
    req = urllib.request.Request(prepared.url, data=other, method="POST",
                                 headers=dict(prepared.headers))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 403
