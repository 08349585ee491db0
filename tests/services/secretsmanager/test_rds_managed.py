"""RDS's managed master passwords against the fake PostgreSQL driver: the
secret RDS makes and owns, the server's verifier matching the password in it,
rotation, turning management off, deletion with the instance, and the 10%
rule for AllocatedStorage increases."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests.services.rds.test_lifecycle import CALL, World, scenario

from gureum.drivers.postgres import verifier
from gureum.errors import AWSError
from gureum.services.base import Call, Identity
from gureum.services.secretsmanager import SecretsManager

SM_CALL = Call("secretsmanager", "X", CALL.account, CALL.region,
               Identity.root(CALL.account), "req")


def matches(stored: str, password: str) -> bool:
    """Whether a SCRAM verifier is of ``password``."""
    head, _ = stored.split("$", 2)[1:]
    iterations, salt = head.split(":")
    return verifier(password, base64.b64decode(salt), int(iterations)) == stored


def secret_of(world: World, arn: str) -> dict[str, Any]:
    sm = SecretsManager(world.rds.env)
    value: dict[str, Any] = json.loads(
        sm.get_secret_value(SM_CALL, {"SecretId": arn})["SecretString"])
    return value


def managed(world: World, id: str = "db1", **kw: Any) -> dict[str, Any]:
    return world.create(id, MasterUserPassword=None, ManageMasterUserPassword=True, **kw)


def code(fn: Any, params: dict[str, Any]) -> str:
    with pytest.raises(AWSError) as info:
        fn(CALL, params)
    return info.value.code


@scenario
async def test_create_makes_an_rds_owned_secret(world: World) -> None:
    out = managed(world)
    secret = out["MasterUserSecret"]
    assert secret["SecretStatus"] == "active"
    assert secret["KmsKeyId"].startswith("arn:aws:kms:us-east-1:000000000000:key/")
    sm = SecretsManager(world.rds.env)
    described = sm.describe_secret(SM_CALL, {"SecretId": secret["SecretArn"]})
    assert described["Name"].startswith("rds!db-")
    assert described["OwningService"] == "rds"
    value = secret_of(world, secret["SecretArn"])
    assert value["username"] == "master" and len(value["password"]) == 32
    await world.settle(2)
    assert world.status() == "available"
    engine = world.driver.engines_[world.doc()["engine_id"]]
    assert matches(engine.roles["master"], value["password"])
    assert world.describe()["MasterUserSecret"]["SecretArn"] == secret["SecretArn"]
    # RDS owns it: Secrets Manager will not delete or overwrite it.
    with pytest.raises(AWSError) as info:
        sm.delete_secret(SM_CALL, {"SecretId": secret["SecretArn"]})
    assert info.value.code == "InvalidRequestException"


@scenario
async def test_password_and_managed_together_are_refused(world: World) -> None:
    with pytest.raises(AWSError) as info:
        world.create("x", ManageMasterUserPassword=True)
    assert info.value.code == "InvalidParameterCombination"
    sm = SecretsManager(world.rds.env)
    assert sm.list_secrets(SM_CALL, {})["SecretList"] == []
    managed(world)
    with pytest.raises(AWSError) as info:
        managed(world)
    assert info.value.code == "DBInstanceAlreadyExists"
    assert len(sm.list_secrets(SM_CALL, {})["SecretList"]) == 1


@scenario
async def test_rotate_turn_off_and_on(world: World) -> None:
    arn = managed(world)["MasterUserSecret"]["SecretArn"]
    await world.settle(2)
    first = secret_of(world, arn)["password"]
    assert code(world.rds.modify_db_instance, {"DBInstanceIdentifier": "db1",
                                               "MasterUserPassword": "password9"}) \
        == "InvalidParameterCombination"
    assert code(world.rds.modify_db_instance, {"DBInstanceIdentifier": "db1",
                                               "RotateMasterUserPassword": True}) \
        == "InvalidParameterCombination"
    world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                        "RotateMasterUserPassword": True,
                                        "ApplyImmediately": True})
    await world.settle(2)
    second = secret_of(world, arn)["password"]
    assert second != first
    engine = world.driver.engines_[world.doc()["engine_id"]]
    assert matches(engine.roles["master"], second)

    assert code(world.rds.modify_db_instance, {"DBInstanceIdentifier": "db1",
                                               "ManageMasterUserPassword": False}) \
        == "InvalidParameterCombination"
    out = world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                              "ManageMasterUserPassword": False,
                                              "MasterUserPassword": "password9"})["DBInstance"]
    assert "MasterUserSecret" not in out
    sm = SecretsManager(world.rds.env)
    with pytest.raises(AWSError) as info:
        sm.describe_secret(SM_CALL, {"SecretId": arn})
    assert info.value.code == "ResourceNotFoundException"
    await world.settle(2)
    assert matches(engine.roles["master"], "password9")

    out = world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                              "ManageMasterUserPassword": True})["DBInstance"]
    third = secret_of(world, out["MasterUserSecret"]["SecretArn"])["password"]
    await world.settle(2)
    assert matches(engine.roles["master"], third)


@scenario
async def test_deleting_the_instance_deletes_its_secret(world: World) -> None:
    arn = managed(world)["MasterUserSecret"]["SecretArn"]
    await world.settle(2)
    world.rds.delete_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                        "SkipFinalSnapshot": True})
    await world.settle(2)
    sm = SecretsManager(world.rds.env)
    with pytest.raises(AWSError) as info:
        sm.describe_secret(SM_CALL, {"SecretId": arn})
    assert info.value.code == "ResourceNotFoundException"


@scenario
async def test_restore_from_snapshot_with_a_managed_password(world: World) -> None:
    world.create()
    await world.settle(2)
    world.rds.create_db_snapshot(CALL, {"DBInstanceIdentifier": "db1",
                                        "DBSnapshotIdentifier": "snap"})
    await world.settle(2)
    out = world.rds.restore_db_instance_from_db_snapshot(
        CALL, {"DBInstanceIdentifier": "db2", "DBSnapshotIdentifier": "snap",
               "ManageMasterUserPassword": True})["DBInstance"]
    password = secret_of(world, out["MasterUserSecret"]["SecretArn"])["password"]
    await world.settle(3)
    assert world.status("db2") == "available"
    engine = world.driver.engines_[world.doc("db2")["engine_id"]]
    assert matches(engine.roles["master"], password)


@scenario
async def test_storage_increase_must_be_ten_percent(world: World) -> None:
    world.create(AllocatedStorage=100)
    await world.settle(2)
    assert code(world.rds.modify_db_instance, {"DBInstanceIdentifier": "db1",
                                               "AllocatedStorage": 109}) \
        == "InvalidParameterCombination"
    out = world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                              "AllocatedStorage": 110,
                                              "ApplyImmediately": True})["DBInstance"]
    assert out["PendingModifiedValues"]["AllocatedStorage"] == 110


@scenario
async def test_reset_forgets_managed_secrets(world: World) -> None:
    arn = managed(world)["MasterUserSecret"]["SecretArn"]
    other = SecretsManager(world.rds.env)
    other.create_secret(SM_CALL, {"Name": "mine", "SecretString": "kept"})
    await world.settle(2)
    await world.rds.reset()
    with pytest.raises(AWSError):
        other.describe_secret(SM_CALL, {"SecretId": arn})
    assert other.get_secret_value(SM_CALL, {"SecretId": "mine"})["SecretString"] == "kept"
    await other.reset()
    assert other.list_secrets(SM_CALL, {"IncludePlannedDeletion": True})["SecretList"] == []
    rows = world.store.connection.execute("SELECT COUNT(*) FROM secretsmanager_versions")
    assert rows.fetchone()[0] == 0
