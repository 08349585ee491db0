"""What every EC2 operation module shares: the compute driver, the store kinds,
the instance loop's name, and reading instances with AWS's errors."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from gureum.drivers.compute import ComputeDriver, NetworkPlan, NoFreeNetwork
from gureum.errors import AWSError

from ..base import Call, Env, Service
from ..billing.runs import note_run

INSTANCE = "ec2:instance"
KEYPAIR = "ec2:keypair"
TAGS = "ec2:tags"
TEMPLATE = "ec2:launch-template"
SECURITY_GROUP = "ec2:security-group"
VPC = "ec2:vpc"
SUBNET = "ec2:subnet"
IMAGE = "ec2:image"
# Resources stored under their own id, by id prefix (CreateTags and DescribeTags find them).
BY_PREFIX = {"lt": TEMPLATE, "sg": SECURITY_GROUP, "vpc": VPC, "subnet": SUBNET, "ami": IMAGE}
LOOP = "ec2-instances"
MEMBERSHIP_SETTLE = 1.0  # seconds without a group membership change before it is applied
MEMBERSHIP_SETTLE_MAX = 5.0  # ... but no later than this after the first change
SETTLE_KEY = "membership"  # the instance loop's key (with account and region) for it
DRIVER_KEY = "ec2.compute"  # Env.extras: a ComputeDriver to use instead of the host's
_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8}([0-9a-f]{9})?")


@dataclass
class InstanceIndex:
    """Facts about every instance record, as of ``generation`` (see ``EC2Core.index``)."""

    generation: int
    live: int = 0  # records not terminated
    ips: set[str] = field(default_factory=set)  # their addresses
    # (account, region, client token) -> instance ids
    tokens: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    # (account, region) -> running instances and their groups
    running: dict[tuple[str, str], list[tuple[str, set[str]]]] = field(default_factory=dict)
    networks: list[tuple[str, str]] = field(default_factory=list)  # (vpc id, cidr) in use
    # subnet cidr -> how many of its lowest addresses are all in ``ips``
    scan_from: dict[str, int] = field(default_factory=dict)


class Facts(NamedTuple):
    """What ``EC2Core.index`` and group membership read of an instance record."""

    account: str
    region: str
    token: str | None
    state: str
    ip: str
    vpc_id: str | None
    cidr: str | None  # its network's, if not the default's
    groups: frozenset[str]

    @classmethod
    def of(cls, d: dict[str, Any]) -> Facts:
        network = d.get("network")
        return cls(d["account"], d["region"], d.get("client_token") or None, d["state"],
                   d["ip"], d.get("vpc_id"), network["cidr"] if network else None,
                   frozenset(g["GroupId"] for g in d.get("security_groups") or []))


def _index_step(index: InstanceIndex, instance_id: str, before: Facts | None,
                after: Facts) -> bool:
    """Bring ``index`` up to one record's save, if that is simple (a new record, or
    one whose address, network, token and liveness stay): a launch's saves (new,
    then running) update it without a pass over every record. False: rebuild."""
    if before is not None and (
            before[:3] != after[:3] or before.ip != after.ip or before.vpc_id != after.vpc_id
            or before.cidr != after.cidr
            or (before.state == "terminated") != (after.state == "terminated")):
        return False
    key = (after.account, after.region)
    if before is None:
        if after.token:
            index.tokens.setdefault((*key, after.token), []).append(instance_id)
        if after.state == "terminated":
            return True
        if after.ip in index.ips:  # (shared: a rebuild counts it right)
            return False
        index.live += 1
        index.ips.add(after.ip)
        if after.cidr:
            index.networks.append((after.vpc_id or "", after.cidr))
    elif before.state == "running":
        running = index.running.get(key, [])
        running[:] = [r for r in running if r[0] != instance_id]
    if after.state == "running":
        index.running.setdefault(key, []).append((instance_id, set(after.groups)))
    return True


def make_driver(env: Env) -> ComputeDriver:
    given = env.extras.get(DRIVER_KEY)
    if given is not None:
        driver: ComputeDriver = given
        return driver
    state_dir = Path(env.settings.data_dir) / "ec2"
    if os.geteuid() == 0 and shutil.which("ip") and Path("/proc/self/ns/net").exists():
        from gureum.drivers.compute.namespaces import NamespaceDriver
        from gureum.drivers.names import GuestNames

        namespaced = NamespaceDriver(state_dir, ranges=tuple(env.settings.instance_ranges),
                                     cache_dir=Path(env.settings.cache_dir))
        if isinstance(env.names, GuestNames):  # names resolve inside instances too
            namespaced.guest_names = env.names
            env.names.watch(namespaced.guests_dir)
        return namespaced
    from gureum.drivers.compute.processes import ProcessDriver

    return ProcessDriver(state_dir)


def check_instance_id(instance_id: str) -> None:
    if not isinstance(instance_id, str) or not _INSTANCE_ID.fullmatch(instance_id):
        raise AWSError("InvalidInstanceID.Malformed", f'Invalid id: "{instance_id}"')


def loop_key(account: str, region: str, instance_id: str) -> str:
    return f"{account}|{region}|{instance_id}"


class EC2Core(Service):
    """State and helpers of the EC2 service; operations live in mixins."""

    kinds = (INSTANCE, KEYPAIR, TAGS, TEMPLATE, SECURITY_GROUP, VPC, SUBNET, IMAGE)

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.driver: ComputeDriver = make_driver(env)

    @property
    def store(self) -> Any:
        return self.env.store

    def host_network(self) -> NetworkPlan:
        """The instance network of this host (the default VPC's range).

        When the host has no range left to give it (every candidate routed by
        the host or claimed by another gureum), the calls that need the default
        VPC answer AWS's capacity error (a server error, 500) and create nothing."""
        try:
            return self.driver.network()
        except NoFreeNetwork as exc:
            raise AWSError("InsufficientInstanceCapacity",
                           f"There is not enough capacity to fulfill your request: {exc}",
                           500, sender=False) from None

    def now(self) -> float:
        now: float = self.env.clock.now()
        return now

    def wake(self, account: str, region: str, instance_id: str, after: float = 0.0) -> None:
        if LOOP in self.env.loops:
            self.env.loops.wake(LOOP, loop_key(account, region, instance_id), after=after)

    def publish_names(self, docs: list[dict[str, Any]]) -> None:
        """New instances' private DNS names are to resolve (see ``Lifecycle``)."""

    def launching(self, docs: list[dict[str, Any]]) -> None:
        """New instances' records as just saved, for the instance loop's first
        look at them (see ``Lifecycle``)."""

    def instance(self, call: Call, instance_id: str) -> dict[str, Any]:
        check_instance_id(instance_id)
        doc: dict[str, Any] | None = self.store.resources.get(
            INSTANCE, call.account, call.region, instance_id
        )
        if doc is None:
            raise AWSError(
                "InvalidInstanceID.NotFound", f"The instance ID '{instance_id}' does not exist"
            )
        return doc

    def instances(self, call: Call, ids: list[str] | None) -> list[dict[str, Any]]:
        if ids:
            for i in ids:
                check_instance_id(i)
            docs = []
            missing = []
            for i in dict.fromkeys(ids):
                doc = self.store.resources.get(INSTANCE, call.account, call.region, i)
                if doc is None:
                    missing.append(i)
                else:
                    docs.append(doc)
            if missing:
                which = ", ".join(f"'{m}'" for m in missing)
                noun = "IDs" if len(missing) > 1 else "ID"
                verb = "do" if len(missing) > 1 else "does"
                raise AWSError("InvalidInstanceID.NotFound", f"The instance {noun} {which} "
                               f"{verb} not exist")
            return docs
        found: list[dict[str, Any]] = self.store.resources.list(
            INSTANCE, call.account, call.region
        )
        return found

    # Bumped by every instance write: caches derived from instance records
    # (``index()``) are valid while it stays the same.
    generation = 0
    _index: InstanceIndex | None = None
    # Bumped only by writes that change what security group membership depends
    # on (an address, the groups, terminated or not): the members of each group
    # (every member's rules list them) are read again only then, not at each
    # pending -> running of a burst of launches.
    membership_generation = 0
    # Bumped by every change of security group rules or of other services' group
    # members (``groups_changed``).
    rules_generation = 0

    # What ``index()`` and group membership need of each instance record, kept in
    # step with ``save``: read from the store once, not decoded again per launch.
    _facts: dict[str, Facts] | None = None
    _facts_rollbacks = 0

    def facts(self) -> dict[str, Facts]:
        """Instance id -> its record's facts (see ``Facts``)."""
        rollbacks = getattr(self.store, "rollbacks", 0)
        if self._facts is None or self._facts_rollbacks != rollbacks:
            self._facts = {d["id"]: Facts.of(d) for d in self.store.resources.list(INSTANCE)}
            self._facts_rollbacks = rollbacks
        return self._facts

    # Writes of each instance record (``written``), and of all of them at once
    # (deletions, a reset): whether a record read before an ``await`` is still
    # the stored one (see ``unchanged_since``).
    _writes: dict[str, int] | None = None
    _writes_epoch = 0

    def written(self, instance_id: str) -> None:
        """An instance record was written (by ``save``, or directly)."""
        if self._writes is None:
            self._writes = {}
        self._writes[instance_id] = self._writes.get(instance_id, 0) + 1

    def write_mark(self, instance_id: str) -> tuple[int, int, int]:
        """A mark of the record's writes so far: the same later means no write
        of it came between (nor any rollback)."""
        return (self._writes_epoch, getattr(self.store, "rollbacks", 0),
                (self._writes or {}).get(instance_id, 0))

    def save(self, doc: dict[str, Any]) -> None:
        # Its starts and stops, which the meter bills by the second.
        note_run(doc, self.now(), doc.get("state") == "running", str(doc.get("type", "")))
        self.store.resources.put(INSTANCE, doc["account"], doc["region"], doc["id"], doc)
        self.written(doc["id"])
        current = self._index is not None and self._index.generation == self.generation
        self.generation += 1
        if self._facts is not None:
            facts = Facts.of(doc)
            before = self._facts.get(doc["id"])
            self._facts[doc["id"]] = facts
            if current and self._index is not None and _index_step(
                    self._index, doc["id"], before, facts):
                self._index.generation = self.generation
        seen: dict[str, tuple[Any, ...]] = self.__dict__.setdefault("_membership", {})
        member = (doc["state"] == "terminated", doc.get("ip"),
                  tuple(sorted(g["GroupId"] for g in doc.get("security_groups") or [])))
        if seen.get(doc["id"]) != member:
            seen[doc["id"]] = member
            self.membership_generation += 1

    def records_changed(self) -> None:
        """Instance records were written other than by ``save`` (deleted, reset)."""
        self._writes_epoch += 1
        self.generation += 1
        self.membership_generation += 1
        self.__dict__.pop("_membership", None)
        self._facts = None

    def index(self) -> InstanceIndex:
        """What RunInstances and friends ask of all instance records, read in one
        pass per change of the records (not one pass per question)."""
        rollbacks = getattr(self.store, "rollbacks", 0)
        if (self._index is None or self._index.generation != self.generation
                or self._facts_rollbacks != rollbacks):
            found = InstanceIndex(self.generation)
            for instance_id, f in self.facts().items():
                key = (f.account, f.region)
                if f.token:
                    found.tokens.setdefault((*key, f.token), []).append(instance_id)
                if f.state == "terminated":
                    continue
                found.live += 1
                found.ips.add(f.ip)
                if f.cidr:
                    found.networks.append((f.vpc_id or "", f.cidr))
                if f.state == "running":
                    found.running.setdefault(key, []).append((instance_id, set(f.groups)))
            self._index = found
        return self._index

    def group_member_ips(self, account: str, region: str, group_id: str) -> list[str]:
        """The addresses (/32) of the instances (not terminated) in a group."""
        return sorted({f"{f.ip}/32" for f in self.facts().values()
                       if f.account == account and f.region == region
                       and f.state != "terminated" and group_id in f.groups})

    def wake_members(self, account: str, region: str, affected: set[str] | None) -> None:
        """Wake the running instances in one of the ``affected`` groups (None: all)."""
        for instance_id, groups in self.index().running.get((account, region), []):
            if affected is None or groups & affected:
                self.wake(account, region, instance_id)

    @property
    def settling(self) -> dict[tuple[str, str], tuple[float, float, set[str]]]:
        """(account, region) -> (first change, last change, groups) not yet applied."""
        found: dict[tuple[str, str], tuple[float, float, set[str]]] = self.__dict__.setdefault(
            "_settling", {})
        return found

    def settle_members(self, account: str, region: str) -> float | None:
        """Apply the settled membership changes; or say when to look again."""
        pending = self.settling.get((account, region))
        if pending is None:
            return None
        first, last, groups = pending
        now: float = self.env.clock.monotonic()
        if now - last < MEMBERSHIP_SETTLE and now - first < MEMBERSHIP_SETTLE_MAX:
            return MEMBERSHIP_SETTLE - (now - last)
        del self.settling[(account, region)]
        self.wake_members(account, region, groups)
        return None
