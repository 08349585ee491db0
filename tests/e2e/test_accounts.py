"""Drop-in conventions: unknown access keys as account roots (or rejected in
strict mode), 12-digit keys as isolated accounts, and state reset."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum, running_gureum


def code_of(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    r = err.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_unknown_keys_are_account_roots(gureum: RunningGureum) -> None:
    ident = gureum.client("sts", access_key="AKIAUNKNOWNKEY", secret_key="x").get_caller_identity()
    assert ident["Account"] == "000000000000"
    ident = gureum.client("sts", access_key="111122223333", secret_key="x").get_caller_identity()
    assert ident["Account"] == "111122223333"
    assert ident["Arn"] == "arn:aws:iam::111122223333:root"


def test_issued_keys_are_always_verified(gureum: RunningGureum) -> None:
    assert code_of(
        lambda: gureum.client("sts", secret_key="guess").get_caller_identity()
    ) == ("SignatureDoesNotMatch", 403)


def test_twelve_digit_accounts_are_isolated(gureum: RunningGureum) -> None:
    a = gureum.client("s3", access_key="111111111111", secret_key="x")
    b = gureum.client("s3", access_key="222222222222", secret_key="x")
    name = f"iso-{uuid.uuid4().hex[:12]}"
    a.create_bucket(Bucket=name)
    assert name in {x["Name"] for x in a.list_buckets()["Buckets"]}
    assert name not in {x["Name"] for x in b.list_buckets()["Buckets"]}
    assert code_of(lambda: b.delete_bucket(Bucket=name)) == ("AccessDenied", 403)
    # Bucket names are global, as on AWS: another account cannot take it.
    assert code_of(lambda: b.create_bucket(Bucket=name)) == ("BucketAlreadyExists", 409)
    a.delete_bucket(Bucket=name)


@pytest.fixture(scope="module")
def strict() -> Iterator[RunningGureum]:
    with running_gureum(args=["--strict-credentials"]) as server:
        yield server


@pytest.mark.parametrize(
    ("service", "call", "code", "status"),
    [
        ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId", 403),
        ("ec2", lambda c: c.describe_regions(), "AuthFailure", 401),
        ("s3", lambda c: c.list_buckets(), "InvalidAccessKeyId", 403),
    ],
)
def test_strict_mode_rejects_unknown_keys(strict: RunningGureum, service: str, call: Any,
                                          code: str, status: int) -> None:
    for key in ("AKIAUNKNOWNKEY", "123456789012"):
        client = strict.client(service, access_key=key, secret_key="x")
        assert code_of(lambda c=client: call(c)) == (code, status)
    assert strict.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_strict_mode_from_environment() -> None:
    with running_gureum(env={"GUREUM_STRICT_CREDENTIALS": "1"}) as server:
        client = server.client("sts", access_key="AKIAUNKNOWNKEY", secret_key="x")
        assert code_of(client.get_caller_identity) == ("InvalidClientTokenId", 403)


def test_reset_everything_and_one_service() -> None:
    with running_gureum() as g:
        s3 = g.client("s3")
        s3.create_bucket(Bucket="reset-me-please")
        other = g.client("s3", access_key="333333333333", secret_key="x")
        other.create_bucket(Bucket="reset-me-too")
        g.reset(service="ec2")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["reset-me-please"]
        g.reset(service="s3")
        assert s3.list_buckets()["Buckets"] == []
        assert other.list_buckets()["Buckets"] == []
        s3.create_bucket(Bucket="reset-me-please")
        g.reset()
        assert s3.list_buckets()["Buckets"] == []
        # The default credentials still work after a reset.
        assert g.client("sts").get_caller_identity()["Account"] == "000000000000"
        req = urllib.request.Request(f"{g.endpoint}/_gureum/reset?service=nope", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 400
