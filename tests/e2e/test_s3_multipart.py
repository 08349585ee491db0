"""Multipart uploads through boto3 (low-level calls and the threaded transfer
manager) and the AWS CLI."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket

MiB = 1024 * 1024


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3", max_pool_connections=10)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    with temp_bucket(s3, "mpu") as name:
        yield name


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mpu") / "twenty.bin"
    path.write_bytes(os.urandom(20 * MiB + 12345))
    return path


def test_transfer_manager_threads(s3: Any, bucket: str, big_file: Path, tmp_path: Path) -> None:
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                            max_concurrency=8)
    s3.upload_file(str(big_file), bucket, "dir/twenty.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="dir/twenty.bin")
    assert head["ContentLength"] == big_file.stat().st_size
    assert head["ETag"].endswith('-5"')
    back = tmp_path / "back.bin"
    s3.download_file(bucket, "dir/twenty.bin", str(back), Config=config)
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(
        big_file.read_bytes()).digest()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_low_level_calls_and_errors(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ContentType="text/plain",
                                        Metadata={"m": "1"})["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1,
                           Body=b"x" * (5 * MiB))["ETag"]
    second = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=2,
                            Body=b"tail")["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [
        (1, 5 * MiB, first), (2, 4, second)]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["UploadId"] for u in uploads] == [upload]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": second}, {"PartNumber": 1, "ETag": first}]})
    assert exc.value.response["Error"]["Code"] == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]})
    assert exc.value.response["Error"]["Code"] == "InvalidPart"
    out = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]})
    md5s = hashlib.md5(b"x" * (5 * MiB)).digest() + hashlib.md5(b"tail").digest()
    assert out["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-2"'
    got = s3.get_object(Bucket=bucket, Key="k", Range=f"bytes={5 * MiB - 1}-")
    assert got["Body"].read() == b"xtail"
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"m": "1"}
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)
    assert exc.value.response["Error"]["Code"] == "NoSuchUpload"


def test_entity_too_small_and_abort(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key="small", UploadId=upload, PartNumber=n,
                            Body=b"tiny")["ETag"] for n in (1, 2)]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=upload,
                                     MultipartUpload={"Parts": [
                                         {"PartNumber": n + 1, "ETag": e}
                                         for n, e in enumerate(etags)]})
    assert exc.value.response["Error"]["Code"] == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=upload)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="small")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_aws_cli_multipart(gureum: RunningGureum, bucket: str, big_file: Path,
                           tmp_path: Path) -> None:
    gureum.aws("s3", "cp", str(big_file), f"s3://{bucket}/cli.bin", check=True)
    back = tmp_path / "cli-back.bin"
    gureum.aws("s3", "cp", f"s3://{bucket}/cli.bin", str(back), check=True)
    assert back.read_bytes() == big_file.read_bytes()
