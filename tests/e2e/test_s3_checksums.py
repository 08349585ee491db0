"""S3 checksums through boto3: CRC32C and CRC64NVME (computed with awscrt) next
to CRC32, SHA1 and SHA256 — sent as headers and as aws-chunked trailers, checked
against the bytes, stored and returned; wrong and malformed values refused as
S3 refuses them; multipart COMPOSITE and FULL_OBJECT checksums."""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums as crt
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from gureum.testing.server import ACCESS_KEY, SECRET_KEY, RunningGureum

from .test_s3_support import temp_bucket

MiB = 1024 * 1024
ALL = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def raw_checksum(algorithm: str, data: bytes) -> bytes:
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return crt.crc32c(data).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return crt.crc64nvme(data).to_bytes(8, "big")
    return hashlib.new(algorithm.lower(), data).digest()


def checksum(algorithm: str, data: bytes) -> str:
    return b64(raw_checksum(algorithm, data))


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    with temp_bucket(s3, "sums") as name:
        yield name


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response["Error"]
    return (str(err["Code"]), int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"]),
            str(err.get("Message", "")))


def keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.mark.parametrize("algorithm", ALL)
def test_trailer_checksum_stored_and_returned(s3: Any, bucket: str, algorithm: str) -> None:
    """boto3 sends the checksum as an aws-chunked trailer (its default)."""
    data = b"checksum me " * 5000
    expected = checksum(algorithm, data)
    put = s3.put_object(Bucket=bucket, Key="t", Body=data, ChecksumAlgorithm=algorithm)
    assert put[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bucket, Key="t", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected and got["Body"].read() == data
    assert got["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="t", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    attrs = s3.get_object_attributes(Bucket=bucket, Key="t", ObjectAttributes=["Checksum"])
    assert attrs["Checksum"][f"Checksum{algorithm}"] == expected
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert listed["ChecksumAlgorithm"] == [algorithm]


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC64NVME"])
def test_header_checksum_checked(s3: Any, bucket: str, algorithm: str) -> None:
    """A value in an x-amz-checksum-* header: right is stored, wrong is BadDigest,
    malformed is InvalidRequest; neither refusal leaves an object behind."""
    data = b"header checksum " * 300
    good = checksum(algorithm, data)
    put = s3.put_object(Bucket=bucket, Key="good", Body=data, **{f"Checksum{algorithm}": good})
    assert put[f"Checksum{algorithm}"] == good
    wrong = checksum(algorithm, b"other bytes")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="wrong", Body=data, **{f"Checksum{algorithm}": wrong})
    assert error(exc) == ("BadDigest", 400,
                          f"The {algorithm} you specified did not match the calculated checksum.")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=data, **{f"Checksum{algorithm}": "AAAA"})
    assert error(exc) == ("InvalidRequest", 400,
                          f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.")
    assert keys(s3, bucket) == ["good"]


def test_two_checksum_headers_refused(s3: Any, bucket: str) -> None:
    data = b"two values"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="two", Body=data,
                      ChecksumCRC32C=checksum("CRC32C", data),
                      ChecksumCRC64NVME=checksum("CRC64NVME", data))
    code, status, message = error(exc)
    assert (code, status) == ("InvalidRequest", 400) and "Multiple checksum" in message
    assert keys(s3, bucket) == []


class _LiteralPayload(S3SigV4Auth):
    """SigV4 with a literal x-amz-content-sha256 (the streaming-trailer marker)."""

    def payload(self, request: Any) -> str:
        return "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


def put_with_trailer(gureum: RunningGureum, bucket: str, key: str, data: bytes,
                     trailer: str, value: str) -> tuple[int, bytes]:
    """PUT as boto3 does over HTTPS: aws-chunked, unsigned payload, a checksum trailer."""
    body = (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n"
            + f"{trailer}:{value}\r\n\r\n".encode())
    url = f"{gureum.endpoint}/{bucket}/{key}"
    request = AWSRequest("PUT", url, data=body, headers={
        "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": trailer, "x-amz-sdk-checksum-algorithm":
        trailer.removeprefix("x-amz-checksum-").upper(),
        "Content-Length": str(len(body))})
    _LiteralPayload(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    req = urllib.request.Request(url, data=body, method="PUT", headers=dict(request.headers))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC64NVME"])
def test_trailer_checked(gureum: RunningGureum, s3: Any, bucket: str, algorithm: str) -> None:
    """An aws-chunked trailer: the right value is stored and returned, a wrong one
    is BadDigest, a malformed one InvalidRequest; refusals leave no object."""
    data = b"trailer bytes " * 1000
    trailer = f"x-amz-checksum-{algorithm.lower()}"
    status, _ = put_with_trailer(gureum, bucket, "good", data, trailer,
                                 checksum(algorithm, data))
    assert status == 200
    got = s3.get_object(Bucket=bucket, Key="good", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == checksum(algorithm, data)
    assert got["Body"].read() == data
    status, answer = put_with_trailer(gureum, bucket, "wrong", data, trailer,
                                      checksum(algorithm, b"something else"))
    assert status == 400 and b"<Code>BadDigest</Code>" in answer
    assert f"The {algorithm} you specified did not match".encode() in answer
    status, answer = put_with_trailer(gureum, bucket, "bad", data, trailer, "bm90IGJhc2U2NA")
    assert status == 400 and b"<Code>InvalidRequest</Code>" in answer
    assert keys(s3, bucket) == ["good"]


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_multipart_full_object(s3: Any, bucket: str, algorithm: str) -> None:
    parts_data = [b"a" * (5 * MiB), b"b" * (5 * MiB + 17), b"c" * 1000]
    whole = b"".join(parts_data)
    kwargs: dict[str, Any] = {"ChecksumAlgorithm": algorithm}
    if algorithm != "CRC64NVME":  # CRC64NVME is FULL_OBJECT by default
        kwargs["ChecksumType"] = "FULL_OBJECT"
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", **kwargs)
    assert (up["ChecksumAlgorithm"], up["ChecksumType"]) == (algorithm, "FULL_OBJECT")
    parts = []
    for number, data in enumerate(parts_data, 1):
        part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                              PartNumber=number, Body=data, ChecksumAlgorithm=algorithm)
        assert part[f"Checksum{algorithm}"] == checksum(algorithm, data)
        parts.append({"PartNumber": number, "ETag": part["ETag"],
                      f"Checksum{algorithm}": part[f"Checksum{algorithm}"]})
    expected = checksum(algorithm, whole)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up["UploadId"], MultipartUpload={"Parts": parts},
        ChecksumType="FULL_OBJECT", **{f"Checksum{algorithm}": expected})
    assert done[f"Checksum{algorithm}"] == expected and done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected and head["ChecksumType"] == "FULL_OBJECT"
    assert head["ContentLength"] == len(whole)


