"""Large PUT bodies (1 MiB and more, a known length) are received by the blob
store's threads straight from the socket: against a real gureum, with boto3
and a plain HTTP client, the object is stored whole with its ETag, the
connection goes on serving its next request, a wrong SHA-256, checksum or
Content-MD5 is refused with S3's error and stores nothing, presigned
(unsigned payload) and multipart uploads work, and a client leaving mid-body
leaves no file."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum, running_gureum
from gureum.testing.signed import signed_put

MiB = 1024 * 1024
BUCKET = "received-bodies"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningGureum]:
    # (its own temporary data directory, removed afterwards with what it claimed)
    with running_gureum() as g:
        g.client("s3").create_bucket(Bucket=BUCKET)
        yield g


def blob_files(g: RunningGureum) -> set[str]:
    assert g.data_dir is not None
    root = Path(g.data_dir) / "s3"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def settled_files(g: RunningGureum, expected: set[str]) -> set[str]:
    """The blob files once any deletion in progress is done (at most 5 s)."""
    deadline = time.monotonic() + 5
    files = blob_files(g)
    while files != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        files = blob_files(g)
    return files


def test_large_bodies_are_stored_whole_and_the_connection_goes_on(
        server: RunningGureum) -> None:
    s3 = server.client("s3")
    for size in (MiB, 3 * MiB + 17, 40 * MiB + 5):
        data = os.urandom(size)
        out = s3.put_object(Bucket=BUCKET, Key=f"whole-{size}", Body=data)
        assert out["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        # The same pooled connection carries the next requests.
        assert s3.head_object(Bucket=BUCKET, Key=f"whole-{size}")["ContentLength"] == size
        got = s3.get_object(Bucket=BUCKET, Key=f"whole-{size}")["Body"].read()
        assert got == data


def test_a_checksum_sent_with_a_large_body_is_checked(server: RunningGureum) -> None:
    s3 = server.client("s3")
    data = os.urandom(2 * MiB + 3)
    good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    out = s3.put_object(Bucket=BUCKET, Key="crc", Body=data, ChecksumCRC32=good)
    assert out["ChecksumCRC32"] == good
    before = settled_files(server, blob_files(server))
    wrong = base64.b64encode((zlib.crc32(data) ^ 1).to_bytes(4, "big")).decode()
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=BUCKET, Key="crc-wrong", Body=data, ChecksumCRC32=wrong)
    assert err.value.response["Error"]["Code"] == "BadDigest"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    wrong_md5 = base64.b64encode(hashlib.md5(data + b"x").digest()).decode()
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=BUCKET, Key="md5-wrong", Body=data, ContentMD5=wrong_md5)
    assert err.value.response["Error"]["Code"] == "BadDigest"
    assert settled_files(server, before) == before
    for key in ("crc-wrong", "md5-wrong"):
        with pytest.raises(ClientError):
            s3.head_object(Bucket=BUCKET, Key=key)


def _send_signed_put(server: RunningGureum, key: str, signed: bytes,
                     sent: bytes) -> tuple[int, bytes, http.client.HTTPConnection]:
    """A PUT signed by boto3 for the body ``signed`` (its SHA-256 in the
    signed headers), ``sent`` sent instead (as a body damaged on the way)."""
    path, headers = signed_put(server.client("s3"), BUCKET, key, signed)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("PUT", path, body=sent, headers={
        k: v for k, v in headers.items() if k.lower() != "expect"})
    answer = conn.getresponse()
    return answer.status, answer.read(), conn


def test_a_wrong_payload_hash_is_refused_and_stores_nothing(server: RunningGureum) -> None:
    data = os.urandom(3 * MiB)
    before = settled_files(server, blob_files(server))
    damaged = data[:-1] + bytes([data[-1] ^ 1])
    status, body, conn = _send_signed_put(server, "sha-wrong", data, damaged)
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    # The body was read to its end: the connection serves the next request.
    conn.request("GET", f"/{BUCKET}/sha-wrong")
    answer = conn.getresponse()
    answer.read()
    assert answer.status in (403, 404)
    conn.close()
    assert settled_files(server, before) == before
    status, body, conn = _send_signed_put(server, "sha-right", data, data)
    conn.close()
    assert status == 200, body
    got = server.client("s3").get_object(Bucket=BUCKET, Key="sha-right")["Body"].read()
    assert got == data


def test_a_presigned_put_with_an_unsigned_payload_is_received(server: RunningGureum) -> None:
    s3 = server.client("s3")
    data = os.urandom(5 * MiB + 1)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "presigned"})
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("PUT", url.split(str(server.port), 1)[1], body=data,
                 headers={"Content-Type": ""})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    assert answer.status == 200
    assert answer.getheader("ETag") == f'"{hashlib.md5(data).hexdigest()}"'
    assert s3.get_object(Bucket=BUCKET, Key="presigned")["Body"].read() == data


def test_a_large_part_is_received(server: RunningGureum) -> None:
    s3 = server.client("s3")
    parts = [os.urandom(5 * MiB), os.urandom(2 * MiB + 9)]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="multi")["UploadId"]
    done = []
    for number, data in enumerate(parts, 1):
        out = s3.upload_part(Bucket=BUCKET, Key="multi", UploadId=upload, PartNumber=number,
                             Body=data)
        assert out["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        done.append({"PartNumber": number, "ETag": out["ETag"]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key="multi", UploadId=upload,
                                 MultipartUpload={"Parts": done})
    assert s3.get_object(Bucket=BUCKET, Key="multi")["Body"].read() == b"".join(parts)


def test_a_client_leaving_mid_body_leaves_no_file(server: RunningGureum) -> None:
    s3 = server.client("s3")
    before = settled_files(server, blob_files(server))
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "torn"})
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = (f"PUT {url.split(str(server.port), 1)[1]} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: \r\nContent-Length: {64 * MiB}\r\n\r\n").encode()
    sock.sendall(head + b"y" * (8 * MiB))
    deadline = time.monotonic() + 10
    while blob_files(server) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert blob_files(server) != before  # the body was being written
    sock.close()
    assert settled_files(server, before) == before
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="torn")
    # The server is fine: the next upload goes through.
    s3.put_object(Bucket=BUCKET, Key="after", Body=b"z" * (2 * MiB))
    assert s3.head_object(Bucket=BUCKET, Key="after")["ContentLength"] == 2 * MiB
