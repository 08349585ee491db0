"""Secrets Manager semantics against a real store with a fake clock: versions
and staging labels, scheduled deletion and restore, errors, filters,
pagination, tags, random passwords."""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.errors import AWSError
from gureum.services.base import Call, Env, Identity
from gureum.services.secretsmanager import SecretsManager
from gureum.services.secretsmanager.records import PUNCTUATION
from gureum.store import Store

CALL = Call("secretsmanager", "X", "000000000000", "us-east-1",
            Identity.root("000000000000"), "req")


@pytest.fixture
def sm(tmp_path: Path) -> Iterator[SecretsManager]:
    store = Store.open(tmp_path / "gureum.db")
    env = Env(settings=Settings(data_dir=tmp_path), store=store, clock=FakeClock(),
              loops=LoopRunner())
    yield SecretsManager(env)
    store.close()


def code(fn: Any, *args: Any) -> str:
    with pytest.raises(AWSError) as info:
        fn(CALL, *args)
    assert info.value.status == 400
    return info.value.code


def test_create_get_by_name_and_arn(sm: SecretsManager) -> None:
    out = sm.create_secret(CALL, {"Name": "app/db", "SecretString": "s3cret"})
    assert out["ARN"].startswith("arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-")
    for sid in ("app/db", out["ARN"], out["ARN"][:-7]):
        got = sm.get_secret_value(CALL, {"SecretId": sid})
        assert got["SecretString"] == "s3cret"
        assert got["VersionStages"] == ["AWSCURRENT"]
        assert got["VersionId"] == out["VersionId"]
    assert code(sm.get_secret_value, {"SecretId": out["ARN"][:-1] + "?"}) \
        == "ResourceNotFoundException"
    assert code(sm.get_secret_value, {"SecretId": "nope"}) == "ResourceNotFoundException"
    assert code(sm.create_secret, {"Name": "app/db", "SecretString": "x"}) \
        == "ResourceExistsException"
    assert code(sm.create_secret, {"Name": "bad name"}) == "InvalidParameterException"
    assert code(sm.create_secret, {"Name": "both", "SecretString": "x",
                                   "SecretBinary": b"y"}) == "InvalidParameterException"


def test_binary_and_no_value(sm: SecretsManager) -> None:
    sm.create_secret(CALL, {"Name": "bin", "SecretBinary": b"\x00\x01"})
    assert sm.get_secret_value(CALL, {"SecretId": "bin"})["SecretBinary"] == b"\x00\x01"
    sm.create_secret(CALL, {"Name": "empty"})
    assert code(sm.get_secret_value, {"SecretId": "empty"}) == "ResourceNotFoundException"


def test_versions_current_and_previous(sm: SecretsManager) -> None:
    v1 = sm.create_secret(CALL, {"Name": "s", "SecretString": "one"})["VersionId"]
    v2 = sm.put_secret_value(CALL, {"SecretId": "s", "SecretString": "two"})["VersionId"]
    assert sm.get_secret_value(CALL, {"SecretId": "s"})["SecretString"] == "two"
    prev = sm.get_secret_value(CALL, {"SecretId": "s", "VersionStage": "AWSPREVIOUS"})
    assert (prev["SecretString"], prev["VersionId"]) == ("one", v1)
    assert sm.get_secret_value(CALL, {"SecretId": "s", "VersionId": v1})["SecretString"] \
        == "one"
    assert code(sm.get_secret_value, {"SecretId": "s", "VersionId": v1,
                                      "VersionStage": "AWSCURRENT"}) \
        == "ResourceNotFoundException"
    v3 = sm.update_secret(CALL, {"SecretId": "s", "SecretString": "three",
                                 "Description": "d"})["VersionId"]
    stages = sm.describe_secret(CALL, {"SecretId": "s"})["VersionIdsToStages"]
    assert stages == {v3: ["AWSCURRENT"], v2: ["AWSPREVIOUS"]}
    # A staged (not current) version leaves AWSCURRENT where it was.
    v4 = sm.put_secret_value(CALL, {"SecretId": "s", "SecretString": "four",
                                    "VersionStages": ["AWSPENDING"]})["VersionId"]
    assert sm.get_secret_value(CALL, {"SecretId": "s"})["VersionId"] == v3
    assert sm.get_secret_value(CALL, {"SecretId": "s", "VersionStage": "AWSPENDING"}
                               )["VersionId"] == v4
    ids = sm.list_secret_version_ids(CALL, {"SecretId": "s", "IncludeDeprecated": True})
    assert {v["VersionId"] for v in ids["Versions"]} == {v1, v2, v3, v4}


