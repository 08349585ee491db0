"""The alarm control loop: evaluates each alarm at its period from the stored
data, records state changes in history, and runs the actions of a transition
through the action registry.

Keys are ``account/region/name``. A transition is written (state, history and
the actions still to run) in one transaction; the loop then delivers pending
actions and records each delivery, so a crash between the two runs an action
at most once more, never loses it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gureum.control import Loop

from ..base import Env
from .actions import ActionContext, registry
from .datastore import MetricStore
from .evaluate import ALARM, INSUFFICIENT, OK, alarm_series, evaluate, window
from .history import record

log = logging.getLogger("gureum.cloudwatch")

KIND = "cloudwatch:alarm"
COMPOSITE_KIND = "cloudwatch:composite-alarm"
LOOP_NAME = "cloudwatch-alarms"
ACTIONS_FOR = {OK: "OKActions", ALARM: "AlarmActions", INSUFFICIENT: "InsufficientDataActions"}


def alarm_key(account: str, region: str, name: str) -> str:
    return f"{account}/{region}/{name}"


def transition(env: Env, account: str, region: str, alarm: dict[str, Any], new_state: str,
               reason: str, reason_data: str | None, now: float) -> None:
    """Move ``alarm`` to ``new_state`` (the caller holds the transaction and puts it)."""
    old_state = alarm["StateValue"]
    old_reason = alarm.get("StateReason", "")
    alarm.update(StateValue=new_state, StateReason=reason, StateUpdatedTimestamp=now,
                 StateTransitionedTimestamp=now)
    if reason_data is not None:
        alarm["StateReasonData"] = reason_data
    else:
        alarm.pop("StateReasonData", None)
    new: dict[str, Any] = {"stateValue": new_state, "stateReason": reason}
    if reason_data is not None:
        new["stateReasonData"] = json.loads(reason_data)
    data = {
        "version": "1.0",
        "oldState": {"stateValue": old_state, "stateReason": old_reason},
        "newState": new,
    }
    record(env.store.connection, account, region, alarm["AlarmName"], now, "StateUpdate",
           f"Alarm updated from {old_state} to {new_state}",
           json.dumps(data, separators=(",", ":")))
    if alarm.get("ActionsEnabled", True):
        for action in alarm.get(ACTIONS_FOR[new_state]) or []:
            alarm.setdefault("_pending", []).append(
                {"action": action, "old": old_state, "new": new_state, "ts": now}
            )


class AlarmLoop:
    """Builds and registers the ``Loop`` that evaluates alarms."""

    def __init__(self, env: Env, metrics: MetricStore, resync_interval: float = 60.0) -> None:
        self.env = env
        self.metrics = metrics
        # Sped-up clocks (fast local runs) shorten the periods alarms evaluate.
        self.time_scale = env.settings.time_scale
        # Called after each evaluation: composite alarms re-read their children.
        self.on_change: Callable[[str, str, str], None] = lambda account, region, name: None
        self.loop = Loop(LOOP_NAME, self.reconcile, clock=env.clock, resync=self.resync,
                         resync_interval=resync_interval)

    def wake(self, account: str, region: str, name: str) -> None:
        self.loop.wake(alarm_key(account, region, name))

    async def resync(self) -> Iterable[str]:
        return [alarm_key(a["_account"], a["_region"], a["AlarmName"])
                for a in self.env.store.resources.list(KIND)]

    async def reconcile(self, key: str) -> float | None:
        account, region, name = key.split("/", 2)
        store = self.env.store
        now = self.env.clock.now()
        alarm = store.resources.get(KIND, account, region, name)
        if alarm is None:
            return None
        if now >= float(alarm.get("_next", 0)):
            start, end, period = window(alarm, now, self.time_scale)
            series, band = alarm_series(self.metrics, account, region, alarm, start, end, now,
                                        self.time_scale)
            outcome = evaluate(alarm, series, band, start, end, period, now)
            with store.tx():
                alarm = store.resources.get(KIND, account, region, name)
                if alarm is None:
                    return None
                if outcome.state is not None and outcome.state != alarm["StateValue"]:
                    transition(self.env, account, region, alarm, outcome.state,
                               outcome.reason, outcome.reason_data, now)
                alarm["_next"] = end + period
                store.resources.put(KIND, account, region, name, alarm)
        await self.deliver(account, region, name)
        self.on_change(account, region, name)
        alarm = store.resources.get(KIND, account, region, name)
        if alarm is None:
            return None
        delay: float = max(0.0, float(alarm["_next"]) - self.env.clock.now())
        return delay

    async def deliver(self, account: str, region: str, name: str, kind: str = KIND) -> None:
        """Run the actions a transition left pending, recording each in history."""
        store = self.env.store
        alarm = store.resources.get(kind, account, region, name)
        if alarm is None or not alarm.get("_pending"):
            return
        actions = registry(self.env)
        for item in list(alarm["_pending"]):
            ctx = ActionContext(item["action"], account, region, alarm, item["old"],
                                item["new"], self.env.clock.now())
            delivery = await actions.deliver(ctx)
            with store.tx():
                fresh = store.resources.get(kind, account, region, name)
                if fresh is None:
                    return
                fresh["_pending"] = [p for p in fresh.get("_pending") or [] if p != item]
                store.resources.put(kind, account, region, name, fresh)
                data = {"actionState": "Succeeded" if delivery.delivered else "Failed",
                        "notificationResource": item["action"],
                        "stateUpdateTimestamp": item["ts"], "error": None
                        if delivery.delivered else delivery.message}
                record(store.connection, account, region, name, self.env.clock.now(),
                       "Action", delivery.message, json.dumps(data, separators=(",", ":")))
            if not delivery.delivered:
                log.info("alarm %s: %s", name, delivery.message)
