"""SigV4 verification against requests signed by botocore itself.

Requests are built by real boto3 clients (endpoint pointing at nothing) and
captured at ``before-send``, so they are exactly what boto3 puts on the wire;
a few use botocore's signers directly for query strings boto3 would not
produce on its own.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gureum.errors import AWSError
from gureum.gateway import sigv4

AKID = "AKIAGUREUMTEST000001"
SECRET = "gureum/secret+KEY/0123456789abcdefghij"
ENDPOINT = "https://gureum.test:4566"

STYLE = {
    "sts": "query",
    "iam": "query",
    "ec2": "ec2",
    "monitoring": "json",
    "cloudwatch": "json",
    "lambda": "json",
    "logs": "json",
    "s3": "s3",
}


@dataclass
class Wire:
    """A request as the gateway receives it."""

    method: str
    raw_path: str
    raw_query: str
    headers: CIMultiDict[str]
    body: bytes

    @property
    def query(self) -> MultiDictProxy[str]:
        return MultiDictProxy(MultiDict(parse_qsl(self.raw_query, keep_blank_values=True)))

    def header_view(self) -> CIMultiDictProxy[str]:
        return CIMultiDictProxy(self.headers)


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def _stop(request: Any, **_: Any) -> None:
    raise _Captured(request)


_clients: dict[tuple[str, str, str], Any] = {}


def _client(service: str, config: Config | None = None, endpoint: str = ENDPOINT) -> Any:
    key = (service, repr(config and config.__dict__), endpoint)
    if key not in _clients:
        client = boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id=AKID,
            aws_secret_access_key=SECRET,
            config=config,
        )
        client.meta.events.register("before-send", _stop)
        _clients[key] = client
    return _clients[key]


def _to_wire(method: str, url: str, headers: Any, body: Any) -> Wire:
    parts = urlsplit(url)
    wire_headers: CIMultiDict[str] = CIMultiDict()
    wire_headers["Host"] = parts.netloc
    for name, value in headers.items():
        if name.lower() == "host":  # newer botocore sets it too: one Host header on the wire
            wire_headers["Host"] = value.decode() if isinstance(value, bytes) else str(value)
            continue
        wire_headers.add(name, value.decode("utf-8") if isinstance(value, bytes) else str(value))
    if body is None:
        data = b""
    elif isinstance(body, bytes | bytearray):
        data = bytes(body)
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = body.read()
    return Wire(method, parts.path, parts.query, wire_headers, data)


def capture(
    service: str,
    operation: str,
    params: dict[str, Any] | None = None,
    *,
    config: Config | None = None,
    endpoint: str = ENDPOINT,
) -> Wire:
    """What boto3 sends for ``client.<operation>(**params)``."""
    client = _client(service, config, endpoint)
    with pytest.raises(_Captured) as info:
        getattr(client, operation)(**(params or {}))
    request = info.value.request
    return _to_wire(request.method, request.url, request.headers, request.body)


def presigned(service: str, operation: str, params: dict[str, Any], expires: int = 3600) -> Wire:
    config = Config(signature_version="s3v4") if service == "s3" else None
    # GET, as presigned URLs are used (botocore would otherwise sign with the
    # operation's own method, POST for query services, and AWS would refuse a GET).
    url = _client(service, config).generate_presigned_url(
        operation, Params=params, ExpiresIn=expires, HttpMethod="GET"
    )
    return _to_wire("GET", url, {}, b"")


def check(
    wire: Wire,
    style: str,
    *,
    secret: str = SECRET,
    now: float | None = None,
) -> sigv4.SignedRequest:
    """parse + verify as the gateway will; returns the parsed request."""
    req = sigv4.parse(wire.method, wire.header_view(), wire.query, style=style)
    assert req is not None
    payload_hash = req.payload_hash or hashlib.sha256(wire.body).hexdigest()
    sigv4.verify(
        req,
        secret_key=secret,
        method=wire.method,
        raw_path=wire.raw_path,
        raw_query=wire.raw_query,
        headers=wire.header_view(),
        payload_hash=payload_hash,
        now=time.time() if now is None else now,
        style=style,
    )
    return req


def expect_error(code: str, status: int, wire: Wire, style: str, **kwargs: Any) -> AWSError:
    with pytest.raises(AWSError) as info:
        check(wire, style, **kwargs)
    assert (info.value.code, info.value.status) == (code, status), info.value
    return info.value


# --------------------------------------------------------------------------- requests

HTTPS_UNSIGNED = Config(
    request_checksum_calculation="when_required", s3={"payload_signing_enabled": False}
)
SIGNED_BODY = Config(request_checksum_calculation="when_required")

CASES: dict[str, tuple[str, str, dict[str, Any], Config | None, str]] = {
    "sts-get-caller-identity": ("sts", "get_caller_identity", {}, None, ENDPOINT),
    "sts-assume-role": (
        "sts",
        "assume_role",
        {
            "RoleArn": "arn:aws:iam::000000000000:role/a+b=c,d@e",
            "RoleSessionName": "s~ess_ion-1.2",
            "Policy": '{"Version": "2012-10-17", "Statement": []}',
        },
        None,
        ENDPOINT,
    ),
    "iam-list-users": ("iam", "list_users", {"PathPrefix": "/a b/ü/"}, None, ENDPOINT),
    "ec2-describe-instances": (
        "ec2",
        "describe_instances",
        {"Filters": [{"Name": "tag:Name", "Values": ["a b", "c*d", "é"]}]},
        None,
        ENDPOINT,
    ),
    "cloudwatch-list-metrics": (
        "cloudwatch",
        "list_metrics",
        {"Namespace": "Gureum/Test", "MetricName": "a b"},
        None,
        ENDPOINT,
    ),
    "logs-describe-log-groups": ("logs", "describe_log_groups", {}, None, ENDPOINT),
    "lambda-get-function-rest-path": (
        "lambda",
        "get_function",
        {"FunctionName": "my-function", "Qualifier": "v 1~x"},
        None,
        ENDPOINT,
    ),
    "lambda-path-with-colon": (
        "lambda",
        "get_function_configuration",
        {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:f"},
        None,
        ENDPOINT,
    ),
    "s3-get-object": ("s3", "get_object", {"Bucket": "b", "Key": "k"}, None, ENDPOINT),
    "s3-get-object-range": (
        "s3",
        "get_object",
        {"Bucket": "b", "Key": "k", "Range": "bytes=0-9", "VersionId": "a+b/c=="},
        None,
        ENDPOINT,
    ),
    "s3-put-object-sha256": (
        "s3",
        "put_object",
        {"Bucket": "b", "Key": "k", "Body": b"hello gureum"},
        SIGNED_BODY,
        "http://gureum.test:4566",
    ),
    "s3-put-object-unsigned-payload": (
        "s3",
        "put_object",
        {"Bucket": "b", "Key": "k", "Body": b"hello gureum"},
        HTTPS_UNSIGNED,
        ENDPOINT,
    ),
    "s3-put-object-streaming-trailer": (
        "s3",
        "put_object",
        {"Bucket": "b", "Key": "k", "Body": b"hello gureum", "Metadata": {"a": " x  y "}},
        None,
        ENDPOINT,
    ),
    "s3-key-special-characters": (
        "s3",
        "put_object",
        {"Bucket": "b", "Key": "dir/a b+c~d/é 한글/=&?#%!*'()$,;:@[]", "Body": b"x"},
        None,
        "http://gureum.test:4566",
    ),
    "s3-key-dots-and-slashes": (
        "s3",
        "get_object",
        {"Bucket": "b", "Key": "a//b/./c/../d/"},
        None,
        ENDPOINT,
    ),
    "s3-list-objects-special-query": (
        "s3",
        "list_objects_v2",
        {"Bucket": "b", "Prefix": "a b+c/~é&=x", "Delimiter": "/", "StartAfter": "%2F"},
        None,
        ENDPOINT,
    ),
    "s3-virtual-host-list-buckets": ("s3", "list_buckets", {}, None, ENDPOINT),
    "s3-upload-part": (
        "s3",
        "upload_part",
        {"Bucket": "b", "Key": "k", "UploadId": "u+p/l==", "PartNumber": 2, "Body": b"p" * 100},
        None,
        ENDPOINT,
    ),
}


def _case(name: str) -> tuple[Wire, str]:
    service, operation, params, config, endpoint = CASES[name]
    return capture(service, operation, params, config=config, endpoint=endpoint), STYLE[service]


@pytest.mark.parametrize("name", sorted(CASES))
def test_botocore_signed_request_verifies(name: str) -> None:
    wire, style = _case(name)
    req = check(wire, style)
    assert req.credential.access_key == AKID
    assert req.credential.region == "us-east-1"
    assert not req.presigned


def test_payload_hash_values() -> None:
    wire, _ = _case("s3-put-object-streaming-trailer")
    assert check(wire, "s3").payload_hash == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    wire, _ = _case("s3-put-object-unsigned-payload")
    assert check(wire, "s3").payload_hash == "UNSIGNED-PAYLOAD"
    wire, _ = _case("s3-put-object-sha256")
    assert check(wire, "s3").payload_hash == hashlib.sha256(b"hello gureum").hexdigest()
    wire, _ = _case("sts-get-caller-identity")
    assert check(wire, "query").payload_hash is None


def test_credential_scope_is_parsed() -> None:
    wire, _ = _case("cloudwatch-list-metrics")
    req = check(wire, "json")
    assert req.credential.service == "monitoring"
    assert req.credential.scope.endswith("/us-east-1/monitoring/aws4_request")
    assert req.signed_headers[0] == "content-type"
    assert "host" in req.signed_headers
    assert len(req.amz_date) == 16


# --------------------------------------------------------------------------- failures

MISMATCH = {
    "query": ("SignatureDoesNotMatch", 403),
    "ec2": ("AuthFailure", 401),
    "json": ("InvalidSignatureException", 400),
    "s3": ("SignatureDoesNotMatch", 403),
}
SKEW = {
    "query": ("SignatureDoesNotMatch", 403),
    "ec2": ("RequestExpired", 400),
    "json": ("InvalidSignatureException", 400),
    "s3": ("RequestTimeTooSkewed", 403),
}
STYLE_CASES = {
    "query": "sts-get-caller-identity",
    "ec2": "ec2-describe-instances",
    "json": "cloudwatch-list-metrics",
    "s3": "s3-get-object",
}


@pytest.mark.parametrize("style", sorted(STYLE_CASES))
def test_wrong_secret_fails_in_style(style: str) -> None:
    wire, _ = _case(STYLE_CASES[style])
    expect_error(*MISMATCH[style], wire, style, secret=SECRET + "x")


@pytest.mark.parametrize("style", sorted(STYLE_CASES))
def test_sixteen_minutes_of_skew_fails(style: str) -> None:
    wire, _ = _case(STYLE_CASES[style])
    err = expect_error(*SKEW[style], wire, style, now=time.time() + 16 * 60)
    if style in ("query", "json"):
        assert err.message.startswith("Signature expired: ")
        assert "is now earlier than" in err.message and "- 15 min.)" in err.message
    if style == "s3":
        assert err.fields["MaxAllowedSkewMilliseconds"] == "900000"
        assert set(err.fields) == {"RequestTime", "ServerTime", "MaxAllowedSkewMilliseconds"}
    # A clock running behind is refused the same way.
    err = expect_error(*SKEW[style], wire, style, now=time.time() - 16 * 60)
    if style in ("query", "json"):
        assert err.message.startswith("Signature not yet current: ")


@pytest.mark.parametrize("style", sorted(STYLE_CASES))
def test_fourteen_minutes_of_skew_is_fine(style: str) -> None:
    wire, _ = _case(STYLE_CASES[style])
    check(wire, style, now=time.time() + 14 * 60)
    check(wire, style, now=time.time() - 14 * 60)


def test_s3_mismatch_carries_aws_fields() -> None:
    wire, _ = _case("s3-get-object")
    err = expect_error("SignatureDoesNotMatch", 403, wire, "s3", secret="nope")
    assert err.fields["AWSAccessKeyId"] == AKID
    assert err.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert err.fields["CanonicalRequest"].startswith("GET\n/b/k\n")
    assert len(err.fields["SignatureProvided"]) == 64
    assert err.fields["StringToSignBytes"].startswith("41 57 53 34")


def test_signed_header_change_fails() -> None:
    wire, _ = _case("cloudwatch-list-metrics")
    wire.headers["X-Amz-Target"] = "GraniteServiceVersion20100801.PutMetricData"
    expect_error("InvalidSignatureException", 400, wire, "json")


def test_host_change_fails() -> None:
    wire, _ = _case("sts-get-caller-identity")
    wire.headers["Host"] = "evil.test:4566"
    expect_error("SignatureDoesNotMatch", 403, wire, "query")


def test_body_change_fails_when_payload_is_hashed() -> None:
    wire, _ = _case("sts-assume-role")
    wire.body = wire.body.replace(b"RoleSessionName=", b"RoleSessionName=x")
    expect_error("SignatureDoesNotMatch", 403, wire, "query")


def test_path_and_query_changes_fail() -> None:
    wire, _ = _case("s3-get-object")
    wire.raw_path = "/b/other"
    expect_error("SignatureDoesNotMatch", 403, wire, "s3")
    wire, _ = _case("s3-list-objects-special-query")
    wire.raw_query = wire.raw_query.replace("delimiter=%2F", "delimiter=x")
    expect_error("SignatureDoesNotMatch", 403, wire, "s3")


def test_unsigned_header_changes_do_not_matter() -> None:
    wire, _ = _case("sts-get-caller-identity")
    wire.headers["User-Agent"] = "something else"
    wire.headers["X-Forwarded-For"] = "10.0.0.1"
    check(wire, "query")


def test_s3_rejects_unsigned_amz_headers() -> None:
    wire, _ = _case("s3-get-object")
    wire.headers["x-amz-copy-source"] = "other/key"
    err = expect_error("AccessDenied", 403, wire, "s3")
    assert err.fields["HeadersNotSigned"] == "x-amz-copy-source"


def test_plain_dict_headers_are_case_insensitive() -> None:
    wire, style = _case("s3-put-object-streaming-trailer")
    headers = {k.upper(): v for k, v in wire.headers.items()}
    req = sigv4.parse("PUT", headers, wire.query, style=style)
    assert req is not None and req.payload_hash == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    sigv4.verify(
        req,
        secret_key=SECRET,
        method="PUT",
        raw_path=wire.raw_path,
        raw_query=wire.raw_query,
        headers=headers,
        payload_hash=req.payload_hash,
        now=time.time(),
        style=style,
    )


# --------------------------------------------------------------------------- botocore signers


def _sign(
    url: str,
    *,
    method: str = "GET",
    service: str = "execute-api",
    headers: dict[str, str] | None = None,
    data: bytes = b"",
    s3: bool = False,
) -> Wire:
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=data)
    creds = Credentials(AKID, SECRET)
    signer = (
        S3SigV4Auth(creds, service, "eu-west-1") if s3 else SigV4Auth(creds, service, "eu-west-1")
    )
    signer.add_auth(request)
    prepared = request.prepare()
    return _to_wire(prepared.method, prepared.url, prepared.headers, prepared.body)


@pytest.mark.parametrize(
    "query",
    [
        "b=2&a=1",
        "a=2&a=1&a=10",
        "x=%20space%20&y=%2B&z=a%2Fb",
        "empty=&flag&other=",
        "tilde=~&unreserved=-_.~AZaz09",
        "uni=%ED%95%9C%EA%B8%80&pct=%25",
        "a=b=c",
        "lower=%2f%3a",
        "plus=a+b",
        "star=*&bang=!&quote=%27",
    ],
)
def test_special_query_strings(query: str) -> None:
    wire = _sign(f"https://api.gureum.test/v1/items?{query}")
    check(wire, "json")
    wire = _sign(f"https://s3.gureum.test/b/k?{query}", service="s3", s3=True)
    check(wire, "s3")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "",
        "/a/b/../c/./d",
        "//double//slashes/",
        "/items/a%20b/%E2%82%AC",
        "/items/a~b/c-d_e.f",
        "/items/a%2Fb",
    ],
)
def test_non_s3_paths_are_normalized_like_botocore(path: str) -> None:
    wire = _sign(f"https://api.gureum.test{path}", method="POST", data=b"{}")
    wire.raw_path = wire.raw_path or ""
    check(wire, "json")


def test_repeated_header_values_and_whitespace() -> None:
    wire = _sign(
        "https://api.gureum.test/",
        headers={"X-Gureum-Spaced": "  a   b\t c  ", "Content-Type": "application/json"},
    )
    check(wire, "json")
    wire.headers["X-Gureum-Spaced"] = "a b c"  # trimall-equivalent value still verifies
    check(wire, "json")


def test_date_header_instead_of_x_amz_date() -> None:
    request = AWSRequest(method="GET", url="https://api.gureum.test/", headers={"Date": "x"})
    SigV4Auth(Credentials(AKID, SECRET), "execute-api", "eu-west-1").add_auth(request)
    prepared = request.prepare()
    wire = _to_wire(prepared.method, prepared.url, prepared.headers, prepared.body)
    assert "X-Amz-Date" not in wire.headers
    check(wire, "json")


def test_session_token_header_is_signed() -> None:
    request = AWSRequest(method="GET", url="https://api.gureum.test/")
    SigV4Auth(Credentials(AKID, SECRET, "tok+en/=="), "sts", "eu-west-1").add_auth(request)
    prepared = request.prepare()
    wire = _to_wire(prepared.method, prepared.url, prepared.headers, prepared.body)
    req = check(wire, "query")
    assert "x-amz-security-token" in req.signed_headers


# --------------------------------------------------------------------------- presigned


def test_s3_presigned_url_verifies_and_expires() -> None:
    wire = presigned("s3", "get_object", {"Bucket": "b", "Key": "dir/a b+é~"}, expires=60)
    req = check(wire, "s3")
    assert req.presigned and req.expires == 60 and req.payload_hash == "UNSIGNED-PAYLOAD"
    check(wire, "s3", now=time.time() + 50)
    err = expect_error("AccessDenied", 403, wire, "s3", now=time.time() + 120)
    assert err.message == "Request has expired"
    assert err.fields["X-Amz-Expires"] == "60"
    assert set(err.fields) == {"X-Amz-Expires", "Expires", "ServerTime"}


def test_s3_presigned_put_with_query_parameters() -> None:
    url = _client("s3", Config(signature_version="s3v4")).generate_presigned_url(
        "put_object",
        Params={"Bucket": "b", "Key": "k", "ContentType": "text/plain", "Metadata": {"m": "v"}},
    )
    wire = _to_wire("PUT", url, {}, b"")
    assert "x-amz-meta-m" in wire.query["X-Amz-SignedHeaders"]
    # botocore signs these as headers: the uploader must send them.
    with pytest.raises(AWSError):
        check(wire, "s3")
    wire.headers["Content-Type"] = "text/plain"
    wire.headers["x-amz-meta-m"] = "v"
    check(wire, "s3")


def test_s3_presigned_tampering_fails() -> None:
    wire = presigned("s3", "get_object", {"Bucket": "b", "Key": "k"})
    wire.raw_path = "/b/other"
    expect_error("SignatureDoesNotMatch", 403, wire, "s3")
    wire = presigned("s3", "get_object", {"Bucket": "b", "Key": "k"})
    wire.raw_query = wire.raw_query.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200")
    expect_error("SignatureDoesNotMatch", 403, wire, "s3")


def test_s3_presigned_expiry_over_a_week_is_refused() -> None:
    wire = presigned("s3", "get_object", {"Bucket": "b", "Key": "k"})
    wire.raw_query = wire.raw_query.replace("X-Amz-Expires=3600", "X-Amz-Expires=604801")
    with pytest.raises(AWSError) as info:
        sigv4.parse("GET", wire.header_view(), wire.query, style="s3")
    assert (info.value.code, info.value.status) == ("AuthorizationQueryParametersError", 400)


def test_sts_presigned_url_verifies_and_expires() -> None:
    wire = presigned("sts", "get_caller_identity", {})
    req = check(wire, "query")
    assert req.presigned and req.payload_hash is None
    # AWS honours a presigned STS URL for 15 minutes, whatever X-Amz-Expires says.
    check(wire, "query", now=time.time() + 14 * 60)
    err = expect_error("SignatureDoesNotMatch", 403, wire, "query", now=time.time() + 16 * 60)
    assert err.message.startswith("Signature expired: ")


def test_presigned_wrong_secret() -> None:
    wire = presigned("sts", "get_caller_identity", {})
    expect_error("SignatureDoesNotMatch", 403, wire, "query", secret="wrong")


# --------------------------------------------------------------------------- parse errors


def _parse(headers: dict[str, str], style: str, query: dict[str, str] | None = None) -> Any:
    return sigv4.parse("GET", CIMultiDict(headers), query or {}, style=style)


def test_anonymous_requests_parse_to_none() -> None:
    assert _parse({"Host": "x"}, "s3") is None
    assert _parse({"Host": "x"}, "query", {"Action": "GetCallerIdentity"}) is None


AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/sts/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


@pytest.mark.parametrize(
    ("auth", "date"),
    [
        (
            "AWS4-HMAC-SHA256 Credential=AKID/20240102/us-east-1/sts/aws4_request",
            "20240102T000000Z",
        ),
        (AUTH.replace("/aws4_request", "/aws5_request"), "20240102T000000Z"),
        (AUTH.replace("Credential=AKID/20240102/", "Credential=AKID/"), "20240102T000000Z"),
        (AUTH.replace("host;", ""), "20240102T000000Z"),
        (AUTH, "2024-01-02T00:00:00Z"),
        ("AWS4-ECDSA-P256-SHA256 Credential=x", "20240102T000000Z"),
    ],
)
def test_malformed_authorization(auth: str, date: str) -> None:
    headers = {"Host": "x", "Authorization": auth, "X-Amz-Date": date}
    with pytest.raises(AWSError) as info:
        _parse(headers, "query")
    assert (info.value.code, info.value.status) == ("IncompleteSignature", 400)
    with pytest.raises(AWSError) as info:
        _parse(headers, "s3")
    assert info.value.status in (400, 403)
    assert info.value.code in ("AuthorizationHeaderMalformed", "InvalidRequest", "AccessDenied")


def test_credential_date_must_match_request_date() -> None:
    headers = {"Host": "x", "Authorization": AUTH, "X-Amz-Date": "20240103T000000Z"}
    with pytest.raises(AWSError) as info:
        _parse(headers, "query")
    assert (info.value.code, info.value.status) == ("SignatureDoesNotMatch", 403)
    with pytest.raises(AWSError) as info:
        _parse(headers, "s3")
    assert (info.value.code, info.value.status) == ("AuthorizationHeaderMalformed", 400)


def test_s3_sigv2_is_refused() -> None:
    with pytest.raises(AWSError) as info:
        _parse({"Host": "x", "Authorization": "AWS AKID:c2lnbmF0dXJl"}, "s3")
    assert (info.value.code, info.value.status) == ("InvalidRequest", 400)
    with pytest.raises(AWSError) as info:
        _parse({"Host": "x"}, "s3", {"AWSAccessKeyId": "AKID", "Signature": "x", "Expires": "1"})
    assert info.value.code == "InvalidRequest"


def test_s3_presigned_missing_parameters() -> None:
    with pytest.raises(AWSError) as info:
        _parse({"Host": "x"}, "s3", {"X-Amz-Algorithm": "AWS4-HMAC-SHA256"})
    assert (info.value.code, info.value.status) == ("AuthorizationQueryParametersError", 400)


def test_both_header_and_query_auth_is_refused() -> None:
    headers = {"Host": "x", "Authorization": AUTH, "X-Amz-Date": "20240102T000000Z"}
    with pytest.raises(AWSError) as info:
        _parse(headers, "s3", {"X-Amz-Algorithm": "AWS4-HMAC-SHA256"})
    assert (info.value.code, info.value.status) == ("InvalidArgument", 400)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("style", "code", "status"),
    [
        ("query", "InvalidClientTokenId", 403),
        ("ec2", "AuthFailure", 401),
        ("json", "UnrecognizedClientException", 400),
        ("s3", "InvalidAccessKeyId", 403),
    ],
)
def test_unknown_key_error(style: str, code: str, status: int) -> None:
    err = sigv4.unknown_key_error(style, AKID)
    assert (err.code, err.status) == (code, status)
    if style == "s3":
        assert err.fields == {"AWSAccessKeyId": AKID}
    if style in ("query", "json"):
        assert err.message == "The security token included in the request is invalid."


@pytest.mark.parametrize(
    ("style", "code", "status"),
    [
        ("query", "MissingAuthenticationToken", 403),
        ("ec2", "MissingAuthenticationToken", 401),
        ("json", "MissingAuthenticationTokenException", 403),
    ],
)
def test_missing_auth_error(style: str, code: str, status: int) -> None:
    err = sigv4.missing_auth_error(style)
    assert (err.code, err.status) == (code, status)


def test_wrong_region_error_for_s3_names_the_region() -> None:
    err = sigv4.wrong_region_error("s3", "us-east-1", "eu-west-1")
    assert (err.code, err.status, err.fields) == (
        "AuthorizationHeaderMalformed",
        400,
        {"Region": "eu-west-1"},
    )


def test_signing_key_is_cached_and_matches_the_aws_example() -> None:
    # The derivation example in the AWS SigV4 documentation.
    key = sigv4.signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"
    )
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    assert (
        sigv4.signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"
        )
        is key
    )
