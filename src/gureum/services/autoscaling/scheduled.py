"""Scheduled actions: PutScheduledUpdateGroupAction, DescribeScheduledActions,
DeleteScheduledAction and their batch forms, and ``run_scheduled``, the group
loop's hook that executes the actions that are due.

An action is one document (kind ``autoscaling:scheduled-action``, id
``group/name``) holding its next run (``_next``, epoch seconds). A one-time
action is deleted once run; a recurring one (``Recurrence``, a cron
expression in ``TimeZone``) moves ``_next`` to its following run, and is
deleted when that falls after its ``EndTime``. Each run is recorded as a
scaling activity, and changes the group's sizes as UpdateAutoScalingGroup
would; the group loop then launches or terminates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env
from ..common.pagination import paginate
from . import activities
from .core import SCHEDULED, get_group, need_group, new_uid, save_group, stamp, validation, wake
from .cron import Cron, CronError, zone

MAX_PER_GROUP = 125
SIZES = ("MinSize", "MaxSize", "DesiredCapacity")


def epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    return float(value)


def action_id(group: str, name: str) -> str:
    return f"{group}/{name}"


def next_run(doc: dict[str, Any], after: float) -> float | None:
    """The first run of a recurring action strictly after ``after`` (and not before
    its StartTime), or None when it has no more runs."""
    start = doc.get("StartTime")
    if start is not None and after < float(start):
        after = float(start) - 60.0  # a run at the start time itself counts
    found = Cron.parse(doc["Recurrence"]).next_after(after, zone(doc.get("TimeZone")))
    end = doc.get("EndTime")
    if found is None or (end is not None and found > float(end)):
        return None
    return found


def render(doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if not k.startswith("_") and v is not None}
    if doc.get("_next") is not None:
        out["StartTime"] = out["Time"] = doc["_next"]
    return out


class ScheduledOperations:
    env: Env

    def _build(self, call: Call, group: dict[str, Any], params: dict[str, Any],
               now: float) -> dict[str, Any]:
        name = params.get("ScheduledActionName")
        if not name:
            raise validation("ScheduledActionName is required")
        if not any(params.get(k) is not None for k in SIZES):
            raise validation("At least one of MinSize, MaxSize or DesiredCapacity must be "
                             "specified")
        start = params.get("StartTime", params.get("Time"))
        end = params.get("EndTime")
        recurrence = params.get("Recurrence")
        doc: dict[str, Any] = {
            "AutoScalingGroupName": group["name"],
            "ScheduledActionName": name,
            "ScheduledActionARN": (f"arn:aws:autoscaling:{call.region}:{call.account}:"
                                   f"scheduledUpdateGroupAction:{new_uid()}:autoScalingGroupName/"
                                   f"{group['name']}:scheduledActionName/{name}"),
            "StartTime": epoch(start) if start is not None else None,
            "EndTime": epoch(end) if end is not None else None,
            "Recurrence": recurrence,
            "TimeZone": params.get("TimeZone"),
            **{k: params.get(k) for k in SIZES},
            "_id": action_id(group["name"], name),
            "_group": group["name"],
        }
        if doc["EndTime"] is not None:
            if doc["EndTime"] <= now:
                raise validation("Given end time is in the past")
            if doc["StartTime"] is not None and doc["EndTime"] <= doc["StartTime"]:
                raise validation("Start time must be before end time")
        if recurrence:
            try:
                doc["_next"] = next_run(doc, now)
            except CronError as exc:
                raise validation(str(exc)) from None
            if doc["_next"] is None:
                raise validation(f"Recurrence {recurrence!r} has no run before the end time")
        else:
            if doc["TimeZone"]:
                try:
                    zone(doc["TimeZone"])
                except CronError as exc:
                    raise validation(str(exc)) from None
            if doc["StartTime"] is None:
                raise validation("Either StartTime or Recurrence must be specified")
            if doc["StartTime"] < now:
                raise validation("Given start time is in the past")
            doc["_next"] = doc["StartTime"]
        return doc

    def _put(self, call: Call, group_name: str | None, params: dict[str, Any]) -> float:
        """Validate and store one action; returns its next run."""
        group = need_group(self.env, call, group_name)
        doc = self._build(call, group, params, self.env.clock.now())
        old = self.env.store.resources.get(SCHEDULED, call.account, call.region, doc["_id"])
        if old is not None:
            doc["ScheduledActionARN"] = old["ScheduledActionARN"]
        else:
            count = len(self.env.store.resources.list(
                SCHEDULED, call.account, call.region,
                where=lambda d: d["_group"] == group["name"]))
            if count >= MAX_PER_GROUP:
                raise AWSError("LimitExceeded", f"Maximum number of scheduled actions "
                               f"({MAX_PER_GROUP}) reached for the group")
        self.env.store.resources.put(SCHEDULED, call.account, call.region, doc["_id"], doc)
        return float(doc["_next"])

    def _wake_at(self, call: Call, group: str, at: float) -> None:
        wake(self.env, call.account, call.region, group,
             after=max(0.0, at - self.env.clock.now()))

    def put_scheduled_update_group_action(self, call: Call,
                                          params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("AutoScalingGroupName")
        with self.env.store.tx():
            at = self._put(call, group, params)
        self._wake_at(call, str(group), at)
        return {}

    def batch_put_scheduled_update_group_action(self, call: Call,
                                                params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("AutoScalingGroupName")
        failed = []
        with self.env.store.tx():
            need_group(self.env, call, group)
            for item in params.get("ScheduledUpdateGroupActions") or []:
                try:
                    with self.env.store.tx():
                        at = self._put(call, group, item)
                except AWSError as exc:
                    failed.append({"ScheduledActionName": item.get("ScheduledActionName", ""),
                                   "ErrorCode": exc.code, "ErrorMessage": exc.message})
                    continue
                self._wake_at(call, str(group), at)
        return {"FailedScheduledUpdateGroupActions": failed}

    def _delete(self, call: Call, group: str, name: str | None) -> None:
        key = action_id(group, name or "")
        if self.env.store.resources.get(SCHEDULED, call.account, call.region, key) is None:
            raise validation(f"Scheduled Update Group Action name not found - Could not find "
                             f"scheduled update group action {name} for group {group}")
        self.env.store.resources.delete(SCHEDULED, call.account, call.region, key)

    def delete_scheduled_action(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            self._delete(call, group["name"], params.get("ScheduledActionName"))
        return {}

    def batch_delete_scheduled_action(self, call: Call,
                                      params: dict[str, Any]) -> dict[str, Any]:
        failed = []
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            for name in params.get("ScheduledActionNames") or []:
                try:
                    self._delete(call, group["name"], name)
                except AWSError as exc:
                    failed.append({"ScheduledActionName": name, "ErrorCode": exc.code,
                                   "ErrorMessage": exc.message})
        return {"FailedScheduledActions": failed}

    def describe_scheduled_actions(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("AutoScalingGroupName")
        names = set(params.get("ScheduledActionNames") or [])
        start, end = params.get("StartTime"), params.get("EndTime")
        docs: list[dict[str, Any]] = self.env.store.resources.list(
            SCHEDULED, call.account, call.region)
        if group:
            docs = [d for d in docs if d["_group"] == group]
        if names:
            docs = [d for d in docs if d["ScheduledActionName"] in names]
        if start is not None:
            docs = [d for d in docs if float(d["_next"]) >= epoch(start)]
        if end is not None:
            docs = [d for d in docs if float(d["_next"]) <= epoch(end)]
        docs.sort(key=lambda d: str(d["_id"]))
        page, token = paginate(docs, params.get("NextToken"), params.get("MaxRecords"),
                               key=lambda d: str(d["_id"]), default_limit=50, min_limit=1,
                               max_limit=100, error_code="ValidationError")
        out: dict[str, Any] = {"ScheduledUpdateGroupActions": [render(d) for d in page]}
        if token:
            out["NextToken"] = token
        return out

    # -- the group loop's hook ---------------------------------------------------------

    async def run_scheduled(self, account: str, region: str, name: str) -> None:
        """Run the group's actions that are due, each once."""
        run_scheduled(self.env, account, region, name)


