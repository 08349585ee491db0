"""Composite alarms: PutCompositeAlarm and the loop that evaluates their rules.

A composite alarm is a resource document (kind ``cloudwatch:composite-alarm``,
id its name) holding the CompositeAlarm fields. Its rule (``alarmrule``) is
evaluated whenever one of its children changes state — the alarm loop and
this loop call ``wake_parents`` after each evaluation — and on a resync; a
true rule is ALARM, a false one OK. A transition is recorded and its actions
run exactly as a metric alarm's (``alarmloop.transition``/``deliver``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from gureum.control import Loop
from gureum.errors import AWSError
from gureum.services.common.ids import arn

from ..base import Call, Env, Service
from .alarmloop import COMPOSITE_KIND, KIND, AlarmLoop, alarm_key, transition
from .alarmrule import RuleError, parse
from .alarms import check_actions, configure, new_alarm
from .evaluate import ALARM, OK, iso
from .history import record

LOOP_NAME = "cloudwatch-composite-alarms"
CONFIG_FIELDS = ("AlarmDescription", "AlarmRule", "OKActions", "AlarmActions",
                 "InsufficientDataActions", "ActionsSuppressor", "ActionsSuppressorWaitPeriod",
                 "ActionsSuppressorExtensionPeriod")


def state_of(env: Env, account: str, region: str, name: str) -> str | None:
    for kind in (KIND, COMPOSITE_KIND):
        found = env.store.resources.get(kind, account, region, name)
        if found is not None:
            return str(found["StateValue"])
    return None


class CompositeLoop:
    """Evaluates composite alarms when their children change (see the module docstring)."""

    def __init__(self, env: Env, alarms: AlarmLoop, resync_interval: float = 60.0) -> None:
        self.env = env
        self.alarms = alarms
        self.loop = Loop(LOOP_NAME, self.reconcile, clock=env.clock, resync=self.resync,
                         resync_interval=resync_interval)

    def wake(self, account: str, region: str, name: str) -> None:
        self.loop.wake(alarm_key(account, region, name))

    def wake_parents(self, account: str, region: str, name: str) -> None:
        for doc in self.env.store.resources.list(COMPOSITE_KIND, account, region):
            if name in doc.get("_children", ()):
                self.wake(account, region, doc["AlarmName"])

    async def resync(self) -> Iterable[str]:
        return [alarm_key(a["_account"], a["_region"], a["AlarmName"])
                for a in self.env.store.resources.list(COMPOSITE_KIND)]

    async def reconcile(self, key: str) -> float | None:
        account, region, name = key.split("/", 2)
        store = self.env.store
        changed = False
        with store.tx():
            alarm = store.resources.get(COMPOSITE_KIND, account, region, name)
            if alarm is None:
                return None
            states = {c: state_of(self.env, account, region, c) or "INSUFFICIENT_DATA"
                      for c in alarm["_children"]}
            state = ALARM if parse(alarm["AlarmRule"]).evaluate(states) else OK
            if state != alarm["StateValue"]:
                now = self.env.clock.now()
                triggering = [
                    {"arn": arn("cloudwatch", region, account, f"alarm:{c}"), "state": {
                        "value": s, "timestamp": iso(now)}}
                    for c, s in states.items()]
                reason = ", ".join(f"{c} is {s}" for c, s in states.items())
                transition(self.env, account, region, alarm, state,
                           f"Alarm rule evaluated to {state == ALARM}: {reason}",
                           json.dumps({"triggeringAlarms": triggering}, separators=(",", ":")),
                           now)
                store.resources.put(COMPOSITE_KIND, account, region, name, alarm)
                changed = True
        await self.alarms.deliver(account, region, name, COMPOSITE_KIND)
        if changed:
            self.wake_parents(account, region, name)
        return None


class CompositeOps(Service):
    composite_loop: CompositeLoop

    def put_composite_alarm(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params["AlarmName"]
        try:
            rule = parse(params["AlarmRule"])
        except RuleError as exc:
            raise AWSError("ValidationError", f"Error in alarm rule: {exc}") from None
        check_actions(params)
        now = self.env.clock.now()
        store = self.env.store
        with store.tx():
            if store.resources.get(KIND, call.account, call.region, name) is not None:
                raise AWSError("ValidationError",
                               f"An alarm named {name} already exists as a metric alarm.")
            missing = [c for c in rule.children
                       if state_of(self.env, call.account, call.region, c) is None]
            if missing:
                raise AWSError("ValidationError", "Could not save the composite alarm as "
                               f"alarms [{', '.join(missing)}] in the alarm rule do not exist")
            if name in rule.children:
                raise AWSError("ValidationError", "A composite alarm cannot refer to itself.")
            alarm = store.resources.get(COMPOSITE_KIND, call.account, call.region, name)
            created = alarm is None
            if alarm is None:
                alarm = new_alarm(call, name, params, now)
            configure(alarm, params, CONFIG_FIELDS)
            alarm["AlarmConfigurationUpdatedTimestamp"] = now
            alarm["_children"] = list(rule.children)
            store.resources.put(COMPOSITE_KIND, call.account, call.region, name, alarm)
            record(store.connection, call.account, call.region, name, now,
                   "ConfigurationUpdate", f"Alarm \"{name}\" {'created' if created else 'updated'}",
                   json.dumps({"version": "1.0", "type": "Create" if created else "Update",
                               "updatedAlarm": {k: v for k, v in alarm.items()
                                                if not k.startswith("_") and k != "Tags"}},
                              default=str))
        self.composite_loop.wake(call.account, call.region, name)
        return {}