def test_client_request_token_is_idempotent(sm: SecretsManager) -> None:
    token = "a" * 32
    sm.create_secret(CALL, {"Name": "s", "SecretString": "one"})
    out = sm.put_secret_value(CALL, {"SecretId": "s", "SecretString": "two",
                                     "ClientRequestToken": token})
    again = sm.put_secret_value(CALL, {"SecretId": "s", "SecretString": "two",
                                       "ClientRequestToken": token})
    assert out["VersionId"] == again["VersionId"] == token
    assert code(sm.put_secret_value, {"SecretId": "s", "SecretString": "other",
                                      "ClientRequestToken": token}) \
        == "ResourceExistsException"


def test_scheduled_deletion_restore_and_expiry(sm: SecretsManager) -> None:
    sm.create_secret(CALL, {"Name": "s", "SecretString": "v"})
    assert code(sm.delete_secret, {"SecretId": "s", "RecoveryWindowInDays": 3}) \
        == "InvalidParameterException"
    assert code(sm.delete_secret, {"SecretId": "s", "RecoveryWindowInDays": 7,
                                   "ForceDeleteWithoutRecovery": True}) \
        == "InvalidParameterException"
    out = sm.delete_secret(CALL, {"SecretId": "s", "RecoveryWindowInDays": 7})
    now = sm.env.clock.now()
    assert out["DeletionDate"] == pytest.approx(now + 7 * 86400)
    assert code(sm.get_secret_value, {"SecretId": "s"}) == "InvalidRequestException"
    assert code(sm.put_secret_value, {"SecretId": "s", "SecretString": "x"}) \
        == "InvalidRequestException"
    assert code(sm.create_secret, {"Name": "s"}) == "InvalidRequestException"
    assert "DeletedDate" in sm.describe_secret(CALL, {"SecretId": "s"})
    assert sm.list_secrets(CALL, {})["SecretList"] == []
    assert len(sm.list_secrets(CALL, {"IncludePlannedDeletion": True})["SecretList"]) == 1
    sm.restore_secret(CALL, {"SecretId": "s"})
    assert sm.get_secret_value(CALL, {"SecretId": "s"})["SecretString"] == "v"
    sm.delete_secret(CALL, {"SecretId": "s", "RecoveryWindowInDays": 7})
    sm.env.clock.set(now + 7 * 86400 - 10)
    assert "DeletedDate" in sm.describe_secret(CALL, {"SecretId": "s"})
    sm.env.clock.set(now + 7 * 86400 + 1)
    assert sm.list_secrets(CALL, {"IncludePlannedDeletion": True})["SecretList"] == []
    assert code(sm.describe_secret, {"SecretId": "s"}) == "ResourceNotFoundException"
    sm.create_secret(CALL, {"Name": "s"})  # the name is free again


def test_force_delete_frees_the_name(sm: SecretsManager) -> None:
    first = sm.create_secret(CALL, {"Name": "s", "SecretString": "old"})
    sm.delete_secret(CALL, {"SecretId": "s", "ForceDeleteWithoutRecovery": True})
    assert code(sm.describe_secret, {"SecretId": "s"}) == "ResourceNotFoundException"
    second = sm.create_secret(CALL, {"Name": "s", "SecretString": "new"})
    assert second["ARN"] != first["ARN"]
    assert code(sm.get_secret_value, {"SecretId": first["ARN"]}) \
        == "ResourceNotFoundException"
    assert sm.get_secret_value(CALL, {"SecretId": "s"})["SecretString"] == "new"


