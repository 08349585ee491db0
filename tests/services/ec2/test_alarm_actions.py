"""CloudWatch alarm actions on real EC2 records (fake driver): an alarm's stop or
terminate is an EC2 API call made by CloudWatch's service-linked role, so the
instance says what AWS says for any API stop -- StateReason
``Client.UserInitiatedShutdown`` and ``User initiated (time GMT)`` -- and a
reboot leaves the instance running with no new reason."""

from __future__ import annotations

import re
from typing import Any

from gureum.services.cloudwatch.actions import ActionContext
from gureum.services.cloudwatch.ec2actions import handler

from .test_lifecycle import CALL, World, scenario


def context(action: str, instance_id: str) -> ActionContext:
    alarm = {"AlarmName": "hot", "Dimensions": [{"Name": "InstanceId", "Value": instance_id}]}
    return ActionContext(f"arn:aws:automate:us-east-1:ec2:{action}", "000000000000",
                         "us-east-1", alarm, "OK", "ALARM", 0.0)


def described(w: World, instance_id: str) -> dict[str, Any]:
    out = w.ec2.describe_instances(CALL, {"InstanceIds": [instance_id]})
    instance: dict[str, Any] = out["Reservations"][0]["Instances"][0]
    return instance


USER_INITIATED = {"Code": "Client.UserInitiatedShutdown",
                  "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
STAMP = re.compile(r"User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)")


@scenario
async def test_alarm_stop_terminate_and_reboot_say_what_aws_says(w: World) -> None:
    w.ec2.env.extras["services"] = {"ec2": w.ec2}
    run = handler(w.ec2.env)
    [stopped, terminated, rebooted] = w.run(MinCount=3, MaxCount=3)
    await w.settle()
    assert "StateReason" not in described(w, stopped)

    message = await run(context("stop", stopped))
    assert message is not None and stopped in message
    await w.settle()
    inst = described(w, stopped)
    assert inst["State"]["Name"] == "stopped" and not w.driver.running(stopped)
    assert inst["StateReason"] == USER_INITIATED
    assert STAMP.fullmatch(inst["StateTransitionReason"])

    await run(context("terminate", terminated))
    assert described(w, terminated)["State"]["Name"] == "shutting-down"
    await w.settle()
    inst = described(w, terminated)
    assert inst["State"]["Name"] == "terminated" and inst["StateReason"] == USER_INITIATED
    assert STAMP.fullmatch(inst["StateTransitionReason"])

    boots = w.driver.guests_[rebooted].boots
    await run(context("reboot", rebooted))
    await w.settle()
    inst = described(w, rebooted)
    assert inst["State"]["Name"] == "running" and w.driver.guests_[rebooted].boots == boots + 1
    assert "StateReason" not in inst and inst["StateTransitionReason"] == ""
