"""ExpectedBucketOwner: a request naming the account it expects to own the
bucket is denied (AccessDenied 403) when another account owns it, on every
operation, and a copy's source is checked against its own header."""

from __future__ import annotations

from typing import Any

import pytest

from gureum.errors import AWSError

from .conftest import Harness

OWNER = "000000000000"
OTHER = "111122223333"


def run(h: Harness, operation: str, headers: dict[str, str], **params: Any) -> Any:
    return h.run_with(operation, headers, **params)


WRONG = {"x-amz-expected-bucket-owner": OTHER}
RIGHT = {"x-amz-expected-bucket-owner": OWNER}


@pytest.mark.parametrize("operation,params", [
    ("head_bucket", {}),
    ("get_bucket_location", {}),
    ("list_objects_v2", {}),
    ("get_bucket_versioning", {}),
    ("get_bucket_encryption", {}),
    ("put_object", {"Key": "k", "Body": b"x"}),
    ("head_object", {"Key": "k"}),
    ("delete_object", {"Key": "k"}),
    ("delete_bucket", {}),
])
def test_another_expected_owner_is_denied(
    h: Harness, operation: str, params: dict[str, Any],
) -> None:
    h.run("put_object", Bucket="bkt", Key="k", Body=b"data")
    with pytest.raises(AWSError) as exc:
        run(h, operation, WRONG, Bucket="bkt", **params)
    assert (exc.value.code, exc.value.status) == ("AccessDenied", 403)
    assert h.run("head_object", Bucket="bkt", Key="k")["ContentLength"] == 4


def test_the_right_expected_owner_goes_through(h: Harness) -> None:
    run(h, "put_object", RIGHT, Bucket="bkt", Key="k", Body=b"data")
    assert run(h, "head_object", RIGHT, Bucket="bkt", Key="k")["ContentLength"] == 4


def test_copy_checks_the_source_header_against_the_source_bucket(h: Harness) -> None:
    h.run("put_object", Bucket="bkt", Key="src", Body=b"data")
    h.run("create_bucket", Bucket="dst")
    with pytest.raises(AWSError) as exc:
        run(h, "copy_object", {"x-amz-source-expected-bucket-owner": OTHER},
            Bucket="dst", Key="k", CopySource="bkt/src")
    assert (exc.value.code, exc.value.status) == ("AccessDenied", 403)
    run(h, "copy_object", {"x-amz-source-expected-bucket-owner": OWNER, **RIGHT},
        Bucket="dst", Key="k", CopySource="bkt/src")
    assert h.run("head_object", Bucket="dst", Key="k")["ContentLength"] == 4
