"""The replication group loop: forms groups, watches primaries, fails over,
runs resizes and reshards, and points the group's endpoint names.

Cluster mode disabled: gureum is the sentinel. A primary whose process died
(or that stops answering) is replaced by the replica with the most
replicated data (``REPLICAOF NO ONE``); the other nodes follow it and the
primary endpoint name moves to it. Cluster mode enabled: Redis Cluster fails
over by itself; the loop reads the cluster's view and records who is primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gureum.drivers.redis import RedisError, Shard

from .core import GROUP, group_name, key, split
from .nodes import NodeLoop

log = logging.getLogger("gureum.elasticache")

POLL = 0.5
MISSES = 3  # unanswered pings before a running primary is failed over


class GroupLoop(NodeLoop):
    _misses: dict[str, int]

    def setup_groups(self) -> None:
        self._misses = {}

    def _did(self, group: dict[str, Any], member: str) -> str:
        return self.driver_id({"account": group["account"], "region": group["region"],
                               "id": member})

    async def reconcile_group(self, k: str) -> float | None:
        account, region, id = split(k)
        group = self.find_group(account, region, id)
        if group is None:
            return None
        members = {m["id"]: m for m in self.members(group)}
        if group["status"] == "deleting":
            return await self._delete_group(group, members)
        if group["status"] == "creating":
            if any(m["status"] != "available" for m in members.values()):
                return 0.1
            if group["cluster_mode"]:
                await self.driver.cluster_form([self._shard(group, s) for s in group["shards"]])
            if self._set_group(k, "creating", status="available"):
                self.event(account, region, id, "replication-group",
                           f"Replication group {id} is available")
            group["status"] = "available"
        if group["cluster_mode"]:
            await self._observe_cluster(k, group, members)
        else:
            await self._watch_primary(k, group, members)
        group = self.find_group(account, region, id) or group
        if group.get("task"):
            await self._run_task(k, group)
            group = self.find_group(account, region, id) or group
        self._point_names(group)
        return POLL

    def _shard(self, group: dict[str, Any], shard: dict[str, Any]) -> Shard:
        replicas = tuple(self._did(group, m) for m in shard["members"] if m != shard["primary"])
        return Shard(self._did(group, shard["primary"]), replicas,
                     tuple((a, b) for a, b in shard["slots"]))

    def _set_group(self, k: str, expected: str | None = None, **changes: Any) -> bool:
        account, region, id = split(k)
        with self.store.tx():
            group = self.find_group(account, region, id)
            if group is None or (expected is not None and group["status"] != expected):
                return False
            group.update(changes)
            self.save_group(group)
            return True

    # -- cluster mode disabled ------------------------------------------------

    async def _watch_primary(self, k: str, group: dict[str, Any],
                             members: dict[str, dict[str, Any]]) -> None:
        shard = group["shards"][0]
        primary = self._did(group, shard["primary"])
        if primary not in self._seen or not group["auto_failover"]:
            return  # not started by this gureum yet, or a restart is AWS's answer
        if self.driver.running(primary):
            try:
                await self.driver.call(primary, "PING", timeout=1.0)
                self._misses.pop(k, None)
                return
            except RedisError:
                self._misses[k] = self._misses.get(k, 0) + 1
                if self._misses[k] < MISSES:
                    return
        self._misses.pop(k, None)
        await self._failover(k, group, shard, graceful=False)

    async def _failover(self, k: str, group: dict[str, Any], shard: dict[str, Any],
                        graceful: bool) -> bool:
        old = shard["primary"]
        best, best_offset = None, -1
        for m in shard["members"]:
            if m == old or not self.driver.running(self._did(group, m)):
                continue
            with contextlib.suppress(RedisError):
                info = await self.driver.replication(self._did(group, m))
                offset = int(info.get("slave_repl_offset", info.get("master_repl_offset", 0)))
                if offset > best_offset:
                    best, best_offset = m, offset
        if best is None:
            return False
        target = self._did(group, best)
        promoted = False
        if graceful and self.driver.running(self._did(group, old)):
            spec = self.driver.spec(target)
            with contextlib.suppress(RedisError):
                assert spec is not None
                await self.driver.call(self._did(group, old), "FAILOVER", "TO", spec.address,
                                       spec.port, "TIMEOUT", 5000)
                for _ in range(200):
                    if (await self.driver.replication(target)).get("role") == "master":
                        promoted = True
                        break
                    await asyncio.sleep(0.05)
        if not promoted:
            await self.driver.replicate(target, None)
        account, region, id = split(k)
        with self.store.tx():
            fresh = self.find_group(account, region, id)
            if fresh is None:
                return False
            for s in fresh["shards"]:
                if s["id"] == shard["id"]:
                    s["primary"] = best
            self.save_group(fresh)
            self.event(account, region, id, "replication-group",
                       f"Failover from primary node {old} to replica node {best} completed")
            shard["primary"] = best
        log.info("replication group %s: %s promoted in place of %s", id, best, old)
        self._point_names(fresh)
        for m in shard["members"]:
            self.wake_node(account, region, m)
        return True

    # -- cluster mode enabled -------------------------------------------------

    async def _view(self, group: dict[str, Any]) -> tuple[dict[str, str], list[Any]] | None:
        """(redis node id → member id, one live node's CLUSTER NODES)."""
        ids: dict[str, str] = {}
        view = None
        for shard in group["shards"]:
            for m in shard["members"]:
                did = self._did(group, m)
                if not self.driver.running(did):
                    continue
                with contextlib.suppress(RedisError):
                    ids[await self.driver.cluster_id(did)] = m
                    if view is None:
                        view = await self.driver.cluster_nodes(did)
        return None if view is None else (ids, view)

    async def _take_over(self, group: dict[str, Any]) -> None:
        """Promote a replica of every shard whose primary process died.

        Redis Cluster elects a new primary only when a majority of primaries
        agree that the old one failed, which a group of one or two shards
        never reaches; gureum, which saw the process exit, decides instead
        (``CLUSTER FAILOVER TAKEOVER`` needs no agreement)."""
        for shard in group["shards"]:
            primary = self._did(group, shard["primary"])
            if primary not in self._seen or self.driver.running(primary):
                continue
            best, best_offset = None, -1
            for m in shard["members"]:
                did = self._did(group, m)
                if m == shard["primary"] or not self.driver.running(did):
                    continue
                with contextlib.suppress(RedisError):
                    info = await self.driver.replication(did)
                    if info.get("role") == "master":
                        best = None
                        break  # already promoted
                    offset = int(info.get("slave_repl_offset", 0))
                    if offset > best_offset:
                        best, best_offset = did, offset
            if best is None:
                continue
            await self.driver.call(best, "CLUSTER", "FAILOVER", "TAKEOVER")
            for _ in range(100):
                if (await self.driver.replication(best)).get("role") == "master":
                    break
                await asyncio.sleep(0.05)

    async def _observe_cluster(self, k: str, group: dict[str, Any],
                               members: dict[str, dict[str, Any]]) -> None:
        await self._take_over(group)
        found = await self._view(group)
        if found is None:
            return
        ids, view = found
        primaries = {ids[n.node_id]: n for n in view
                     if n.node_id in ids and n.primary and not n.failed and n.slots}
        account, region, id = split(k)
        changed = []
        with self.store.tx():
            fresh = self.find_group(account, region, id)
            if fresh is None:
                return
            for shard in fresh["shards"]:
                now = next((m for m in shard["members"] if m in primaries), None)
                if now is not None and now != shard["primary"]:
                    changed.append((shard["primary"], now))
                    shard["primary"] = now
                if now is not None and (fresh.get("task") or {}).get("op") != "reshard":
                    shard["slots"] = [list(r) for r in primaries[now].slots]
            if changed:
                for old, new in changed:
                    self.event(account, region, id, "replication-group",
                               f"Failover from primary node {old} to replica node {new} "
                               "completed")
            self.save_group(fresh)

    # -- tasks ------------------------------------------------------------

    async def _run_task(self, k: str, group: dict[str, Any]) -> None:
        task = group["task"]
        members = self.members(group)
        if task["op"] == "scale":
            if any(m["status"] != "available" for m in members):
                return
            if group["cluster_mode"]:
                await self._join_new_replicas(group)
            self._finish(k, "Modification of the replication group completed")
        elif task["op"] == "failover":
            shard = next(s for s in group["shards"] if s["id"] == task["shard"])
            if group["cluster_mode"]:
                await self._cluster_failover(group, shard)
                await self._observe_cluster(k, group, {m["id"]: m for m in members})
            else:
                await self._failover(k, group, shard, graceful=True)
            self._finish(k, f"Test failover of node group {shard['id']} completed")
        elif task["op"] == "reshard":
            if any(m["status"] != "available" for m in members):
                return
            await self._reshard(k, group, task)

    def _finish(self, k: str, message: str) -> None:
        account, region, id = split(k)
        if self._set_group(k, "modifying", status="available", task=None):
            self.event(account, region, id, "replication-group", message)

    async def _join_new_replicas(self, group: dict[str, Any]) -> None:
        found = await self._view(group)
        if found is None:
            return
        ids, view = found
        known = {ids[n.node_id] for n in view if n.node_id in ids}
        for shard in group["shards"]:
            new = tuple(self._did(group, m) for m in shard["members"] if m not in known)
            if new:
                primary = self._did(group, shard["primary"])
                await self.driver.cluster_join(primary, [Shard(primary, new, ())])

    async def _cluster_failover(self, group: dict[str, Any], shard: dict[str, Any]) -> None:
        for m in shard["members"]:
            did = self._did(group, m)
            if m == shard["primary"] or not self.driver.running(did):
                continue
            await self.driver.call(did, "CLUSTER", "FAILOVER")
            for _ in range(200):
                me = next(n for n in await self.driver.cluster_nodes(did) if n.myself)
                if me.primary:
                    return
                await asyncio.sleep(0.05)
            return

    async def _reshard(self, k: str, group: dict[str, Any], task: dict[str, Any]) -> None:
        account, region, id = split(k)
        kept = [s for s in group["shards"] if s["id"] not in task["remove"]
                and s["id"] not in task["add"]]
        via = self._did(group, kept[0]["primary"])
        if task["add"]:
            new = [self._shard(group, s) for s in group["shards"] if s["id"] in task["add"]]
            await self.driver.cluster_join(via, new)
            await self.driver.cluster_rebalance(via, {})
        if task["remove"]:
            removed = [s for s in group["shards"] if s["id"] in task["remove"]]
            weights = {self._did(group, s["primary"]): 0.0 for s in removed}
            await self.driver.cluster_rebalance(via, weights)
            with self.store.tx():
                for s in removed:
                    for m in s["members"]:
                        node = self.find_node(account, region, m)
                        if node is not None:
                            node["status"] = "deleting"
                            self.save_node(node)
                fresh = self.find_group(account, region, id)
                if fresh is not None:
                    fresh["shards"] = [s for s in fresh["shards"]
                                       if s["id"] not in task["remove"]]
                    self.save_group(fresh)
            for s in removed:
                for m in [x for x in s["members"] if x != s["primary"]] + [s["primary"]]:
                    self.wake_node(account, region, m)
        with self.store.tx():
            fresh = self.find_group(account, region, id)
            if fresh is not None:
                for s in fresh["shards"]:
                    s.pop("new", None)
                fresh["task"] = None
                self.save_group(fresh)
        fresh = self.find_group(account, region, id)
        if fresh is not None:
            await self._observe_cluster(k, fresh, {})
        if self._set_group(k, "modifying", status="available"):
            self.event(account, region, id, "replication-group",
                       f"Resharding of replication group {id} completed")

    # -- names and deletion ---------------------------------------------------

    def _point_names(self, group: dict[str, Any]) -> None:
        def address(member: str | None) -> str | None:
            if member is None:
                return None
            doc = self.find_node(group["account"], group["region"], member)
            return None if doc is None else str(doc["address"])

        if group["cluster_mode"]:
            live = [s["primary"] for s in group["shards"]
                    if self.driver.running(self._did(group, s["primary"]))]
            target = address(live[0] if live else group["shards"][0]["primary"])
            if target:
                self.env.names.add(group_name("clustercfg", group), target)
            return
        shard = group["shards"][0]
        primary = address(shard["primary"])
        if primary is None:
            return
        self.env.names.add(group_name("master", group), primary)
        readers = [m for m in shard["members"] if m != shard["primary"]
                   and self.driver.running(self._did(group, m))]
        self.env.names.add(group_name("replica", group), address(readers[0]) if readers
                           else primary)

    async def _delete_group(self, group: dict[str, Any],
                            members: dict[str, dict[str, Any]]) -> float | None:
        account, region, id = group["account"], group["region"], group["id"]
        with self.store.tx():
            for m in members.values():
                if m["status"] != "deleting":
                    m["status"] = "deleting"
                    self.save_node(m)
        for mid in members:
            self.wake_node(account, region, mid)
        if members:
            return 0.2
        for kind in ("master", "replica", "clustercfg"):
            self.env.names.remove(group_name(kind, group))
        with self.store.tx():
            self.store.resources.delete(GROUP, account, region, id)
            self.event(account, region, id, "replication-group",
                       f"Replication group {id} deleted")
        return None

    async def resync_groups(self) -> list[str]:
        return [key(g["account"], g["region"], g["id"])
                for g in self.store.resources.list(GROUP)]
