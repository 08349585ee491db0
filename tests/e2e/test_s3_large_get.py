"""Large GETs end to end (sent by a thread with sendfile, ``gateway/sendfile.py``):
whole, ranged, conditional and HEAD answers through boto3; the small send
buffer a loopback client's connection gets; a client leaving mid-answer
leaves no descriptor behind and the server answering."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import subprocess
import time
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from gureum.gateway.sendfile import SEND_BUFFER
from gureum.testing.server import RunningGureum, running_gureum

MiB = 1024 * 1024
SIZE = 12 * MiB + 17


@pytest.fixture(scope="module")
def server() -> RunningGureum:
    with running_gureum() as g:
        s3 = g.client("s3")
        s3.create_bucket(Bucket="large-get")
        s3.put_object(Bucket="large-get", Key="big", Body=_data())
        yield g  # type: ignore[misc]


def _data() -> bytes:
    block = hashlib.sha256(b"large-get").digest() * (MiB // 32)
    return (block * (SIZE // MiB + 1))[:SIZE - 17] + b"0123456789abcdefg"


def test_streamed_ranged_conditional_and_head(server: RunningGureum) -> None:
    s3 = server.client("s3")
    data = _data()
    got = s3.get_object(Bucket="large-get", Key="big")
    assert got["ContentLength"] == SIZE
    body = b"".join(got["Body"].iter_chunks(MiB))
    assert body == data
    part = s3.get_object(Bucket="large-get", Key="big", Range=f"bytes=1000-{3 * MiB + 999}")
    assert part["ContentRange"] == f"bytes 1000-{3 * MiB + 999}/{SIZE}"
    assert part["Body"].read() == data[1000:3 * MiB + 1000]
    tail = s3.get_object(Bucket="large-get", Key="big", Range="bytes=-2000000")
    assert tail["Body"].read() == data[-2000000:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="large-get", Key="big", IfNoneMatch=got["ETag"])
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    head = s3.head_object(Bucket="large-get", Key="big")
    assert head["ContentLength"] == SIZE and head["ETag"] == got["ETag"]
    # the connection goes on serving after a large answer
    assert s3.get_object(Bucket="large-get", Key="big", Range="bytes=0-9")["Body"].read() == (
        data[:10])


def _presigned(server: RunningGureum) -> str:
    url = server.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": "large-get", "Key": "big"}, ExpiresIn=300)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _server_send_buffer(port: int, client_port: int) -> int:
    """tb (the send buffer's size) of gureum's side of one connection, by ss."""
    out = subprocess.run(
        ["ss", "-tmnH", "state", "established",
         f"( sport = :{port} and dport = :{client_port} )"],
        capture_output=True, text=True, check=True).stdout
    start = out.index("skmem:(")
    fields = out[start + 7:out.index(")", start)].split(",")
    return int(next(f for f in fields if f.startswith("tb"))[2:])


def test_a_loopback_client_gets_a_small_send_buffer(server: RunningGureum) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", _presigned(server))
        answer = conn.getresponse()
        assert answer.status == 200
        assert len(answer.read()) == SIZE
        client_port = conn.sock.getsockname()[1]
        # Linux doubles what SO_SNDBUF is given; grown on its own after 12 MiB
        # it would be several MiB
        assert _server_send_buffer(server.port, client_port) == 2 * SEND_BUFFER
    finally:
        conn.close()


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_client_leaving_mid_answer_leaves_no_descriptor(server: RunningGureum) -> None:
    s3 = server.client("s3")
    assert s3.head_object(Bucket="large-get", Key="big")["ContentLength"] == SIZE
    before = _open_fds(server.pid)
    target = _presigned(server)
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            got = sock.recv(65536)
            assert got.startswith(b"HTTP/1.1 200")
            time.sleep(0.2)  # the sender waits for room in the full buffers
        # closed with most of the answer unread
    deadline = time.monotonic() + 10
    while _open_fds(server.pid) > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _open_fds(server.pid) <= before
    data = _data()
    assert s3.get_object(Bucket="large-get", Key="big")["Body"].read() == data


def test_clients_reading_nothing_hold_up_no_other_request(server: RunningGureum) -> None:
    s3 = server.client("s3", read_timeout=10)
    target = _presigned(server)
    stalled: list[socket.socket] = []
    try:
        for _ in range(40):  # more than any default executor has threads
            sock = socket.socket()
            stalled.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            sock.settimeout(10)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert all(sock.recv(100).startswith(b"HTTP/1.1 200") for sock in stalled)
        time.sleep(0.3)  # every sender is waiting for room
        started = time.monotonic()
        # a file-backed object (above the inline size): its PUT opens, writes
        # and syncs its file in worker threads
        s3.put_object(Bucket="large-get", Key="beside", Body=b"b" * 300_000)
        assert s3.get_object(Bucket="large-get", Key="beside")["Body"].read() == b"b" * 300_000
        assert time.monotonic() - started < 8
    finally:
        for sock in stalled:
            sock.close()
