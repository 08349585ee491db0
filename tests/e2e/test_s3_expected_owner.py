"""ExpectedBucketOwner end to end through boto3: S3 answers AccessDenied 403
when the bucket (or a copy's source bucket) belongs to another account than
the one the request names, and serves the request when it names the owner."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket

OWNER = "000000000000"
OTHER = "111122223333"


def test_expected_bucket_owner_through_boto3(gureum: RunningGureum) -> None:
    s3: Any = gureum.client("s3")
    with temp_bucket(s3, "eo") as bucket, temp_bucket(s3, "eo") as dest:
        s3.put_object(Bucket=bucket, Key="k", Body=b"data", ExpectedBucketOwner=OWNER)
        for call in (
            lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=OTHER),
            lambda: s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=OTHER),
            lambda: s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner=OTHER),
            lambda: s3.get_bucket_versioning(Bucket=bucket, ExpectedBucketOwner=OTHER),
            lambda: s3.delete_object(Bucket=bucket, Key="k", ExpectedBucketOwner=OTHER),
            lambda: s3.copy_object(Bucket=dest, Key="c", CopySource=f"{bucket}/k",
                                   ExpectedSourceBucketOwner=OTHER),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            response = exc.value.response
            assert response["Error"]["Code"] == "AccessDenied"
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
        body = s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=OWNER)["Body"].read()
        assert body == b"data"
        s3.copy_object(Bucket=dest, Key="c", CopySource=f"{bucket}/k",
                       ExpectedSourceBucketOwner=OWNER, ExpectedBucketOwner=OWNER)
        assert s3.head_object(Bucket=dest, Key="c")["ContentLength"] == 4
