"""A small plain body that has all arrived is handed to S3 as bytes in one step
(``LeanRequest.whole_body`` -> ``PlainBody.whole`` -> ``store_object``), no
stream between them, with the same answers as when it is streamed: its
declared SHA-256 checked (``XAmzContentSHA256Mismatch``) only once S3 reads
it, so errors found before (``NoSuchBucket``) still win."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from gureum.errors import AWSError
from gureum.gateway import body as body_module
from gureum.gateway.body import PlainBody, request_body_stream
from gureum.httpfront import LeanRequest
from gureum.testing.signed import signed_put

from .test_handler import cloud_in_thread

BODY = bytes(range(256)) * 16  # 4 KiB


class Seen:
    """What the body path did: bodies taken whole, readers built, streams read."""

    def __init__(self) -> None:
        self.whole: list[bytes | None] = []
        self.readers = 0
        self.streamed = 0


@pytest.fixture
def lean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Seen]]:
    """gureum's gateway behind the lean front, in a thread, the body path spied on."""
    seen = Seen()
    whole, reader, received = PlainBody.whole, LeanRequest._reader, body_module._received

    def spy_whole(self: PlainBody) -> bytes | None:
        try:
            data = whole(self)
        except AWSError:
            seen.whole.append(b"<refused>")
            raise
        seen.whole.append(data)
        return data

    def spy_reader(self: LeanRequest) -> Any:
        seen.readers += 1
        return reader(self)

    async def spy_received(request: Any) -> AsyncIterator[bytes]:
        seen.streamed += 1
        async for chunk in received(request):
            yield chunk

    monkeypatch.setattr(PlainBody, "whole", spy_whole)
    monkeypatch.setattr(LeanRequest, "_reader", spy_reader)
    monkeypatch.setattr(body_module, "_received", spy_received)
    with cloud_in_thread(tmp_path, lean=True) as (_, endpoint):
        yield endpoint, seen


def _s3(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}),
    )


def _put(endpoint: str, bucket: str, key: str, signed: bytes, sent: bytes,
         continue_: bool = True) -> tuple[int, bytes]:
    """A PUT signed by boto3 for ``signed`` (its SHA-256 in the signed
    headers) with ``sent`` sent instead; with ``Expect: 100-continue`` as
    boto3 sends it, or without."""
    path, headers = signed_put(_s3(endpoint), bucket, key, signed)
    assert headers["x-amz-content-sha256"] == hashlib.sha256(signed).hexdigest()
    port = int(endpoint.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        if not continue_:
            headers = {k: v for k, v in headers.items() if k.lower() != "expect"}
        conn.request("PUT", path, body=sent, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def test_a_small_put_is_taken_whole_and_stored(lean: tuple[str, Seen]) -> None:
    endpoint, seen = lean
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="whole")
    etag = s3.put_object(Bucket="whole", Key="k", Body=BODY)["ETag"]
    assert etag == f'"{hashlib.md5(BODY).hexdigest()}"'
    assert seen.whole == [BODY] and seen.readers == 0 and seen.streamed == 0
    assert s3.get_object(Bucket="whole", Key="k")["Body"].read() == BODY
    status, _ = _put(endpoint, "whole", "plain", BODY, BODY, continue_=False)
    assert status == 200
    assert seen.whole == [BODY, BODY] and seen.readers == 0 and seen.streamed == 0
    assert s3.get_object(Bucket="whole", Key="plain")["Body"].read() == BODY


def test_a_wrong_payload_hash_is_refused_when_taken_whole(lean: tuple[str, Seen]) -> None:
    endpoint, seen = lean
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="whole")
    damaged = BODY[:-1] + bytes([BODY[-1] ^ 1])
    for continue_ in (True, False):
        status, answer = _put(endpoint, "whole", "bad", BODY, damaged, continue_)
        assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in answer
        computed = hashlib.sha256(damaged).hexdigest()
        assert f"<S3ComputedContentSHA256>{computed}</S3ComputedContentSHA256>".encode() \
            in answer
    assert seen.whole == [b"<refused>", b"<refused>"]
    assert seen.readers == 0 and seen.streamed == 0
    assert s3.list_objects_v2(Bucket="whole").get("KeyCount") == 0


def test_errors_found_before_the_body_is_read_still_win(lean: tuple[str, Seen]) -> None:
    endpoint, seen = lean
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="whole")
    s3.put_object(Bucket="whole", Key="there", Body=b"x")
    assert seen.whole == [b"x"]
    damaged = BODY[::-1]
    status, answer = _put(endpoint, "absent", "k", BODY, damaged)
    assert status == 404 and b"<Code>NoSuchBucket</Code>" in answer
    with pytest.raises(ClientError) as failed:
        s3.put_object(Bucket="whole", Key="there", Body=BODY, IfNoneMatch="*")
    assert failed.value.response["Error"]["Code"] == "PreconditionFailed"
    assert seen.whole == [b"x"] and seen.streamed == 0  # those bodies never read
    assert s3.get_object(Bucket="whole", Key="there")["Body"].read() == b"x"


