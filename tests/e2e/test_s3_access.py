"""S3 access control end to end: bucket policies (wildcards, conditions,
explicit deny), canned ACLs and ACL documents, Public Access Block, and
anonymous (unsigned) requests that succeed only where a policy or ACL grants
them — each grant is shown together with the denial next to it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

from .test_s3_support import temp_bucket

OTHER = "111122223333"  # a 12-digit access key is the root of that account


@pytest.fixture
def s3(gureum: RunningGureum) -> Any:
    return gureum.client("s3")


@pytest.fixture
def other(gureum: RunningGureum) -> Any:
    return gureum.client("s3", access_key=OTHER)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    with temp_bucket(s3, "acc") as name:
        yield name


def anon(gureum: RunningGureum, method: str, path: str, data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """An unsigned request, as a browser or curl sends it."""
    req = urllib.request.Request(f"{gureum.endpoint}{path}", data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_anonymous_denied_by_default(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="secret.txt", Body=b"hidden")
    status, body = anon(gureum, "GET", f"/{bucket}/secret.txt")
    assert status == 403 and b"AccessDenied" in body
    assert anon(gureum, "GET", f"/{bucket}")[0] == 403
    assert anon(gureum, "PUT", f"/{bucket}/new.txt", b"x")[0] == 403
    assert anon(gureum, "DELETE", f"/{bucket}/secret.txt")[0] == 403
    assert anon(gureum, "GET", "/")[0] == 403
    assert anon(gureum, "PUT", "/anon-made-bucket-x")[0] == 403
    assert s3.get_object(Bucket=bucket, Key="secret.txt")["Body"].read() == b"hidden"


def test_policy_public_read_with_prefix_wildcard(gureum: RunningGureum, s3: Any,
                                                 bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="public/a.txt", Body=b"open")
    s3.put_object(Bucket=bucket, Key="private/b.txt", Body=b"closed")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/public/*",
    }))
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is True
    assert anon(gureum, "GET", f"/{bucket}/public/a.txt") == (200, b"open")
    assert anon(gureum, "GET", f"/{bucket}/private/b.txt")[0] == 403
    assert anon(gureum, "PUT", f"/{bucket}/public/c.txt", b"x")[0] == 403  # only GetObject
    assert anon(gureum, "GET", f"/{bucket}?list-type=2")[0] == 403  # not ListBucket
    s3.delete_bucket_policy(Bucket=bucket)
    assert anon(gureum, "GET", f"/{bucket}/public/a.txt")[0] == 403
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(exc) == "NoSuchBucketPolicy"


def test_explicit_deny_beats_allow_even_for_the_owner(gureum: RunningGureum, s3: Any,
                                                      bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="logs/x", Body=b"1")
    s3.put_object(Bucket=bucket, Key="data/y", Body=b"2")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:Get*"],
         "Resource": [f"arn:aws:s3:::{bucket}/*"]},
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": f"arn:aws:s3:::{bucket}/logs/*"},
    ))
    assert anon(gureum, "GET", f"/{bucket}/data/y") == (200, b"2")
    assert anon(gureum, "GET", f"/{bucket}/logs/x")[0] == 403
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="logs/x")
    assert code(exc) == "AccessDenied"
    # The owner can always manage the policy, so it cannot lock itself out.
    s3.delete_bucket_policy(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="logs/x")["Body"].read() == b"1"


def test_condition_source_ip(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8"]}},
    }))
    assert anon(gureum, "GET", f"/{bucket}/k") == (200, b"v")
    # A restricted statement is not public.
    assert s3.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"] is False
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.1.0.0/16"}},
    }))
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": "10.1.0.0/16"}},
    }))
    assert anon(gureum, "GET", f"/{bucket}/k") == (200, b"v")


def test_condition_secure_transport(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    allow = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::{bucket}/*"}
    deny_http = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow))
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 200
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow, deny_http))
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 403  # plain HTTP is denied
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(exc) == "AccessDenied"
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow, {**deny_http, "Condition": {"Bool": {"aws:SecureTransport": "true"}}}))
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 200


def test_condition_s3_prefix_for_another_account(s3: Any, other: Any, bucket: str) -> None:
    for key in ("home/alice/1", "home/bob/2"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    with pytest.raises(ClientError) as exc:
        other.list_objects_v2(Bucket=bucket)
    assert code(exc) == "AccessDenied"
    s3.put_bucket_policy(Bucket=bucket, Policy=policy({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
        "Condition": {"StringLike": {"s3:prefix": "home/alice/*"}},
    }, {
        "Effect": "Allow", "Principal": {"AWS": OTHER},
        "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
        "Condition": {"StringEquals": {"s3:prefix": "home/"}, "StringEquals"
                      "IgnoreCase": {"s3:delimiter": "/"}},
    }))
    listed = other.list_objects_v2(Bucket=bucket, Prefix="home/alice/")
    assert [o["Key"] for o in listed["Contents"]] == ["home/alice/1"]
    dirs = other.list_objects_v2(Bucket=bucket, Prefix="home/", Delimiter="/")
    assert [p["Prefix"] for p in dirs["CommonPrefixes"]] == ["home/alice/", "home/bob/"]
    for kwargs in ({"Prefix": "home/bob/"}, {}, {"Prefix": "home/"}):
        with pytest.raises(ClientError) as exc:
            other.list_objects_v2(Bucket=bucket, **kwargs)
        assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:  # listing is not reading
        other.get_object(Bucket=bucket, Key="home/alice/1")
    assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:  # only the owner may read the policy
        other.get_bucket_policy(Bucket=bucket)
    assert code(exc) == "AccessDenied"


@pytest.mark.parametrize("document", [
    "not json",
    json.dumps({"Version": "2012-10-17"}),
    policy({"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::b/*"}),
    policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
    policy({"Effect": "Allow", "Principal": "*", "Action": "ec2:RunInstances",
            "Resource": "BUCKET/*"}),
    policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::some-other-bucket/*"}),
    policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": "BUCKET/*", "Condition": {"Whatever": {"aws:SourceIp": "1.2.3.4"}}}),
])
def test_malformed_policy(s3: Any, bucket: str, document: str) -> None:
    document = document.replace('"BUCKET/*"', json.dumps(f"arn:aws:s3:::{bucket}/*"))
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy=document)
    assert code(exc) == "MalformedPolicy"


def test_canned_object_acls(gureum: RunningGureum, s3: Any, other: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="private", Body=b"p")
    s3.put_object(Bucket=bucket, Key="public", Body=b"P", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="authed", Body=b"A", ACL="authenticated-read")
    assert anon(gureum, "GET", f"/{bucket}/public") == (200, b"P")
    assert anon(gureum, "GET", f"/{bucket}/private")[0] == 403
    assert anon(gureum, "GET", f"/{bucket}/authed")[0] == 403
    assert other.get_object(Bucket=bucket, Key="authed")["Body"].read() == b"A"
    assert other.get_object(Bucket=bucket, Key="public")["Body"].read() == b"P"
    with pytest.raises(ClientError) as exc:
        other.get_object(Bucket=bucket, Key="private")
    assert code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:  # READ is not WRITE_ACP
        other.put_object_acl(Bucket=bucket, Key="public", ACL="public-read-write")
    assert code(exc) == "AccessDenied"
    got = s3.get_object_acl(Bucket=bucket, Key="public")
    perms = {(g["Grantee"]["Type"], g["Grantee"].get("URI"), g["Permission"])
             for g in got["Grants"]}
    assert ("Group", "http://acs.amazonaws.com/groups/global/AllUsers", "READ") in perms
    assert ("CanonicalUser", None, "FULL_CONTROL") in perms
    assert got["Owner"]["ID"]
    s3.put_object_acl(Bucket=bucket, Key="public", ACL="private")
    assert anon(gureum, "GET", f"/{bucket}/public")[0] == 403
    assert len(s3.get_object_acl(Bucket=bucket, Key="public")["Grants"]) == 1


def test_canned_bucket_acls(gureum: RunningGureum, s3: Any, other: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert anon(gureum, "GET", f"/{bucket}?list-type=2")[0] == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    status, body = anon(gureum, "GET", f"/{bucket}?list-type=2")
    assert status == 200 and b"<Key>k</Key>" in body
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 403  # bucket READ lists, not reads
    assert anon(gureum, "PUT", f"/{bucket}/w", b"x")[0] == 403
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert anon(gureum, "PUT", f"/{bucket}/w", b"written")[0] == 200
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"written"
    assert anon(gureum, "DELETE", f"/{bucket}/w")[0] in (200, 204)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="w")
    s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    assert anon(gureum, "GET", f"/{bucket}?list-type=2")[0] == 403
    assert other.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert {g["Permission"] for g in acl["Grants"]} == {"FULL_CONTROL", "READ"}
    # A full ACL document: grant another account's canonical user READ.
    other_id = other.list_buckets()["Owner"]["ID"]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={
        "Owner": acl["Owner"],
        "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": acl["Owner"]["ID"]},
             "Permission": "FULL_CONTROL"},
            {"Grantee": {"Type": "CanonicalUser", "ID": other_id}, "Permission": "READ"},
        ],
    })
    assert other.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    assert anon(gureum, "GET", f"/{bucket}?list-type=2")[0] == 403
    s3.put_bucket_acl(Bucket=bucket, GrantRead=f'id="{other_id}"')
    assert other.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    with pytest.raises(ClientError) as exc:
        other.list_objects_v2(Bucket=bucket)
    assert code(exc) == "AccessDenied"


def test_public_access_block(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_public_access_block(Bucket=bucket)
    assert code(exc) == "NoSuchPublicAccessBlockConfiguration"
    s3.put_object(Bucket=bucket, Key="was-public", Body=b"x", ACL="public-read")
    public_policy = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                            "Resource": f"arn:aws:s3:::{bucket}/*"})
    s3.put_bucket_policy(Bucket=bucket, Policy=public_policy)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 200
    config = {"BlockPublicAcls": True, "IgnorePublicAcls": True,
              "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=config)
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"] == config
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 403  # RestrictPublicBuckets
    assert anon(gureum, "GET", f"/{bucket}/was-public")[0] == 403  # IgnorePublicAcls
    for call in (
        lambda: s3.put_object(Bucket=bucket, Key="p", Body=b"x", ACL="public-read"),
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read-write"),
        lambda: s3.put_bucket_policy(Bucket=bucket, Policy=public_policy),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert code(exc) == "AccessDenied"
    s3.put_object(Bucket=bucket, Key="p", Body=b"x", ACL="private")  # not public: fine
    s3.delete_public_access_block(Bucket=bucket)
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 200
    assert anon(gureum, "GET", f"/{bucket}/was-public")[0] == 200


def test_aws_cli_policy_and_acl(gureum: RunningGureum, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    doc = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                  "Resource": f"arn:aws:s3:::{bucket}/*"})
    done = gureum.aws("s3api", "put-bucket-policy", "--bucket", bucket, "--policy", doc)
    assert done.returncode == 0, done.stderr
    got = gureum.aws("s3api", "get-bucket-policy", "--bucket", bucket, "--output", "json")
    assert json.loads(json.loads(got.stdout)["Policy"]) == json.loads(doc)
    assert anon(gureum, "GET", f"/{bucket}/k")[0] == 200
    done = gureum.aws("s3api", "put-object-acl", "--bucket", bucket, "--key", "k",
                      "--acl", "public-read")
    assert done.returncode == 0, done.stderr
    got = gureum.aws("s3api", "get-object-acl", "--bucket", bucket, "--key", "k")
    assert "AllUsers" in got.stdout