def test_multipart_wrong_full_object_value(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC64NVME")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1,
                          Body=b"only part", ChecksumAlgorithm="CRC64NVME")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="mp", UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
            ChecksumCRC64NVME=checksum("CRC64NVME", b"not the object"))
    assert error(exc)[:2] == ("BadDigest", 400)
    assert keys(s3, bucket) == []
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"])


def test_multipart_composite_crc32c(s3: Any, bucket: str) -> None:
    parts_data = [b"x" * (5 * MiB), b"y" * 4096]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32C")
    assert up["ChecksumType"] == "COMPOSITE"
    parts = []
    for number, data in enumerate(parts_data, 1):
        part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                              PartNumber=number, Body=data, ChecksumAlgorithm="CRC32C")
        parts.append({"PartNumber": number, "ETag": part["ETag"],
                      "ChecksumCRC32C": part["ChecksumCRC32C"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    raw = b"".join(raw_checksum("CRC32C", d) for d in parts_data)
    assert done["ChecksumCRC32C"] == f"{checksum('CRC32C', raw)}-2"
    assert done["ChecksumType"] == "COMPOSITE"


def test_multipart_checksum_rules(s3: Any, bucket: str) -> None:
    """CRC64NVME is full-object only, SHA is composite only, and a part may not
    carry another algorithm than the upload's."""
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME",
                                   ChecksumType="COMPOSITE")
    assert error(exc)[:2] == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256",
                                   ChecksumType="FULL_OBJECT")
    assert error(exc)[:2] == ("InvalidRequest", 400)
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32C")
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=1,
                       Body=b"data", ChecksumAlgorithm="CRC64NVME")
    code, status, message = error(exc)
    assert (code, status) == ("InvalidRequest", 400) and "mismatch" in message
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"])


def test_upload_file_with_crc64nvme(gureum: RunningGureum, bucket: str, tmp_path: Path) -> None:
    """boto3's managed transfer (threads, multipart) with ChecksumAlgorithm."""
    s3 = gureum.client("s3", request_checksum_calculation="when_supported")
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB: three parts of 5 MiB at most
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                            max_concurrency=3)
    s3.upload_file(str(src), bucket, "big", ExtraArgs={"ChecksumAlgorithm": "CRC64NVME"},
                   Config=config)
    head = s3.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == checksum("CRC64NVME", data)
    assert head["ETag"].endswith('-3"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "big", str(dst))
    assert dst.read_bytes() == data


def put_declaring(gureum: RunningGureum, bucket: str, key: str, data: bytes,
                  sha256: str) -> tuple[int, bytes]:
    """PUT with a signed x-amz-content-sha256 of our choosing."""

    class Declared(S3SigV4Auth):
        def payload(self, request: Any) -> str:
            return sha256

    url = f"{gureum.endpoint}/{bucket}/{key}"
    request = AWSRequest("PUT", url, data=data)
    Declared(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    req = urllib.request.Request(url, data=data, method="PUT", headers=dict(request.headers))
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize("size", [5, 9 * 1024 * 1024 + 7])  # one batch, and hashed in batches
def test_declared_sha256_checked(gureum: RunningGureum, s3: Any, bucket: str, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    wrong = hashlib.sha256(data + b"!").hexdigest()
    status, body = put_declaring(gureum, bucket, "declared", data, wrong)
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    assert keys(s3, bucket) == []
    status, _ = put_declaring(gureum, bucket, "declared", data, hashlib.sha256(data).hexdigest())
    assert status == 200
    got = s3.get_object(Bucket=bucket, Key="declared")["Body"].read()
    assert hashlib.md5(got).digest() == hashlib.md5(data).digest()