def _signed(endpoint: str, bucket: str, key: str, data: bytes) -> bytes:
    """The head of a PUT of ``data`` as boto3 signs it (no ``Expect``)."""
    path, headers = signed_put(_s3(endpoint), bucket, key, data)
    port = endpoint.rsplit(":", 1)[1]
    lines = [f"PUT {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"] + [
        f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("expect", "host")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_small_body_queued_behind_another_request_is_streamed(
    lean: tuple[str, Seen],
) -> None:
    """Pipelined behind a request being answered, a small PUT may be answered
    before its body has all arrived: then it is streamed, with the same result."""
    endpoint, seen = lean
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="whole")
    first, second = BODY, BODY[::-1]
    port = int(endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_signed(endpoint, "whole", "first", first) + first
                     + _signed(endpoint, "whole", "second", second) + second[:100])
        time.sleep(0.3)
        sock.sendall(second[100:])
        got = b""
        while got.count(b"HTTP/1.1 200 OK") < 2:
            chunk = sock.recv(65536)
            assert chunk, got
            got += chunk
    assert seen.whole[0] == first and seen.whole[1:] == [None]
    assert seen.readers == 1 and seen.streamed == 1
    assert s3.get_object(Bucket="whole", Key="first")["Body"].read() == first
    assert s3.get_object(Bucket="whole", Key="second")["Body"].read() == second


class _Request:
    """A request whose small body has all arrived (``whole_body``) or is to
    be read from ``content`` (a stream that has not all arrived)."""

    def __init__(self, data: bytes, whole: bool, declared: str = "") -> None:
        from multidict import CIMultiDict, CIMultiDictProxy

        self._data = data
        self._whole = whole
        self.headers = CIMultiDictProxy(CIMultiDict({
            "Content-Length": str(len(data)), "x-amz-content-sha256": declared}))
        self.content = _Stream(data)

    def whole_body(self) -> bytes | None:
        if not self._whole:
            return None
        self._whole = False
        return self._data


class _Stream:
    def __init__(self, data: bytes) -> None:
        self._parts = [data[:100], data[100:]]

    async def readany(self) -> bytes:
        return self._parts.pop(0) if self._parts else b""


async def _drain(body: Any) -> bytes:
    return b"".join([chunk async for chunk in body])


def test_a_plain_body_is_whole_once_or_iterated() -> None:
    sha = hashlib.sha256(BODY).hexdigest()
    signed = object()
    body = request_body_stream(_Request(BODY, True, sha), signed, "secret")  # type: ignore[arg-type]
    assert isinstance(body, PlainBody)
    assert body.whole() == BODY
    assert body.whole() is None  # read: nothing more
    assert asyncio.run(_drain(body)) == b""
    # Not all here: whole() says so, and the body is iterated, its hash checked.
    body = request_body_stream(_Request(BODY, False, sha), signed, "secret")  # type: ignore[arg-type]
    assert isinstance(body, PlainBody) and body.whole() is None
    assert asyncio.run(_drain(body)) == BODY
    # Once iterated, it is never taken whole.
    body = request_body_stream(_Request(BODY, True, sha), signed, "secret")  # type: ignore[arg-type]

    async def first_then_whole() -> tuple[bytes, bytes | None]:
        return await body.__anext__(), body.whole()  # type: ignore[attr-defined]

    assert asyncio.run(first_then_whole()) == (BODY[:100], None)
    # A wrong declared hash: refused either way, as the same error.
    wrong = hashlib.sha256(b"other").hexdigest()
    errors = []
    for whole in (True, False):
        body = request_body_stream(_Request(BODY, whole, wrong), signed, "s")  # type: ignore[arg-type]
        with pytest.raises(AWSError) as refused:
            if body.whole() is None:  # type: ignore[attr-defined]
                asyncio.run(_drain(body))
        errors.append((refused.value.code, refused.value.status, refused.value.fields))
    assert errors[0] == errors[1] and errors[0][0] == "XAmzContentSHA256Mismatch"
    # Unsigned: no hash checked.
    body = request_body_stream(_Request(BODY, True, wrong), None, None)  # type: ignore[arg-type]
    assert body.whole() == BODY  # type: ignore[attr-defined]


def test_an_api_calls_small_body_is_read_whole_too(lean: tuple[str, Seen]) -> None:
    """Not S3's only: a query-protocol call's form body (CloudWatch's
    PutMetricData) is taken whole from the front, no reader built."""
    endpoint, seen = lean
    cw = boto3.client(
        "cloudwatch", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}),
    )
    cw.put_metric_data(Namespace="Whole/Body", MetricData=[
        {"MetricName": "m", "Value": 1.5, "Unit": "Count"}])
    names = [m["MetricName"] for m in cw.list_metrics(Namespace="Whole/Body")["Metrics"]]
    assert names == ["m"]
    assert seen.readers == 0
