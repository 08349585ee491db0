"""The group loop: converges each group on its desired capacity.

One reconcile of a group, in one transaction (EC2's operations join it, so an
instance and the member that records it are written together or not at all):

1. observe: members EC2 reports running go ``InService``; members whose
   instance stopped or vanished are marked ``Unhealthy`` (the EC2 health
   check), as are those their target groups report unhealthy past the grace
   period (ELB health check, ``targets.py``); terminating members whose
   instance is gone leave the group;
2. replace: unhealthy members are terminated;
3. converge: too few active members → launch into the emptiest zones; too
   many → pick victims by the termination policies and terminate them.

Every step reads the current state first, so running it twice does nothing
twice. Activities record each launch and termination with its cause.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from gureum.control import Loop
from gureum.errors import AWSError

from ..base import Env
from . import activities, hooks
from .configs import run_params
from .core import (
    CONFIG,
    GROUP,
    LOOP,
    active,
    get_group,
    group_key,
    split_key,
    stamp,
    timing,
)
from .fleet import GONE, Fleet, fleet
from .groups import resolve_template

log = logging.getLogger("gureum.autoscaling")

DOWN = ("stopping", "stopped", "shutting-down", "terminated")
Hook = Callable[[str, str, str], Awaitable[None]]  # (account, region, group name)


class GroupLoop:
    """The reconciler of groups. ``before`` and ``after`` hooks run outside the
    step's transaction: policies re-run for alarms before, target groups
    register and deregister after. ``member_of`` maps each active instance to
    its group (the ``AutoScalingGroupName`` metric dimension)."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.before: list[Hook] = []
        self.after: list[Hook] = []
        self.member_of: dict[tuple[str, str, str], str] = {}
        self.loop = Loop(LOOP, self.reconcile, clock=env.clock, resync=self.resync,
                         resync_interval=60.0, concurrency=8)

    @property
    def fleet(self) -> Fleet:
        return fleet(self.env)

    async def resync(self) -> Iterable[str]:
        return [group_key(g["account"], g["region"], g["name"])
                for g in self.env.store.resources.list(GROUP)]

    async def reconcile(self, key: str) -> float | None:
        account, region, name = split_key(key)
        if get_group(self.env, account, region, name) is None:
            return None
        for hook in self.before:
            await hook(account, region, name)
        with self.env.store.tx():
            group = get_group(self.env, account, region, name)
            if group is None:
                return None
            failed = self.step(group)
            gone = bool(group.get("status")) and not group["instances"]
            if gone:
                self.env.store.resources.delete(GROUP, account, region, name)
                activities.forget(self.env, group)
            else:
                self.env.store.resources.put(GROUP, account, region, name, group)
        self._index(account, region, name, {} if gone else group["instances"])
        for hook in self.after:
            await hook(account, region, name)
        if gone:
            return None
        t = timing(self.env)
        if failed:
            return t.retry
        busy = any(m["lifecycle"] not in ("InService", "Standby")
                   for m in group["instances"].values())
        return t.settle if busy else t.check

    def _index(self, account: str, region: str, name: str,
               members: dict[str, dict[str, Any]]) -> None:
        for key in [k for k, v in self.member_of.items() if v == name and k[:2] == (account,
                                                                                    region)]:
            del self.member_of[key]
        for iid, m in members.items():
            if m["lifecycle"] in ("Pending", "InService", "Standby"):
                self.member_of[(account, region, iid)] = name

    # -- one step --------------------------------------------------------------------

    def step(self, group: dict[str, Any]) -> bool:
        """Observe, replace and converge; True when a launch failed."""
        now = self.env.clock.now()
        self.observe(group, now)
        self.replace(group, now)
        return self.converge(group, now)

    def observe(self, group: dict[str, Any], now: float) -> None:
        account, region = group["account"], group["region"]
        members = group["instances"]
        states = self.fleet.states(account, region, list(members))
        for iid, m in list(members.items()):
            state = states.get(iid)
            if m["lifecycle"] == "Terminating:Wait":
                if hooks.waiting(m, now) and state not in (None, *GONE):
                    continue
                self._end(group, m)
                continue
            if m["lifecycle"] == "Detaching":  # leaves once drained; the instance lives on
                if not m.get("registered") and now >= float(m.get("drain_until") or 0.0):
                    activities.finish(self.env, account, region, m.get("activity"))
                    del members[iid]
                continue
            if m["lifecycle"] == "Terminating":
                if m.get("drain") and not m.get("registered") and m.get(
                        "drain_until") is not None and now >= float(m["drain_until"]):
                    m["drain"] = False
                    self.fleet.terminate(account, region, [iid])
                    continue
                if m.get("drain") and state not in (None, *GONE):
                    continue
                if state is None or state == "terminated":
                    activities.finish(self.env, account, region, m.get("activity"))
                    del members[iid]
                continue
            if state is None or state in DOWN:
                if m["health"] == "Healthy":
                    m["health"] = "Unhealthy"
                    what = "terminated" if state in (None, *GONE) else "stopped"
                    m["reason"] = (f"an instance was taken out of service in response to an "
                                   f"EC2 health check indicating it has been {what}")
                continue
            if m["lifecycle"] == "Pending" and state == "running":
                if hooks.begin(group, m, hooks.LAUNCHING, now):
                    self._wait_for_hooks(group, m, hooks.LAUNCHING)
                    continue
                self._in_service(m, account, region, now)
            elif m["lifecycle"] == "Pending:Wait" and not hooks.waiting(m, now):
                if m.get("result") == "ABANDON":
                    m["health"], m["skip_hooks"] = "Unhealthy", True
                    m["reason"] = ("an instance was taken out of service because a launching "
                                   "lifecycle action was abandoned")
                    activities.finish(self.env, account, region, m.get("activity"),
                                      status="Cancelled",
                                      message="The lifecycle action was abandoned")
                else:
                    self._in_service(m, account, region, now)

    def _wait_for_hooks(self, group: dict[str, Any], m: dict[str, Any],
                        transition: str) -> None:
        message = hooks.undelivered(group, transition)
        activities.mid_action(self.env, group["account"], group["region"], m.get("activity"),
                              message)
        if message:
            log.warning("group %s, instance %s: %s", group["name"], m["id"], message)

    def _in_service(self, m: dict[str, Any], account: str, region: str, now: float) -> None:
        m["lifecycle"] = "InService"
        m["in_service"] = now
        activities.finish(self.env, account, region, m.get("activity"))

    def replace(self, group: dict[str, Any], now: float) -> None:
        if "ReplaceUnhealthy" in group.get("suspended", []):
            return
        for m in list(group["instances"].values()):
            if m["health"] != "Unhealthy" or m["lifecycle"] in ("Terminating", "Detaching",
                                                                 "Terminating:Wait"):
                continue
            if m["lifecycle"] == "Standby":
                continue
            cause = f"At {stamp(now)} {m.get('reason') or 'an instance was marked unhealthy'}."
            self.terminate(group, m, cause)

    def converge(self, group: dict[str, Any], now: float) -> bool:
        suspended = group.get("suspended", [])
        have = active(group)
        want = group["desired"]
        if len(have) < want and "Launch" not in suspended and not group.get("status"):
            cause = self._cause(group, now, len(have), want, "increasing")
            for _ in range(want - len(have)):
                if not self.launch(group, now, cause):
                    return True
        elif len(have) > want and "Terminate" not in suspended:
            cause = self._cause(group, now, len(have), want, "shrinking")
            for victim in self.victims(group, len(have) - want):
                self.terminate(group, victim, cause + f" At {stamp(now)} instance "
                               f"{victim['id']} was selected for termination.")
        group["cause"] = None
        return False

    @staticmethod
    def _cause(group: dict[str, Any], now: float, have: int, want: int, verb: str) -> str:
        first = f"At {stamp(now)} {group['cause']}. " if group.get("cause") else ""
        what = "started" if verb == "increasing" else "taken out of service"
        return (f"{first}At {stamp(now)} an instance was {what} in response to a difference "
                f"between desired and actual capacity, {verb} the capacity from {have} "
                f"to {want}.")

    # -- launching -------------------------------------------------------------------

    def _zone(self, group: dict[str, Any]) -> tuple[str, str | None]:
        """The zone (and subnet) with the fewest active members."""
        counts = {z: 0 for z in group["zones"]}
        for m in active(group):
            if m["az"] in counts:
                counts[m["az"]] += 1
        zone = min(group["zones"], key=lambda z: counts[z])
        if group["subnets"]:
            zones = self.fleet.zones(group["account"], group["region"])
            subnet = next((s for s in group["subnets"] if zones.get(s) == zone), None)
            return zone, subnet
        return zone, None

    def params(self, group: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """RunInstances parameters of the group's launch source, and what the member
        records of it."""
        account, region = group["account"], group["region"]
        if group.get("lc"):
            config = self.env.store.resources.get(CONFIG, account, region, group["lc"])
            if config is None:
                raise AWSError("ValidationError",
                               f"Launch configuration {group['lc']} does not exist")
            return run_params(config), {"lc": group["lc"]}
        lt = group["lt"]
        resolved = resolve_template(self.env, account, region,
                                    {"LaunchTemplateId": lt["LaunchTemplateId"],
                                     "Version": lt["Version"]})
        version = resolved["LaunchTemplate"]["Version"]
        params = {"LaunchTemplate": {"LaunchTemplateId": lt["LaunchTemplateId"],
                                     "Version": version}}
        record = {"lt": {"LaunchTemplateId": lt["LaunchTemplateId"],
                         "LaunchTemplateName": lt.get("LaunchTemplateName", ""),
                         "Version": version}}
        return params, record

    def launch(self, group: dict[str, Any], now: float, cause: str) -> bool:
        account, region = group["account"], group["region"]
        zone, subnet = self._zone(group)
        try:
            params, record = self.params(group)
            params = dict(params)
            if subnet:
                params["SubnetId"] = subnet
            else:
                params["Placement"] = {"AvailabilityZone": zone}
            tags = [{"Key": t["Key"], "Value": t["Value"]} for t in group["tags"]
                    if t.get("PropagateAtLaunch")]
            if tags:
                params["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
            with self.env.store.tx():  # a savepoint: a refused launch leaves nothing
                instance = self.fleet.launch(account, region, params)
        except AWSError as exc:
            activities.start(self.env, group, "Launching a new EC2 instance.  Status Reason: "
                             f"{exc.message}. Launching EC2 instance failed.", cause,
                             status="Failed", message=exc.message)
            log.info("group %s could not launch: %s", group["name"], exc.message)
            return False
        iid = instance["InstanceId"]
        self.fleet.tag(account, region, iid, {"aws:autoscaling:groupName": group["name"]})
        act = activities.start(self.env, group, f"Launching a new EC2 instance: {iid}", cause)
        group["instances"][iid] = {
            "id": iid, "az": instance["Placement"]["AvailabilityZone"],
            "type": instance.get("InstanceType", ""), "image": instance.get("ImageId", ""),
            "lifecycle": "Pending", "health": "Healthy", "launched": now,
            "protected": bool(group.get("protect_new")), "activity": act["ActivityId"],
            **record,
        }
        return True

    # -- terminating -----------------------------------------------------------------

    def terminate(self, group: dict[str, Any], member: dict[str, Any], cause: str) -> None:
        act = activities.start(self.env, group, f"Terminating EC2 instance: {member['id']}",
                               cause)
        member["activity"] = act["ActivityId"]
        if not group.get("status") and not member.get("skip_hooks") and hooks.begin(
                group, member, hooks.TERMINATING, self.env.clock.now()):
            self._wait_for_hooks(group, member, hooks.TERMINATING)
            return  # Terminating:Wait; the loop ends it when its actions are done
        self._end(group, member)

    def _end(self, group: dict[str, Any], member: dict[str, Any]) -> None:
        """Terminate a member now (after draining it from its target groups)."""
        member["lifecycle"] = "Terminating"
        draining = float(member.get("drain_until") or 0.0) > self.env.clock.now()
        if member.get("registered") or draining:
            member["drain"] = True  # deregistered and drained first (targets.py)
            return
        self.fleet.terminate(group["account"], group["region"], [member["id"]])

    def victims(self, group: dict[str, Any], count: int) -> list[dict[str, Any]]:
        """``count`` members to terminate, by the group's termination policies."""
        pool = [m for m in active(group) if not m.get("protected") or group.get("status")]
        chosen: list[dict[str, Any]] = []
        for _ in range(min(count, len(pool))):
            pick = self._pick(group, pool)
            chosen.append(pick)
            pool.remove(pick)
        return chosen

    def _pick(self, group: dict[str, Any], pool: list[dict[str, Any]]) -> dict[str, Any]:
        # Every policy first balances zones: only the most crowded zone's members.
        counts: dict[str, int] = {}
        for m in pool:
            counts[m["az"]] = counts.get(m["az"], 0) + 1
        most = max(counts.values())
        candidates = [m for m in pool if counts[m["az"]] == most]
        for policy in group["termination_policies"]:
            candidates = self._apply(group, policy, candidates)
            if len(candidates) == 1:
                return candidates[0]
        if "Default" not in group["termination_policies"]:
            candidates = self._apply(group, "Default", candidates)
        return sorted(candidates, key=lambda m: m["id"])[0]

    def _apply(self, group: dict[str, Any], policy: str,
               candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        def keep(score: Any, highest: bool) -> list[dict[str, Any]]:
            values = [score(m) for m in candidates]
            best = max(values) if highest else min(values)
            return [m for m, v in zip(candidates, values, strict=True) if v == best]

        if policy == "OldestInstance":
            return keep(lambda m: m["launched"], highest=False)
        if policy == "NewestInstance":
            return keep(lambda m: m["launched"], highest=True)
        if policy in ("OldestLaunchConfiguration", "OldestLaunchTemplate", "Default"):
            # Members not launched from the group's current source go first.
            current = self._current(group)
            picked = keep(lambda m: 0 if self._source(m) == current else 1, highest=True)
            if policy == "Default" and len(picked) > 1:
                return keep(lambda m: m["launched"] % 3600, highest=True)
            return picked
        if policy == "ClosestToNextInstanceHour":
            return keep(lambda m: m["launched"] % 3600, highest=True)
        return candidates

    @staticmethod
    def _source(member: dict[str, Any]) -> str:
        if member.get("lc"):
            return f"lc:{member['lc']}"
        lt = member.get("lt") or {}
        return f"lt:{lt.get('LaunchTemplateId')}:{lt.get('Version')}"

    def _current(self, group: dict[str, Any]) -> str:
        if group.get("lc"):
            return f"lc:{group['lc']}"
        try:
            _, record = self.params(group)
        except AWSError:
            return ""
        return self._source(record)
