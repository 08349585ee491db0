"""The gateway tells the store of every request it handles (the store's commit
delay holds a WAL sync for the requests in flight): whatever way a request
ends — answered, refused, crashed, or its client gone mid-body — it is no
longer counted afterwards, or every later sync would wait for it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from gureum.server import Cloud

from .test_handler import in_process

__all__ = ["in_process"]


def _settled(cloud: Cloud) -> int:
    """The store's count of requests in flight, once it stops moving (2 s at most)."""
    store = cloud.gateway.store
    assert store is not None
    deadline = time.monotonic() + 2.0
    while store._in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    return store._in_flight


def _s3(endpoint: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}),
    )


@contextmanager
def _half_sent(endpoint: str, length: int) -> Iterator[None]:
    """A signed PUT of ``length`` bytes whose client sends 1,000 of them, then
    waits; it leaves when the block ends."""
    host, port = endpoint.removeprefix("http://").split(":")
    request = AWSRequest("PUT", f"{endpoint}/counted/gone", headers={
        "Content-Length": str(length), "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    head = "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"PUT /counted/gone HTTP/1.1\r\nHost: {host}:{port}\r\n{head}\r\n"
                     .encode() + b"y" * 1000)
        yield


def test_a_large_body_on_its_way_holds_no_sync(in_process: tuple[Cloud, str]) -> None:
    """A large upload may take seconds: small writes meanwhile do not wait for it."""
    cloud, endpoint = in_process
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="counted")
    store = cloud.gateway.store
    assert store is not None
    with _half_sent(endpoint, 10 * 1024 * 1024):
        time.sleep(0.3)  # the request is being handled, waiting for the rest
        assert store._in_flight == 0
        s3.put_object(Bucket="counted", Key="small", Body=b"s" * 4096)
        assert s3.get_object(Bucket="counted", Key="small")["Body"].read() == b"s" * 4096
    assert _settled(cloud) == 0


def test_no_request_stays_counted(in_process: tuple[Cloud, str]) -> None:
    cloud, endpoint = in_process
    s3 = _s3(endpoint)
    s3.create_bucket(Bucket="counted")
    s3.put_object(Bucket="counted", Key="k", Body=b"x" * 4096)
    assert s3.get_object(Bucket="counted", Key="k")["Body"].read() == b"x" * 4096
    with pytest.raises(ClientError):
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    assert _settled(cloud) == 0

    # A crash inside an operation: a 500, and the request is done.
    def explode(call: Any, params: Any) -> Any:
        raise RuntimeError("crash")

    s3_service = cloud.services["s3"]
    s3_service.list_objects_v2 = explode  # type: ignore[attr-defined]
    cloud.gateway._operations.clear()
    with pytest.raises(ClientError):
        s3.list_objects_v2(Bucket="counted")
    assert _settled(cloud) == 0

    # A client that leaves half way through a PUT's body.
    with _half_sent(endpoint, 60_000):
        time.sleep(0.3)  # the request is being handled, waiting for the rest
        assert cloud.gateway.store is not None and cloud.gateway.store._in_flight == 1
    assert _settled(cloud) == 0

    # And a write still goes through at once (no sync waits for a ghost).
    start = time.monotonic()
    s3.put_object(Bucket="counted", Key="after", Body=b"z")
    assert time.monotonic() - start < 2.0
