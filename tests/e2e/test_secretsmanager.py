"""Secrets Manager end to end: boto3 and the AWS CLI against a real gureum
(secrets, versions, deletion and restore, errors with AWS's codes and
statuses), values kept across a gureum restart and never written to its log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum, running_gureum


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    # (a data dir of its own, removed afterwards with its network claim)
    with running_gureum() as g:
        yield g


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_boto3_lifecycle(cloud: RunningGureum) -> None:
    sm = cloud.client("secretsmanager")
    made = sm.create_secret(Name="e2e/app", SecretString=json.dumps({"k": "v1"}),
                            Tags=[{"Key": "team", "Value": "a"}])
    got = sm.get_secret_value(SecretId=made["ARN"])
    assert json.loads(got["SecretString"]) == {"k": "v1"}
    assert got["VersionStages"] == ["AWSCURRENT"]
    sm.put_secret_value(SecretId="e2e/app", SecretString="v2")
    assert sm.get_secret_value(SecretId="e2e/app")["SecretString"] == "v2"
    prev = sm.get_secret_value(SecretId="e2e/app", VersionStage="AWSPREVIOUS")
    assert prev["VersionId"] == made["VersionId"]
    sm.create_secret(Name="e2e/blob", SecretBinary=b"\x00\xffbin")
    assert sm.get_secret_value(SecretId="e2e/blob")["SecretBinary"] == b"\x00\xffbin"
    listed = sm.list_secrets(Filters=[{"Key": "tag-key", "Values": ["team"]}])["SecretList"]
    assert [s["Name"] for s in listed] == ["e2e/app"]
    pages = list(sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 1}))
    assert len(pages) >= 2

    with pytest.raises(ClientError) as exc:
        sm.create_secret(Name="e2e/app", SecretString="x")
    assert error(exc) == ("ResourceExistsException", 400)
    with pytest.raises(ClientError) as exc:
        sm.get_secret_value(SecretId="e2e/missing")
    assert error(exc) == ("ResourceNotFoundException", 400)

    deleted = sm.delete_secret(SecretId="e2e/app", RecoveryWindowInDays=7)
    assert deleted["DeletionDate"]
    with pytest.raises(ClientError) as exc:
        sm.get_secret_value(SecretId="e2e/app")
    assert error(exc) == ("InvalidRequestException", 400)
    with pytest.raises(ClientError) as exc:
        sm.delete_secret(SecretId="e2e/app", RecoveryWindowInDays=7,
                         ForceDeleteWithoutRecovery=True)
    assert error(exc) == ("InvalidParameterException", 400)
    sm.restore_secret(SecretId="e2e/app")
    assert sm.get_secret_value(SecretId="e2e/app")["SecretString"] == "v2"
    sm.delete_secret(SecretId="e2e/blob", ForceDeleteWithoutRecovery=True)
    with pytest.raises(ClientError) as exc:
        sm.describe_secret(SecretId="e2e/blob")
    assert error(exc) == ("ResourceNotFoundException", 400)
    password = sm.get_random_password(PasswordLength=40, ExcludePunctuation=True)
    assert len(password["RandomPassword"]) == 40 and password["RandomPassword"].isalnum()


def test_aws_cli(cloud: RunningGureum) -> None:
    out = cloud.aws("secretsmanager", "create-secret", "--name", "cli/one",
                    "--secret-string", "cli-value-1", check=True)
    arn = json.loads(out.stdout)["ARN"]
    got = cloud.aws("secretsmanager", "get-secret-value", "--secret-id", arn, check=True)
    assert json.loads(got.stdout)["SecretString"] == "cli-value-1"
    text = cloud.aws("secretsmanager", "get-secret-value", "--secret-id", "cli/one",
                     "--query", "SecretString", "--output", "text", check=True)
    assert text.stdout.strip() == "cli-value-1"
    missing = cloud.aws("secretsmanager", "get-secret-value", "--secret-id", "cli/none")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


def test_values_survive_restart_and_stay_out_of_logs(tmp_path: Path) -> None:
    value = "never-log-this-7f3a9c"
    with running_gureum(data_dir=tmp_path) as g:
        g.client("secretsmanager").create_secret(Name="kept", SecretString=value)
    with running_gureum(data_dir=tmp_path) as g:
        sm = g.client("secretsmanager")
        assert sm.get_secret_value(SecretId="kept")["SecretString"] == value
    logs = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".log", ".txt")]
    assert logs
    for path in logs:
        assert value not in path.read_text(errors="replace"), path


def test_bad_input_gets_aws_errors_not_500(cloud: RunningGureum) -> None:
    sm = cloud.client("secretsmanager", parameter_validation=False)
    cases = [
        (sm.get_secret_value, {}),
        (sm.get_secret_value, {"SecretId": 5}),
        (sm.create_secret, {"Name": "x" * 600}),
        (sm.create_secret, {"Name": "bad name"}),
        (sm.list_secrets, {"MaxResults": 0}),
        (sm.list_secrets, {"NextToken": "garbage!"}),
        (sm.list_secrets, {"Filters": [{"Key": "nope", "Values": ["a"]}]}),
        (sm.delete_secret, {"SecretId": "x", "RecoveryWindowInDays": 400}),
        (sm.get_random_password, {"PasswordLength": 0}),
        (sm.put_secret_value, {"SecretId": "e2e/none"}),
    ]
    for fn, params in cases:
        with pytest.raises(ClientError) as exc:
            fn(**params)
        code, status = error(exc)
        assert status == 400, (params, code, status)
        assert code in ("ValidationException", "InvalidParameterException",
                        "InvalidRequestException", "ResourceNotFoundException",
                        "InvalidNextTokenException"), (params, code)


def test_batch_get_and_stage_moves(cloud: RunningGureum) -> None:
    sm = cloud.client("secretsmanager")
    first = sm.create_secret(Name="batch/a", SecretString="a1")["VersionId"]
    sm.create_secret(Name="batch/b", SecretString="b1")
    out = sm.batch_get_secret_value(SecretIdList=["batch/a", "batch/b", "batch/none"])
    assert sorted(v["SecretString"] for v in out["SecretValues"]) == ["a1", "b1"]
    assert [e["ErrorCode"] for e in out["Errors"]] == ["ResourceNotFoundException"]
    pending = sm.put_secret_value(SecretId="batch/a", SecretString="a2",
                                  VersionStages=["AWSPENDING"])["VersionId"]
    assert sm.get_secret_value(SecretId="batch/a")["SecretString"] == "a1"
    sm.update_secret_version_stage(SecretId="batch/a", VersionStage="AWSCURRENT",
                                   MoveToVersionId=pending, RemoveFromVersionId=first)
    assert sm.get_secret_value(SecretId="batch/a")["SecretString"] == "a2"
    assert sm.get_secret_value(SecretId="batch/a", VersionStage="AWSPREVIOUS")[
        "VersionId"] == first
