"""Scaling activities: the history of what the group loop did and why.

An activity is recorded when the loop starts a launch or a termination
(``InProgress``) and completed when EC2 reports the instance running or gone
(``Successful``), or at once when EC2 refused (``Failed``).
"""

from __future__ import annotations

from typing import Any

from ..base import Call, Env
from ..common.pagination import paginate
from .core import ACTIVITY, new_uid, validation

MAX_KEPT = 1000  # activities kept per group
KEPT_SECONDS = 42 * 86400  # and those of deleted groups for six weeks, as AWS


def start(env: Env, group: dict[str, Any], description: str, cause: str,
          status: str = "InProgress", message: str | None = None,
          details: dict[str, str] | None = None) -> dict[str, Any]:
    """Record a new activity (the caller holds the transaction)."""
    now = env.clock.now()
    doc: dict[str, Any] = {
        "ActivityId": new_uid(),
        "AutoScalingGroupName": group["name"],
        "AutoScalingGroupARN": group["arn"],
        "Description": description,
        "Cause": cause,
        "StartTime": now,
        "StatusCode": status,
        "Progress": 100 if status in ("Successful", "Failed", "Cancelled") else 0,
        "Details": _details(group, details),
        "_group": group["name"],
        "_seq": now,
    }
    if message:
        doc["StatusMessage"] = message
    if doc["Progress"] == 100:
        doc["EndTime"] = now
    env.store.resources.put(ACTIVITY, group["account"], group["region"], doc["ActivityId"], doc)
    trim(env, group["account"], group["region"], group["name"])
    return doc


def finish(env: Env, account: str, region: str, activity_id: str | None,
           status: str = "Successful", message: str | None = None) -> None:
    if not activity_id:
        return
    doc = env.store.resources.get(ACTIVITY, account, region, activity_id)
    if doc is None or doc["StatusCode"] in ("Successful", "Failed", "Cancelled"):
        return
    doc.update(StatusCode=status, Progress=100, EndTime=env.clock.now())
    if message:
        doc["StatusMessage"] = message
    env.store.resources.put(ACTIVITY, account, region, activity_id, doc)


def mid_action(env: Env, account: str, region: str, activity_id: str | None,
               message: str) -> None:
    """The activity now waits for lifecycle actions (``MidLifecycleAction``);
    ``message`` stays in its StatusMessage and Details once it ends."""
    import json

    doc = env.store.resources.get(ACTIVITY, account, region, activity_id) \
        if activity_id else None
    if doc is None or doc["StatusCode"] in ("Successful", "Failed", "Cancelled"):
        return
    doc["StatusCode"] = "MidLifecycleAction"
    if message:
        doc["StatusMessage"] = message
        details = json.loads(doc.get("Details") or "{}")
        details["Lifecycle Hook Notifications"] = "Not delivered"
        doc["Details"] = json.dumps(details)
    env.store.resources.put(ACTIVITY, account, region, str(activity_id), doc)


def forget(env: Env, group: dict[str, Any]) -> None:
    """The group is deleted: its activities stay, shown only with
    IncludeDeletedGroups (as AWS does), until they are six weeks old."""
    account, region = group["account"], group["region"]
    oldest = env.clock.now() - KEPT_SECONDS
    for doc in env.store.resources.list(ACTIVITY, account, region,
                                        where=lambda d: d["_group"] == group["name"]
                                        or d.get("_deleted")):
        if float(doc["StartTime"]) < oldest:
            env.store.resources.delete(ACTIVITY, account, region, doc["ActivityId"])
        elif doc["AutoScalingGroupARN"] == group["arn"] and not doc.get("_deleted"):
            doc["_deleted"] = True
            env.store.resources.put(ACTIVITY, account, region, doc["ActivityId"], doc)


def trim(env: Env, account: str, region: str, group: str) -> None:
    """Keep a group's latest ``MAX_KEPT`` activities."""
    docs = env.store.resources.list(ACTIVITY, account, region,
                                    where=lambda d: d["_group"] == group
                                    and not d.get("_deleted"))
    if len(docs) <= MAX_KEPT:
        return
    docs.sort(key=lambda d: float(d["_seq"]))
    for doc in docs[:-MAX_KEPT]:
        env.store.resources.delete(ACTIVITY, account, region, doc["ActivityId"])


def _details(group: dict[str, Any], extra: dict[str, str] | None) -> str:
    import json

    subnets = group.get("subnets") or []
    out: dict[str, str] = {}
    if subnets:
        out["Subnet ID"] = subnets[0]
    out.update(extra or {})
    return json.dumps(out)


class ActivityOperations:
    env: Env

    def describe_scaling_activities(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        ids = params.get("ActivityIds") or []
        name = params.get("AutoScalingGroupName")
        docs: list[dict[str, Any]] = self.env.store.resources.list(
            ACTIVITY, call.account, call.region)
        if name:
            docs = [d for d in docs if d["_group"] == name]
        if not params.get("IncludeDeletedGroups"):
            docs = [d for d in docs if not d.get("_deleted")]
        if ids:
            docs = [d for d in docs if d["ActivityId"] in ids]
        docs.sort(key=lambda d: (-float(d["_seq"]), d["ActivityId"]))
        limit = params.get("MaxRecords")
        if limit is not None and not 1 <= limit <= 100:
            raise validation("MaxRecords must be between 1 and 100")
        page, token = paginate(docs, params.get("NextToken"), limit,
                               key=lambda d: f"{1e12 - float(d['_seq']):020.6f}|{d['ActivityId']}",
                               default_limit=100, min_limit=1, max_limit=100,
                               error_code="ValidationError")
        out: dict[str, Any] = {
            "Activities": [{k: v for k, v in d.items() if not k.startswith("_")} for d in page]}
        if token:
            out["NextToken"] = token
        return out
