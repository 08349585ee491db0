"""The node loop: keeps each cache node's Redis process as its record says.

creating → (process answers) → available; modifying → (maxmemory set live) →
available; a reboot restarts the process (a cache comes back empty, as on
AWS); deleting → process and directory gone, address released, record
deleted. A process that dies is restarted (empty), except the primary of a
group with automatic failover, which waits for the group loop to promote a
replica, and a cluster-mode primary, which waits until the cluster has
failed over, so that a restarted empty node never overwrites its replicas.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gureum.drivers.redis import NodeSpec, RedisError

from ..common.ingress import shared
from .catalog import maxmemory, vcpus
from .core import NODE, key, node_name, split
from .groups import GroupOperations
from .params import PARAMETERS, effective

log = logging.getLogger("gureum.elasticache")

CHECK = 2.0
HOLD = 0.25
HOLD_MAX = 30.0
SETTLING = ("creating", "modifying", "rebooting cache cluster nodes")


class NodeLoop(GroupOperations):
    _seen: set[str]
    _dead_since: dict[str, float]
    _keys: dict[str, tuple[str, str, str]]

    def setup_nodes(self) -> None:
        self._seen = set()
        self._dead_since = {}
        self._keys = {}
        self.driver.on_exit = self._exited

    def _exited(self, driver_id: str) -> None:
        found = self._keys.get(driver_id)
        if found is None:
            return
        account, region, id = found
        self.wake_node(account, region, id)
        doc = self.find_node(account, region, id)
        if doc is not None and doc.get("group"):
            self.wake_group(account, region, doc["group"])

    def node_spec(self, doc: dict[str, Any], group: dict[str, Any] | None) -> NodeSpec:
        replica_of = None
        if group is not None and not group["cluster_mode"]:
            shard = group["shards"][0]
            if shard["primary"] != doc["id"]:
                primary = self.find_node(doc["account"], doc["region"], shard["primary"])
                if primary is not None:
                    replica_of = (primary["address"], int(primary["port"]))
        return NodeSpec(
            id=self.driver_id(doc), address=doc["address"], port=int(doc["port"]),
            maxmemory=maxmemory(doc["node_type"]), cluster=bool(doc.get("cluster_mode")),
            replica_of=replica_of, config=self.node_config(doc, group),
            cpus=float(vcpus(doc["node_type"])),
            seed=Path(doc["seed"]) if doc.get("seed") else None,
        )

    def node_config(self, doc: dict[str, Any], group: dict[str, Any] | None) -> dict[str, str]:
        name = (group or doc).get("parameter_group") or doc["parameter_group"]
        return effective(self.store, doc["account"], doc["region"], name)

    async def _apply_config(self, id: str, old: Mapping[str, str],
                            new: Mapping[str, str]) -> None:
        for name in sorted(set(old) | set(new)):
            value = new.get(name, PARAMETERS[name].default if name in PARAMETERS else None)
            if value is not None and old.get(name) != new.get(name):
                await self.driver.call(id, "CONFIG", "SET", name, value)

    async def _hold(self, doc: dict[str, Any], group: dict[str, Any] | None,
                    spec: NodeSpec) -> bool:
        """Whether a dead node must wait before it is restarted empty."""
        if group is None or spec.id not in self._seen or doc["status"] == "creating":
            return False
        now = self.env.clock.monotonic()
        since = self._dead_since.setdefault(spec.id, now)
        if now - since > HOLD_MAX:
            return False
        shard = next((s for s in group["shards"] if doc["id"] in s["members"]), None)
        if shard is None:
            return False
        others = [self.driver_id({**doc, "id": m}) for m in shard["members"] if m != doc["id"]]
        alive = [o for o in others if self.driver.running(o)]
        if not alive:
            return False
        if not group["cluster_mode"]:
            return bool(group["auto_failover"]) and shard["primary"] == doc["id"]
        with contextlib.suppress(RedisError):
            node_id = await self.driver.cluster_id(spec.id)
            for peer in alive:
                view = {n.node_id: n for n in await self.driver.cluster_nodes(peer)}
                me = view.get(node_id)
                return me is not None and me.primary and bool(me.slots)
        return False

    async def reconcile_node(self, k: str) -> float | None:
        account, region, id = split(k)
        doc = self.find_node(account, region, id)
        if doc is None:
            return None
        spec_id = self.driver_id(doc)
        self._keys[spec_id] = (account, region, id)
        group = self.find_group(account, region, doc["group"]) if doc.get("group") else None
        if doc["status"] == "deleting":
            await self._delete(doc, group)
            return None
        spec = self.node_spec(doc, group)
        # On the host before it listens there, and again if the bridge went
        # (a no-op once placed).
        await self.private.place(doc["address"])
        if not self.driver.running(spec.id):
            if await self._hold(doc, group, spec):
                if group is not None:
                    self.wake_group(account, region, group["id"])
                return HOLD
            restarted = spec.id in self._seen
            await shared(self.env).ensure()  # (and its groups guard it)
            await self.driver.start(spec)
            self._seen.add(spec.id)
            self._dead_since.pop(spec.id, None)
            self.env.names.add(node_name(doc), doc["address"])
            if restarted:
                self.event(account, region, id, "cache-cluster",
                           "Cache node 0001 restarted after its process exited")
        else:
            self._seen.add(spec.id)
            current = self.driver.spec(spec.id)
            if current is not None and not spec.cluster and current.replica_of != spec.replica_of:
                await self.driver.replicate(spec.id, spec.replica_of)
                await self.driver.start(spec)
            if current is not None and current.maxmemory != spec.maxmemory:
                await self.driver.call(spec.id, "CONFIG", "SET", "maxmemory", spec.maxmemory)
                await self.driver.start(spec)
            if current is not None and dict(current.config) != dict(spec.config):
                await self._apply_config(spec.id, current.config, spec.config)
                await self.driver.start(spec)
        if doc.get("rebooted", 0) < doc.get("reboots", 0):
            await self.driver.stop(spec.id)
            await self.driver.start(spec)
            self._update(k, rebooted=doc["reboots"])
            self.event(account, region, id, "cache-cluster", "Cache node 0001 restarted")
        if doc["status"] in SETTLING:
            if self._update(k, expected=doc["status"], status="available") and \
                    doc["status"] == "creating":
                self.event(account, region, id, "cache-cluster", "Cache cluster created")
            if group is not None:
                self.wake_group(account, region, group["id"])
        return CHECK

    def _update(self, k: str, expected: str | None = None, **changes: Any) -> bool:
        account, region, id = split(k)
        with self.store.tx():
            doc = self.find_node(account, region, id)
            if doc is None or (expected is not None and doc["status"] != expected):
                return False
            if expected is not None and doc.get("rebooted", 0) < doc.get("reboots", 0):
                return False  # a reboot was asked meanwhile: the next run settles it
            doc.update(changes)
            self.save_node(doc)
            return True

    async def _delete(self, doc: dict[str, Any], group: dict[str, Any] | None) -> None:
        spec_id = self.driver_id(doc)
        if doc.get("final_snapshot"):
            await self.take_snapshot(doc["account"], doc["region"], doc["final_snapshot"])
        if group is not None and group.get("final_snapshot"):
            await self.take_snapshot(doc["account"], doc["region"], group["final_snapshot"])
        if doc.get("cluster_mode") and group is not None and self.driver.running(spec_id):
            others = [self.driver_id(m) for m in self.members(group) if m["id"] != doc["id"]]
            with contextlib.suppress(RedisError):
                await self.driver.cluster_forget(
                    [o for o in others if self.driver.running(o)], spec_id)
        await self.driver.destroy(spec_id)
        self.env.names.remove(node_name(doc))
        await self.private.release(self.address_owner(doc))
        shared(self.env).wake()
        self._seen.discard(spec_id)
        self._keys.pop(spec_id, None)
        with self.store.tx():
            self.store.resources.delete(NODE, doc["account"], doc["region"], doc["id"])
            self.env.addresses.release(self.address_owner(doc))
            self.event(doc["account"], doc["region"], doc["id"], "cache-cluster",
                       "Cache cluster deleted")
        if group is not None:
            self.wake_group(doc["account"], doc["region"], group["id"])

    async def resync_nodes(self) -> list[str]:
        docs = self.store.resources.list(NODE)
        known = {self.driver_id(d) for d in docs}
        await self.private.release_orphans({self.address_owner(d) for d in docs})
        for orphan in self.driver.nodes():
            if orphan not in known:
                log.info("removing redis node %s that no cache cluster owns", orphan)
                await self.driver.destroy(orphan)
        return [key(d["account"], d["region"], d["id"]) for d in docs]
