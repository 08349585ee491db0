"""The instance loop: drives each instance's processes toward its recorded state.

pending → (guest launched and booted) → running; stopping → (guest stopped)
→ stopped; shutting-down → (guest destroyed) → terminated, kept visible for
``TERMINATED_VISIBLE`` seconds. A running instance whose init exited is
reported stopped ("instance initiated shutdown"), except just after gureum
starts, when instances recorded as running are booted again (as a host that
rebooted) or adopted if still running. Transitions are written only if the
record is still in the state the step started from, so an API call made while
the driver worked always wins.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from typing import Any

from gureum.control import Loop
from gureum.drivers.compute import GuestSpec, NetworkPlan
from gureum.drivers.names import Publisher

from ..cloudwatch.sources import sources
from .catalog import instance_type
from .core import INSTANCE, KEYPAIR, LOOP, SETTLE_KEY, EC2Core, loop_key
from .metadata import MetadataServer
from .monitoring import InstanceMetrics
from .secgroups import MEMBERS_KEY, instance_ingress

log = logging.getLogger("gureum.ec2")

TERMINATED_VISIBLE = 3600.0
BOOT_TIMEOUT = 60.0
POLL = 0.05
CHECK_RUNNING = 10.0
# An instance's ingress rules, as read for its groups, are used again for
# instances in the same groups for this long while no rule or membership
# changed (other services' members, asked each time they are read, may change
# without saying: a running instance's periodic check reads them again).
INGRESS_FRESH = 1.0
# ... but a new instance's reading is made again once no membership change came
# for this long (the burst's calls are over, or between two of them): the
# instances launched from then on have the burst's whole membership and need
# no update at its settle (a rules file written, a signal and its launcher's
# apply of it, each).
INGRESS_QUIET = 0.05
# Private DNS names are written in batches: a flush rewrites the host's
# /etc/hosts (with an fsync) and every instance's hosts file, so launches a few
# tenths of a second apart, each flushed alone, cost every launch a rewrite of
# all N files (~23 per launch over a burst of 40, ~0.4 ms of CPU). A launch
# waits this long for the next before its name is written, a burst at most
# NAMES_LONGEST: within the security group membership settle (1 s), before
# which the other instances cannot reach a new one anyway.
NAMES_DELAY = 0.3
NAMES_LONGEST = 1.0

Ingress = tuple[tuple[str, int, int, str], ...]


class Lifecycle(EC2Core):
    _adopt: set[str]
    _boot_started: dict[str, float]
    _applied: dict[str, tuple[tuple[str, int, int, str], ...] | None]
    metadata: MetadataServer

    def setup_lifecycle(self) -> None:
        self._adopt = set()
        self._boot_started = {}
        self._applied = {}
        # Instance records as last read or saved here, with their write marks then:
        # a reconcile uses the record as it is kept if nothing wrote it since (no
        # reading and decoding it again, ~25 us, at each launch, periodic check
        # and membership settle of each instance).
        self._docs: dict[str, tuple[dict[str, Any], Any]] = {}
        # Instances launched with the rules of an earlier membership (see ``ingress``).
        self._stale: dict[str, tuple[str, str]] = {}  # (id -> its account and region)
        self._members: dict[str, list[str]] = {}
        self._members_generation = -1
        # (account, region, group ids) -> (generations, read at, rules)
        self._ingress: dict[tuple[str, str, tuple[str, ...]],
                            tuple[tuple[int, int], float, Ingress]] = {}
        self.metadata = MetadataServer(self.store, self.driver)
        self.private_names = Publisher(self.env.names, delay=NAMES_DELAY,  # (batched)
                                       longest=NAMES_LONGEST)

    async def start(self) -> None:
        self._adopt = {
            loop_key(d["account"], d["region"], d["id"])
            for d in self.store.resources.list(INSTANCE)
            if d["state"] in ("running", "pending")
        }
        self.env.loops.add(Loop(LOOP, self.reconcile, clock=self.env.clock,
                                resync=self.resync, resync_interval=60.0, concurrency=16))
        sources(self.env).add(InstanceMetrics(self.store, self.driver, self.env.clock,
                                              self.env.settings.time_scale, self._running))

    def _running(self) -> list[tuple[str, str, str]]:
        """(account, region, id) of the running instances, from the records' facts."""
        return [(f.account, f.region, i) for i, f in self.facts().items()
                if f.state == "running"]

    async def stop(self) -> None:
        sources(self.env).remove(InstanceMetrics.name)
        await self.driver.shutdown()
        await self.metadata.stop()
        await self.private_names.flushed()  # (before the names are cleared)

    async def reset(self) -> None:
        self.records_changed()
        self._docs.clear()
        self._stale.clear()
        for guest in self.driver.guests():
            await self.driver.destroy(guest)
        await self.driver.shutdown()
        await self.metadata.stop()
        self.private_names.drop_all()
        await self.private_names.flushed()
        await super().reset()

    def publish_names(self, docs: list[dict[str, Any]]) -> None:
        # From the call, not from each instance's first reconcile: a burst of
        # launches starts booting only as many at once as the loop runs, and
        # their names, put one by one as each got its turn, were as many
        # rewrites of every instance's hosts file. (Batched: see ``Publisher``.)
        for doc in docs:
            self.private_names.put(doc["id"], doc.get("fqdn"), doc.get("ip"))

    def launching(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:  # (as saved: see ``_docs``)
            self._docs[doc["id"]] = (doc, self.write_mark(doc["id"]))

    async def resync(self) -> Iterable[str]:
        # (from the records' facts, kept in step with the writes: not a decoding of
        # every record, terminated ones kept an hour included, each minute)
        facts = self.facts()
        keys = [loop_key(f.account, f.region, i) for i, f in facts.items()]
        keys += [loop_key("", "", g) for g in self.driver.guests() if g not in facts]
        return keys

    def ingress(self, doc: dict[str, Any], launching: bool = False) -> Ingress:
        """What the instance's groups let in. Instances in the same groups share
        one reading (and one tuple): a membership change rewrites the rules of
        every member, and each used to read every member's address again.

        ``launching``: for a new instance of a burst, the reading of its groups
        made less than INGRESS_FRESH ago is used even if members came since
        (each launch of a burst changes the membership: each read every member's
        address and rendered rules for all of them again, work that grew with
        the instances there). The rules themselves are current; the members that
        came meanwhile are applied with the burst's membership settle; once
        none came for INGRESS_QUIET, the reading is made again."""
        if self._members_generation != self.membership_generation:
            self._members.clear()
            self._members_generation = self.membership_generation
        key = (doc["account"], doc["region"],
               tuple(g["GroupId"] for g in doc.get("security_groups") or ()))
        now = self.env.clock.monotonic()
        found = self._ingress.get(key)
        if (found is not None and found[0][1] == self.rules_generation
                and now - found[1] < INGRESS_FRESH):
            if found[0][0] == self.membership_generation:
                return found[2]
            if launching:
                settling = self.settling.get((key[0], key[1]))
                if settling is None or now - settling[1] < INGRESS_QUIET:
                    return found[2]
        # Instances' addresses per group are read again only after a change of them.
        rules = instance_ingress(self.store, doc, self.env.extras.get(MEMBERS_KEY),
                                 self._members, self.group_member_ips)
        if len(self._ingress) > 256:
            self._ingress.clear()
        self._ingress[key] = ((self.membership_generation, self.rules_generation), now, rules)
        return rules

    def spec(self, doc: dict[str, Any], ingress: Ingress | None = None) -> GuestSpec:
        user_data = base64.b64decode(doc["user_data"]) if doc.get("user_data") else None
        if ingress is None:
            ingress = self.ingress(doc)
        net = doc.get("network")
        return GuestSpec(
            id=doc["id"], address=doc["ip"], hostname=doc["hostname"], fqdn=doc["fqdn"],
            limits=instance_type(doc["type"]).limits, user_data=user_data, ingress=ingress,
            layers=tuple(doc.get("layers") or ()),
            network=NetworkPlan(net["cidr"], net["gateway"]) if net else None,
            authorized_keys=self._public_key(doc),
        )

    def _public_key(self, doc: dict[str, Any]) -> str | None:
        if doc.get("public_key") or not doc.get("key_name"):
            return doc.get("public_key")  # the key as it was at launch, as AWS keeps it
        key = self.store.resources.get(KEYPAIR, doc["account"], doc["region"], doc["key_name"])
        return str(key["public_key"]) if key is not None else None

    async def _launch(self, doc: dict[str, Any], first: bool = False) -> None:
        """``first``: a new instance's first boot (see ``ingress``)."""
        ingress = self.ingress(doc, launching=first)
        used = self._ingress.get((doc["account"], doc["region"], tuple(
            g["GroupId"] for g in doc.get("security_groups") or ())))
        stale = used is not None and used[0][0] != self.membership_generation
        spec = self.spec(doc, ingress)
        await self.metadata.ensure(self.driver)
        await self.driver.launch(spec)
        self._applied[doc["id"]] = spec.ingress
        if stale:
            self._stale[doc["id"]] = (doc["account"], doc["region"])  # (see ``_settled``)
        else:
            self._stale.pop(doc["id"], None)

    async def _apply_ingress(self, doc: dict[str, Any]) -> None:
        """Re-apply the instance's security group rules if they changed."""
        ingress = self.ingress(doc)
        if self._applied.get(doc["id"]) != ingress:
            await self.driver.update_ingress(self.spec(doc, ingress))
            self._applied[doc["id"]] = ingress
        self._stale.pop(doc["id"], None)

    async def _settled(self, doc: dict[str, Any]) -> None:
        """A new instance turned running: if it was launched with the rules of
        an earlier membership and the membership settle of its burst has come
        (it found it pending), its rules are brought up to date now; else that
        settle wakes it."""
        if doc["id"] in self._stale and (doc["account"], doc["region"]) not in self.settling:
            await self._apply_ingress(doc)

    def _get(self, key: str) -> dict[str, Any] | None:
        account, region, instance_id = key.split("|")
        doc: dict[str, Any] | None = self.store.resources.get(
            INSTANCE, account, region, instance_id
        )
        return doc

    def _transition(self, key: str, expected: str, held: tuple[dict[str, Any], Any] | None = None,
                    **updates: Any) -> bool:
        """``held``: the record as read before an await, and its ``write_mark``
        then: used as it is if nothing wrote the record since (no reading and
        decoding it again at each pending -> running)."""
        with self.store.tx():
            if held is not None and held[1] == self.write_mark(held[0]["id"]):
                doc: dict[str, Any] | None = held[0]
            else:
                doc = self._get(key)
            if doc is None or doc["state"] != expected:
                return False
            doc.update(updates)
            self.save(doc)
            self._docs[doc["id"]] = (doc, self.write_mark(doc["id"]))  # (as saved)
            return True

    async def reconcile(self, key: str) -> float | None:
        account, region, instance_id = key.split("|")
        if instance_id == SETTLE_KEY:
            later = self.settle_members(account, region)
            if later is None:
                for stale, where in self._stale.items():  # (see ``_settled``)
                    if where == (account, region):
                        self.wake(account, region, stale)
            return later
        mark = self.write_mark(instance_id)
        kept = self._docs.get(instance_id)
        if kept is not None and kept[1] == mark:
            doc: dict[str, Any] | None = kept[0]
        else:
            doc = self._get(key)
            if doc is not None:
                self._docs[instance_id] = (doc, mark)
            else:
                self._docs.pop(instance_id, None)
        # The private DNS name resolves while the instance has its address.
        if doc is None or doc["state"] in ("shutting-down", "terminated"):
            self.private_names.drop(instance_id)
            self._stale.pop(instance_id, None)
            # (a terminated record stays kept until it is deleted: the resync
            # reconciles it each minute for the hour it is visible)
        else:
            self.private_names.put(instance_id, doc.get("fqdn"), doc.get("ip"))
        if doc is None:
            if instance_id in self.driver.guests():
                await self.driver.destroy(instance_id)
            return None
        state = doc["state"]
        if state == "pending":
            return await self._boot(key, doc, mark)
        if state == "running":
            return await self._keep_running(key, doc)
        if state == "stopping":
            await self.driver.stop(doc["id"])
            self._transition(key, "stopping", state="stopped")
            return None
        if state == "shutting-down":
            await self.driver.destroy(doc["id"])
            self._transition(key, "shutting-down", state="terminated", terminated_at=self.now())
            return TERMINATED_VISIBLE
        if state == "terminated":
            if instance_id in self.driver.guests():
                await self.driver.destroy(instance_id)
            left = float(doc.get("terminated_at", 0.0)) + TERMINATED_VISIBLE - self.now()
            if left <= 0:
                with self.store.tx():
                    self.store.resources.delete(INSTANCE, doc["account"], doc["region"], doc["id"])
                self._docs.pop(instance_id, None)
                self.records_changed()
                return None
            return left
        return None  # stopped: nothing runs

    async def _boot(self, key: str, doc: dict[str, Any], mark: Any = None) -> float | None:
        adopting = key in self._adopt
        self._adopt.discard(key)
        # A boot this gureum has not begun yet, of an instance it did not find at
        # its start, has no launcher to look for (the driver's launch looks for one
        # where the instance has files from an earlier run).
        running = ((adopting or key in self._boot_started)
                   and self.driver.running(doc["id"]))
        if running and self.driver.booted(doc["id"]):
            self._boot_started.pop(key, None)
            if self._transition(key, "pending", state="running", state_reason=None):
                await self._settled(doc)
            return CHECK_RUNNING
        if not running:
            started = self._boot_started.get(key)
            if started is not None:
                # The launch was made and the init is gone: it could not boot.
                self._boot_started.pop(key, None)
                log.warning("instance %s failed to boot", doc["id"])
                self._transition(key, "pending", state="stopped", state_reason=[
                    "Server.InternalError", "Server.InternalError: Instance failed to boot"])
                return None
            self._boot_started[key] = self.env.clock.monotonic()
            # (which makes sure the metadata service runs)
            await self._launch(doc, first=True)
            if doc["id"] not in self.facts():  # deleted meanwhile
                await self.driver.destroy(doc["id"])
                return None
            if self.driver.booted(doc["id"]):  # the driver waited for the boot
                self._boot_started.pop(key, None)
                if self._transition(key, "pending", (doc, mark), state="running",
                                    state_reason=None):
                    await self._settled(doc)
                return CHECK_RUNNING
            return POLL
        started = self._boot_started.setdefault(key, self.env.clock.monotonic())
        if self.env.clock.monotonic() - started > BOOT_TIMEOUT:
            log.warning("instance %s did not finish booting", doc["id"])
        return POLL

    async def _keep_running(self, key: str, doc: dict[str, Any]) -> float | None:
        instance_id = doc["id"]
        adopting = key in self._adopt
        self._adopt.discard(key)
        if doc.get("rebooted", 0) < doc.get("reboots", 0):
            await self.driver.stop(instance_id)
            await self._launch(doc)
            with self.store.tx():
                fresh = self._get(key)
                if fresh is not None:
                    fresh["rebooted"] = doc["reboots"]
                    self.save(fresh)
            return CHECK_RUNNING
        if self.driver.running(instance_id):
            if adopting:
                await self.metadata.ensure(self.driver)
            await self._apply_ingress(doc)
            return CHECK_RUNNING
        if adopting:
            # gureum (re)started: boot the instance again, as a host that rebooted.
            await self._launch(doc)
            return CHECK_RUNNING
        await self.driver.stop(instance_id)  # clean what the dead init left
        self._transition(key, "running", state="stopped", state_reason=[
            "Client.InstanceInitiatedShutdown",
            "Client.InstanceInitiatedShutdown: Instance initiated shutdown"])
        return None
