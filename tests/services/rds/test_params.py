"""DB parameter groups against the fake engine driver: validation with AWS's
errors, dynamic parameters applied live, static ones pending a reboot, a new
group taking effect at the next reboot, and groups in use kept."""

from __future__ import annotations

from typing import Any

import pytest

from gureum.errors import AWSError

from .test_lifecycle import CALL, World, scenario


def modify(world: World, name: str, *pairs: tuple[str, str, str]) -> dict[str, Any]:
    out: dict[str, Any] = world.rds.modify_db_parameter_group(CALL, {
        "DBParameterGroupName": name,
        "Parameters": [{"ParameterName": n, "ParameterValue": v, "ApplyMethod": m}
                       for n, v, m in pairs]})
    return out


def status(world: World) -> str:
    return str(world.describe()["DBParameterGroups"][0]["ParameterApplyStatus"])


def new_group(world: World, name: str = "tuned") -> None:
    world.rds.create_db_parameter_group(CALL, {
        "DBParameterGroupName": name, "DBParameterGroupFamily": "postgres15",
        "Description": "tuned"})


def code(fn: Any, *args: Any) -> str:
    with pytest.raises(AWSError) as err:
        fn(*args)
    return err.value.code


@scenario
async def test_groups_validate_like_aws(world: World) -> None:
    new_group(world)
    rds = world.rds
    assert code(new_group, world) == "DBParameterGroupAlreadyExists"
    assert code(rds.create_db_parameter_group, CALL, {
        "DBParameterGroupName": "x", "DBParameterGroupFamily": "oracle19",
        "Description": "d"}) == "InvalidParameterValue"
    assert code(modify, world, "default.postgres15", ("work_mem", "8192", "immediate")) \
        == "InvalidParameterValue"
    assert code(modify, world, "tuned", ("no_such", "1", "immediate")) == \
        "InvalidParameterValue"
    assert code(modify, world, "tuned", ("work_mem", "12", "immediate")) == \
        "InvalidParameterValue"
    assert code(modify, world, "tuned", ("shared_buffers", "4096", "immediate")) == \
        "InvalidParameterCombination"
    assert code(modify, world, "tuned", ("listen_addresses", "*", "pending-reboot")) == \
        "InvalidParameterValue"
    assert code(modify, world, "missing", ("work_mem", "8192", "immediate")) == \
        "DBParameterGroupNotFound"
    assert code(rds.delete_db_parameter_group, CALL,
                {"DBParameterGroupName": "default.postgres15"}) == \
        "InvalidDBParameterGroupState"
    assert code(lambda: world.create("db1", DBParameterGroupName="missing")) == \
        "DBParameterGroupNotFound"
    rows = rds.describe_db_parameters(CALL, {"DBParameterGroupName": "tuned"})["Parameters"]
    kinds = {r["ParameterName"]: r["ApplyType"] for r in rows}
    assert kinds["work_mem"] == "dynamic" and kinds["shared_buffers"] == "static"
    modify(world, "tuned", ("work_mem", "8192", "immediate"))
    user = rds.describe_db_parameters(CALL, {"DBParameterGroupName": "tuned",
                                             "Source": "user"})["Parameters"]
    assert [(r["ParameterName"], r["ParameterValue"]) for r in user] == [("work_mem", "8192")]


@scenario
async def test_dynamic_live_static_at_reboot(world: World) -> None:
    new_group(world)
    world.create(DBParameterGroupName="tuned", BackupRetentionPeriod=0)
    await world.settle()
    assert status(world) == "in-sync"
    engine = world.driver.engines_[world.doc()["engine_id"]]
    modify(world, "tuned", ("work_mem", "8192", "immediate"),
           ("shared_buffers", "4096", "pending-reboot"))
    assert status(world) == "applying"
    await world.settle()
    assert engine.reloads == 1 and engine.spec.params == {"work_mem": "8192"}
    assert status(world) == "pending-reboot"
    world.rds.reboot_db_instance(CALL, {"DBInstanceIdentifier": "db1"})
    await world.settle()
    assert engine.spec.params == {"work_mem": "8192", "shared_buffers": "4096"}
    assert status(world) == "in-sync"
    world.rds.reset_db_parameter_group(CALL, {"DBParameterGroupName": "tuned",
                                              "ResetAllParameters": True})
    await world.settle()
    assert engine.spec.params == {"shared_buffers": "4096"}
    assert status(world) == "pending-reboot"
    assert code(world.rds.delete_db_parameter_group, CALL,
                {"DBParameterGroupName": "tuned"}) == "InvalidDBParameterGroupState"


@scenario
async def test_new_group_waits_for_reboot(world: World) -> None:
    new_group(world)
    modify(world, "tuned", ("work_mem", "8192", "immediate"))
    world.create(BackupRetentionPeriod=0)
    await world.settle()
    engine = world.driver.engines_[world.doc()["engine_id"]]
    world.rds.modify_db_instance(CALL, {"DBInstanceIdentifier": "db1",
                                        "DBParameterGroupName": "tuned"})
    await world.settle()
    assert status(world) == "pending-reboot" and engine.spec.params == {}
    world.rds.reboot_db_instance(CALL, {"DBInstanceIdentifier": "db1"})
    await world.settle()
    assert status(world) == "in-sync" and engine.spec.params == {"work_mem": "8192"}


@scenario
async def test_group_tags(world: World) -> None:
    new_group(world)
    arn = world.rds.describe_db_parameter_groups(CALL, {"DBParameterGroupName": "tuned"})[
        "DBParameterGroups"][0]["DBParameterGroupArn"]
    assert arn.endswith(":pg:tuned")
    world.rds.add_tags_to_resource(CALL, {"ResourceName": arn,
                                          "Tags": [{"Key": "team", "Value": "db"}]})
    tags = world.rds.list_tags_for_resource(CALL, {"ResourceName": arn})["TagList"]
    assert tags == [{"Key": "team", "Value": "db"}]
    assert code(world.rds.list_tags_for_resource, CALL,
                {"ResourceName": arn.replace("tuned", "other")}) == "DBParameterGroupNotFound"