def test_list_filters_sort_and_pages(sm: SecretsManager) -> None:
    for i in range(7):
        sm.create_secret(CALL, {"Name": f"team{i % 2}/s{i}", "Description": f"desc {i}",
                                "Tags": [{"Key": "env", "Value": "prod" if i < 3 else "dev"}]})
    names = [s["Name"] for s in sm.list_secrets(CALL, {"SortBy": "name"})["SecretList"]]
    assert names == sorted(names) and len(names) == 7

    def listed(filters: list[dict[str, Any]]) -> set[str]:
        return {s["Name"] for s in sm.list_secrets(CALL, {"Filters": filters})["SecretList"]}

    assert listed([{"Key": "name", "Values": ["team0/"]}]) == {"team0/s0", "team0/s2",
                                                              "team0/s4", "team0/s6"}
    assert listed([{"Key": "tag-value", "Values": ["prod"]}]) == {"team0/s0", "team1/s1",
                                                                 "team0/s2"}
    assert listed([{"Key": "name", "Values": ["team0/"]},
                   {"Key": "tag-value", "Values": ["!prod"]}]) == {"team0/s4", "team0/s6"}
    assert listed([{"Key": "description", "Values": ["desc 5"]}]) == {"team1/s5"}
    assert code(sm.list_secrets, {"Filters": [{"Key": "colour", "Values": ["x"]}]}) \
        == "InvalidParameterException"
    seen: list[str] = []
    token = None
    while True:
        page = sm.list_secrets(CALL, {"MaxResults": 3, "SortBy": "name",
                                      **({"NextToken": token} if token else {})})
        assert len(page["SecretList"]) <= 3
        seen += [s["Name"] for s in page["SecretList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names


def test_tags(sm: SecretsManager) -> None:
    sm.create_secret(CALL, {"Name": "s", "Tags": [{"Key": "a", "Value": "1"}]})
    sm.tag_resource(CALL, {"SecretId": "s", "Tags": [{"Key": "b", "Value": "2"}]})
    sm.untag_resource(CALL, {"SecretId": "s", "TagKeys": ["a"]})
    assert sm.describe_secret(CALL, {"SecretId": "s"})["Tags"] == [{"Key": "b", "Value": "2"}]
    assert code(sm.tag_resource, {"SecretId": "x", "Tags": []}) == "ResourceNotFoundException"


def test_random_password(sm: SecretsManager) -> None:
    pw = sm.get_random_password(CALL, {})["RandomPassword"]
    assert len(pw) == 32
    for kind in (string.ascii_lowercase, string.ascii_uppercase, string.digits, PUNCTUATION):
        assert any(c in kind for c in pw)
    pw = sm.get_random_password(CALL, {"PasswordLength": 50, "ExcludePunctuation": True,
                                       "ExcludeCharacters": "abc"})["RandomPassword"]
    assert len(pw) == 50 and not set(pw) & set(PUNCTUATION + "abc")
    assert code(sm.get_random_password, {"PasswordLength": 0}) == "InvalidParameterException"
    assert code(sm.get_random_password, {"ExcludeNumbers": True, "ExcludePunctuation": True,
                                         "ExcludeUppercase": True, "ExcludeLowercase": True}) \
        == "InvalidParameterException"


def test_values_survive_reopening_the_store(tmp_path: Path) -> None:
    for round in range(2):
        store = Store.open(tmp_path / "gureum.db")
        env = Env(settings=Settings(data_dir=tmp_path), store=store, clock=FakeClock(),
                  loops=LoopRunner())
        sm = SecretsManager(env)
        if round == 0:
            sm.create_secret(CALL, {"Name": "s", "SecretString": "kept"})
        else:
            assert sm.get_secret_value(CALL, {"SecretId": "s"})["SecretString"] == "kept"
        store.close()


def test_update_secret_version_stage(sm: SecretsManager) -> None:
    v1 = sm.create_secret(CALL, {"Name": "s", "SecretString": "one"})["VersionId"]
    v2 = sm.put_secret_value(CALL, {"SecretId": "s", "SecretString": "two",
                                    "VersionStages": ["AWSPENDING"]})["VersionId"]
    assert code(sm.update_secret_version_stage, {"SecretId": "s", "VersionStage": "AWSCURRENT",
                                                 "MoveToVersionId": v2}) \
        == "InvalidParameterException"
    sm.update_secret_version_stage(CALL, {"SecretId": "s", "VersionStage": "AWSCURRENT",
                                          "MoveToVersionId": v2, "RemoveFromVersionId": v1})
    stages = sm.describe_secret(CALL, {"SecretId": "s"})["VersionIdsToStages"]
    assert stages == {v1: ["AWSPREVIOUS"], v2: ["AWSPENDING", "AWSCURRENT"]}
    sm.update_secret_version_stage(CALL, {"SecretId": "s", "VersionStage": "AWSPENDING",
                                          "RemoveFromVersionId": v2})
    assert sm.get_secret_value(CALL, {"SecretId": "s"})["SecretString"] == "two"
    assert code(sm.update_secret_version_stage, {"SecretId": "s", "VersionStage": "AWSCURRENT",
                                                 "RemoveFromVersionId": v2}) \
        == "InvalidParameterException"


def test_batch_get_secret_value(sm: SecretsManager) -> None:
    for i in range(3):
        sm.create_secret(CALL, {"Name": f"b/{i}", "SecretString": f"v{i}"})
    out = sm.batch_get_secret_value(CALL, {"SecretIdList": ["b/0", "b/2", "missing"]})
    assert [v["SecretString"] for v in out["SecretValues"]] == ["v0", "v2"]
    assert out["Errors"] == [{"SecretId": "missing", "ErrorCode": "ResourceNotFoundException",
                              "Message": "Secrets Manager can't find the specified secret."}]
    out = sm.batch_get_secret_value(CALL, {"Filters": [{"Key": "name", "Values": ["b/"]}],
                                           "MaxResults": 2})
    assert len(out["SecretValues"]) == 2 and out["NextToken"]
    rest = sm.batch_get_secret_value(CALL, {"Filters": [{"Key": "name", "Values": ["b/"]}],
                                            "NextToken": out["NextToken"]})
    assert len(rest["SecretValues"]) == 1
    assert code(sm.batch_get_secret_value, {}) == "InvalidParameterException"
