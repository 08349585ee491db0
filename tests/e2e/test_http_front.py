"""The endpoint's HTTP front end to end: API calls through the lean front (the
default) and aiohttp for the console, ``GUREUM_HTTP=aiohttp`` for everything,
and a client leaving in the middle of a signed S3 PUT."""

from __future__ import annotations

import os
import socket
import time
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gureum.testing.server import running_gureum


def _server_header(url: str) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, method="GET")) as r:
        return str(r.headers.get("Server", ""))


def test_api_calls_use_the_lean_front_and_the_console_aiohttp() -> None:
    with running_gureum(env={"GUREUM_HTTP": ""}) as g:
        s3 = g.client("s3")
        s3.create_bucket(Bucket="front-bucket")
        s3.put_object(Bucket="front-bucket", Key="a b+c", Body=b"hello")
        got = s3.get_object(Bucket="front-bucket", Key="a b+c")
        assert got["Body"].read() == b"hello"
        assert "aiohttp" not in got["ResponseMetadata"]["HTTPHeaders"].get("server", "")
        assert "aiohttp" in _server_header(g.endpoint + "/_gureum/health")
        head = s3.head_object(Bucket="front-bucket", Key="a b+c")
        assert head["ContentLength"] == 5


def test_gureum_http_aiohttp_serves_everything_with_aiohttp() -> None:
    with running_gureum(env={"GUREUM_HTTP": "aiohttp"}) as g:
        s3 = g.client("s3")
        answer = s3.list_buckets()
        assert "aiohttp" in answer["ResponseMetadata"]["HTTPHeaders"]["server"]
        # A file answer goes out by sendfile from a thread of its own (uvloop has
        # no loop.sendfile): whole and ranged.
        data = os.urandom(3 * 1024 * 1024 + 5)
        s3.create_bucket(Bucket="aio-bucket")
        s3.put_object(Bucket="aio-bucket", Key="big", Body=data)
        got = s3.get_object(Bucket="aio-bucket", Key="big")
        assert "aiohttp" in got["ResponseMetadata"]["HTTPHeaders"]["server"]
        assert got["Body"].read() == data
        ranged = s3.get_object(Bucket="aio-bucket", Key="big", Range="bytes=1000-2000999")
        assert ranged["Body"].read() == data[1000:2001000]


def test_a_client_leaving_mid_put_leaves_no_object_and_no_traceback() -> None:
    with running_gureum() as g:
        s3 = g.client("s3")
        s3.create_bucket(Bucket="left-bucket")
        url = f"{g.endpoint}/left-bucket/half"
        request = AWSRequest(method="PUT", url=url, headers={
            "Content-Length": "1000000", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
        SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
        head = f"PUT /left-bucket/half HTTP/1.1\r\nHost: 127.0.0.1:{g.port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
        with socket.create_connection(("127.0.0.1", g.port), timeout=10) as sock:
            sock.sendall(head.encode() + b"x" * 100_000)
            time.sleep(0.3)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if not list((g.data_dir).rglob("*.tmp")):
                break
        with pytest.raises(s3.exceptions.ClientError) as missing:
            s3.head_object(Bucket="left-bucket", Key="half")
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        log = g.log_path.read_text()
        assert "Traceback" not in log and "internal error" not in log, log
