"""Moving instances in and out of a group without launching or terminating
them: EnterStandby, ExitStandby, AttachInstances, DetachInstances.

Each changes the member records (and the desired capacity) in one
transaction and wakes the group loop, which deregisters members that left
service from the group's target groups, registers those that came back, and
lets detached members go once drained (``reconcile.py``, ``targets.py``).
"""

from __future__ import annotations

from typing import Any

from ..base import Call, Env
from . import activities
from .core import GROUP, need_group, save_group, stamp, validation, wake
from .fleet import fleet

MAX_IDS = 20


def _render(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _ids(params: dict[str, Any]) -> list[str]:
    ids = list(dict.fromkeys(params.get("InstanceIds") or []))
    if len(ids) > MAX_IDS:
        raise validation(f"At most {MAX_IDS} instance ids may be given")
    return ids


def _resize(group: dict[str, Any], change: int) -> str:
    """Move the desired capacity by ``change`` within min and max; the cause's tail."""
    old = int(group["desired"])
    new = old + change
    if new < group["min"]:
        raise validation(f"Cannot decrement desired capacity below min size: desired capacity "
                         f"is {old} and min size is {group['min']}")
    if new > group["max"]:
        raise validation(f"The desired capacity {new} would exceed the max size "
                         f"{group['max']} of the group")
    group["desired"] = new
    return f"changing the desired capacity from {old} to {new}"


class MemberOperations:
    env: Env

    def _members(self, group: dict[str, Any], ids: list[str],
                 states: tuple[str, ...]) -> list[dict[str, Any]]:
        out = []
        for iid in ids:
            m = group["instances"].get(iid)
            if m is None:
                raise validation(f"The instance {iid} is not part of Auto Scaling group "
                                 f"{group['name']}.")
            if m["lifecycle"] not in states:
                raise validation(f"The instance {iid} is not in {' or '.join(states)}.")
            out.append(m)
        return out

    def enter_standby(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        decrement = params.get("ShouldDecrementDesiredCapacity")
        if decrement is None:
            raise validation("ShouldDecrementDesiredCapacity is required")
        now = self.env.clock.now()
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            members = self._members(group, _ids(params), ("InService",))
            tail = _resize(group, -len(members)) if decrement else ""
            out = []
            for m in members:
                cause = (f"At {stamp(now)} instance {m['id']} was moved to standby in response "
                         "to a user request" + (f", {tail}." if tail else "."))
                m["lifecycle"] = "Standby"
                out.append(activities.start(self.env, group, f"Moving EC2 instance to Standby: "
                                            f"{m['id']}", cause, status="Successful"))
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {"Activities": [_render(a) for a in out]}

    def exit_standby(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        now = self.env.clock.now()
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            members = self._members(group, _ids(params), ("Standby",))
            tail = _resize(group, len(members))
            out = []
            for m in members:
                cause = (f"At {stamp(now)} instance {m['id']} was moved out of standby in "
                         f"response to a user request, {tail}.")
                act = activities.start(self.env, group, f"Moving EC2 instance out of Standby: "
                                       f"{m['id']}", cause)
                m.update(lifecycle="Pending", activity=act["ActivityId"])  # InService when up
                out.append(act)
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {"Activities": [_render(a) for a in out]}

    def attach_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        ids = _ids(params)
        now = self.env.clock.now()
        seam = fleet(self.env)
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            if group.get("status"):
                raise validation(f"The group {group['name']} is being deleted")
            others = {iid for g in self.env.store.resources.list(GROUP, call.account,
                                                                 call.region)
                      for iid in g["instances"]}
            found = []
            for iid in ids:
                facts = seam.facts(call.account, call.region, iid)
                if facts is None or facts["state"] != "running":
                    raise validation(f"Instance {iid} is not in a running state or does not "
                                     "exist")
                if iid in others:
                    raise validation(f"The instance {iid} is already part of an Auto Scaling "
                                     "group")
                if facts["az"] not in group["zones"]:
                    raise validation(f"The instance {iid} is not in one of the group's "
                                     "Availability Zones")
                found.append((iid, facts))
            tail = _resize(group, len(found))
            for iid, facts in found:
                cause = (f"At {stamp(now)} an instance was added in response to a user request "
                         f"to attach it, {tail}.")
                act = activities.start(self.env, group, f"Attaching an existing EC2 instance: "
                                       f"{iid}", cause)
                group["instances"][iid] = {
                    "id": iid, "az": facts["az"], "type": facts["type"],
                    "image": facts["image"], "lifecycle": "Pending", "health": "Healthy",
                    "launched": now, "protected": bool(group.get("protect_new")),
                    "activity": act["ActivityId"], "attached": True}
            save_group(self.env, group)
        for iid, _ in found:
            seam.tag(call.account, call.region, iid, {"aws:autoscaling:groupName": group["name"]})
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def detach_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        decrement = params.get("ShouldDecrementDesiredCapacity")
        if decrement is None:
            raise validation("ShouldDecrementDesiredCapacity is required")
        now = self.env.clock.now()
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            members = self._members(group, _ids(params), ("InService", "Standby", "Pending"))
            active = [m for m in members if m["lifecycle"] != "Standby"]
            tail = _resize(group, -len(active)) if decrement and active else ""
            out = []
            for m in members:
                cause = (f"At {stamp(now)} instance {m['id']} was detached in response to a "
                         "user request" + (f", {tail}." if tail else "."))
                act = activities.start(self.env, group, f"Detaching EC2 instance: {m['id']}",
                                       cause)
                m.update(lifecycle="Detaching", activity=act["ActivityId"])
                out.append(act)
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {"Activities": [_render(a) for a in out]}
