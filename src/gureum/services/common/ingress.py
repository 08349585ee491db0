"""VPC security groups of data-tier endpoints (DB instances, cache nodes),
enforced on the host for connections from instances.

A DB instance's ``VpcSecurityGroupIds`` (a cache's ``SecurityGroupIds``)
say which instances may connect to it, as an instance's groups say who may
connect to the instance: EC2 turns the groups' ingress rules into rule
tuples (``ec2.secgroups.instance_ingress``: a rule naming a group lets in
that group's members, instances and other services' addresses). Instances
enforce theirs inside their own namespaces; an engine listens on an address
the host holds (``common.private``), so its filter is on the host: one
nftables table per gureum (``gureum.drivers.hostfw``) that lets in, on the
endpoint's address and port, only the sources its groups allow. Programs on
the host itself (psql, redis-cli, gureum's own checks) are not filtered.

Services register a source of their endpoints (``add``); one loop
(``LOOP``) rewrites the table when what the groups allow changes: at once
when an endpoint comes or goes (``wake``), and within ``EVERY`` seconds of a
rule or a membership change. The table goes when the last source is removed
(gureum stops) and when no endpoint is left. Without an instance network
(loopback addresses), without root or without ``nft``, nothing is enforced.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from typing import Any, NamedTuple

from gureum.control import Loop
from gureum.drivers.hostfw import Endpoint, HostFirewall, NftHostFirewall, table_name

from ..base import Env
from .private import PrivateAddresses

log = logging.getLogger("gureum.ingress")

KEY = "data.ingress"  # Env.extras: the one DataIngress of this gureum
FIREWALL_KEY = "data.firewall"  # Env.extras: a HostFirewall to use instead of nftables
MEMBERS_KEY = "ec2.group-members"  # EC2's registry of non-instance group members
LOOP = "data-ingress"
EVERY = 2.0
MEMBERS_FRESH = 1.0


class Guarded(NamedTuple):
    """An endpoint and the VPC security groups that guard it."""

    address: str
    port: int
    account: str
    region: str
    groups: list[str]
    also: tuple[int, ...] = ()  # other ports of the server, filtered as ``port`` is


Source = Callable[[], list[Guarded]]


def shared(env: Env) -> DataIngress:
    found: DataIngress = env.extras.setdefault(KEY, DataIngress(env))
    return found


class DataIngress:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.sources: dict[str, Source] = {}
        self._firewall: HostFirewall | None = None
        # (account, region, group) -> its endpoints' addresses, made again at
        # most every MEMBERS_FRESH s or after a wake: EC2 asks for every rule
        # naming a group of every instance whose ingress it computes.
        self._members: dict[tuple[str, str, str], list[str]] | None = None
        self._members_at = 0.0
        self._network = PrivateAddresses(env, "")  # (only to find the instance network)

    def add(self, name: str, source: Source) -> None:
        self.sources[name] = source
        hooks = self.env.extras.setdefault(MEMBERS_KEY, [])
        if self.group_members not in hooks:
            hooks.append(self.group_members)
        if LOOP not in self.env.loops:
            self.env.loops.add(Loop(LOOP, self.reconcile, clock=self.env.clock,
                                    resync=self._resync, resync_interval=60.0,
                                    concurrency=1, backoff_max=EVERY))
        self.wake()

    async def remove(self, name: str) -> None:
        """Forget ``name``'s endpoints; the last one gone takes the table away."""
        self.sources.pop(name, None)
        hooks = self.env.extras.get(MEMBERS_KEY) or []
        if not self.sources and self.group_members in hooks:
            hooks.remove(self.group_members)
        if not self.sources and self._firewall is not None:
            try:
                await self._firewall.clear()
            except OSError as exc:
                log.warning("could not remove the data-tier ingress filter: %s", exc)

    def group_members(self, account: str, region: str, group_id: str) -> list[str]:
        """The endpoints in ``group_id`` as its members (EC2 asks: a group in use
        cannot be deleted, and rules naming it let them in)."""
        now = float(self.env.clock.monotonic())
        if self._members is None or now - self._members_at > MEMBERS_FRESH:
            members: dict[tuple[str, str, str], list[str]] = {}
            for source in list(self.sources.values()):
                for g in source():
                    for gid in g.groups:
                        members.setdefault((g.account, g.region, gid), []).append(
                            f"{g.address}/32")
            self._members, self._members_at = members, now
        return list(self._members.get((account, region, group_id), []))

    def wake(self) -> None:
        self._members = None
        if LOOP in self.env.loops:
            self.env.loops.wake(LOOP, "all")

    async def _resync(self) -> list[str]:
        return ["all"]

    async def reconcile(self, key: str) -> float | None:
        firewall = self.firewall()
        if firewall is None:
            return None
        await firewall.apply(self.endpoints())
        return EVERY if self.sources else None

    def firewall(self) -> HostFirewall | None:
        """The host's filter, if endpoints live on an instance network here."""
        given: HostFirewall | None = self.env.extras.get(FIREWALL_KEY)
        if given is not None:
            return given
        if self._firewall is None:
            compute = self._network.compute()
            if compute is None or os.geteuid() != 0 or shutil.which("nft") is None:
                return None
            self._firewall = NftHostFirewall(table_name(str(compute.network().cidr)))
        return self._firewall

    def endpoints(self) -> list[Endpoint]:
        from ..ec2.secgroups import instance_ingress  # (EC2's reading of its groups)

        extra: list[Any] = list(self.env.extras.get(MEMBERS_KEY) or [])
        members: dict[str, list[str]] = {}
        out = []
        for source in list(self.sources.values()):
            for g in source():
                doc = {"account": g.account, "region": g.region,
                       "security_groups": [{"GroupId": x} for x in g.groups]}
                rules = instance_ingress(self.env.store, doc, extra, members)
                out.append(Endpoint(g.address, g.port, rules, g.also))
        return out

    async def ensure(self) -> None:
        """Make the filter current now (before an engine starts listening)."""
        firewall = self.firewall()
        if firewall is not None:
            await firewall.apply(self.endpoints())