def run_scheduled(env: Env, account: str, region: str, name: str) -> None:
    now = env.clock.now()
    with env.store.tx():
        group = get_group(env, account, region, name)
        if group is None or group.get("status"):
            return
        if "ScheduledActions" in group.get("suspended", []):
            return
        due = env.store.resources.list(
            SCHEDULED, account, region,
            where=lambda d: d["_group"] == name and float(d["_next"]) <= now)
        if not due:
            return
        for doc in sorted(due, key=lambda d: (float(d["_next"]), str(d["_id"]))):
            _execute(env, group, doc, now)
            following = next_run(doc, now) if doc.get("Recurrence") else None
            if following is None:
                env.store.resources.delete(SCHEDULED, account, region, doc["_id"])
            else:
                doc["_next"] = following
                env.store.resources.put(SCHEDULED, account, region, doc["_id"], doc)
        save_group(env, group)


def _execute(env: Env, group: dict[str, Any], doc: dict[str, Any], now: float) -> None:
    lo = doc["MinSize"] if doc.get("MinSize") is not None else group["min"]
    hi = doc["MaxSize"] if doc.get("MaxSize") is not None else group["max"]
    old = int(group["desired"])
    want = (doc["DesiredCapacity"] if doc.get("DesiredCapacity") is not None
            else max(lo, min(hi, old)))
    sizes = f"min: {lo}, max: {hi}, desired: {want}"
    cause = (f"At {stamp(now)} a scheduled action update of AutoScalingGroup constraints to "
             f"{sizes}")
    if lo > hi or not lo <= want <= hi:
        activities.start(env, group, f"Executing scheduled action {doc['ScheduledActionName']}",
                         cause + ".", status="Failed",
                         message="The new sizes are not consistent: min <= desired <= max")
        return
    group["min"], group["max"], group["desired"] = int(lo), int(hi), int(want)
    if want != old:
        cause += f" changing the desired capacity from {old} to {want}"
        group["cause"] = cause.split(f"At {stamp(now)} ", 1)[1]
    activities.start(env, group, f"Executing scheduled action {doc['ScheduledActionName']}",
                     cause + ".", status="Successful")
