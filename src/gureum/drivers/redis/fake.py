"""An in-memory ``RedisDriver`` for unit tests; it documents the semantics.

Nodes hold a dict of keys; a replica's keys are its primary's. ``kill(id)``
simulates a crash (``on_exit`` is called). Cluster calls keep the slot map.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .base import SLOTS, ClusterNode, NodeSpec, Shard
from .resp import RedisError


class FakeRedis:
    def __init__(self) -> None:
        self.on_exit: Callable[[str], None] | None = None
        self.specs: dict[str, NodeSpec] = {}
        self.alive: set[str] = set()
        self.primary_of: dict[str, tuple[str, int] | None] = {}
        self.data: dict[str, dict[str, str]] = {}
        self.slots: dict[str, list[tuple[int, int]]] = {}
        self.cluster_primary: dict[str, str | None] = {}
        self.starts: list[str] = []
        self.config: dict[str, dict[str, str]] = {}
        self.info: dict[str, dict[str, str]] = {}  # extra ``INFO`` fields a test sets

    def version(self) -> str:
        return "7.0.15"

    async def start(self, spec: NodeSpec) -> None:
        self.specs[spec.id] = spec
        if spec.id in self.alive:
            return
        self.alive.add(spec.id)
        self.starts.append(spec.id)
        self.primary_of[spec.id] = spec.replica_of
        self.data[spec.id] = {}
        self.config[spec.id] = {"maxmemory": str(spec.maxmemory), **spec.config}
        self.slots.setdefault(spec.id, [])

    def kill(self, id: str) -> None:
        self.alive.discard(id)
        if self.on_exit is not None:
            self.on_exit(id)

    def running(self, id: str) -> bool:
        return id in self.alive

    def pid(self, id: str) -> int | None:
        return 1000 + sorted(self.specs).index(id) if id in self.alive else None

    def spec(self, id: str) -> NodeSpec | None:
        return self.specs.get(id)

    async def stop(self, id: str, save: bool = False) -> None:
        self.alive.discard(id)

    async def destroy(self, id: str) -> None:
        self.alive.discard(id)
        self.specs.pop(id, None)
        self.slots.pop(id, None)

    def nodes(self) -> list[str]:
        return sorted(self.specs)

    def _check(self, id: str) -> None:
        if id not in self.alive:
            raise RedisError(f"node {id} is down")

    async def call(self, id: str, *args: Any, timeout: float = 5.0) -> Any:
        self._check(id)
        name = str(args[0]).upper()
        if name == "PING":
            return "PONG"
        if name == "INFO":
            fields = {**await self.replication(id), **self.info.get(id, {})}
            return "\r\n".join(f"{k}:{v}" for k, v in fields.items()) + "\r\n"
        if name == "CONFIG" and str(args[1]).upper() == "SET":
            self.config[id][str(args[2])] = str(args[3])
            return "OK"
        return "OK"

    async def replicate(self, id: str, primary: tuple[str, int] | None) -> None:
        self._check(id)
        self.primary_of[id] = primary

    async def replication(self, id: str) -> dict[str, str]:
        self._check(id)
        primary = self.primary_of.get(id)
        if primary is None:
            return {"role": "master", "master_repl_offset": "100"}
        return {"role": "slave", "master_host": primary[0], "master_port": str(primary[1]),
                "master_link_status": "up", "slave_repl_offset": "100"}

    async def cluster_form(self, shards: list[Shard]) -> None:
        for shard in shards:
            self._check(shard.primary)
            self.slots[shard.primary] = list(shard.slots)
            self.cluster_primary[shard.primary] = None
            for r in shard.replicas:
                self.cluster_primary[r] = shard.primary

    async def cluster_join(self, via: str, shards: list[Shard]) -> None:
        await self.cluster_form(shards)

    async def cluster_rebalance(self, via: str, weights: Mapping[str, float]) -> None:
        primaries = [i for i, p in self.cluster_primary.items() if p is None and i in self.alive]
        weighted = [i for i in primaries if weights.get(i, 1.0) > 0]
        size = SLOTS // len(weighted)
        for id in primaries:
            self.slots[id] = []
        for n, id in enumerate(weighted):
            end = SLOTS - 1 if n == len(weighted) - 1 else (n + 1) * size - 1
            self.slots[id] = [(n * size, end)]

    async def cluster_forget(self, via: list[str], id: str) -> None:
        self.alive.discard(id)
        self.cluster_primary.pop(id, None)

    async def cluster_id(self, id: str) -> str:
        return f"nodeid-{id}"

    async def cluster_nodes(self, id: str) -> list[ClusterNode]:
        self._check(id)
        out = []
        for node, primary in self.cluster_primary.items():
            spec = self.specs[node]
            out.append(ClusterNode(
                node_id=f"nodeid-{node}", address=spec.address, port=spec.port,
                primary=primary is None, primary_id=None if primary is None else
                f"nodeid-{primary}", failed=node not in self.alive,
                slots=tuple(self.slots.get(node, [])), myself=node == id))
        return out

    async def save(self, id: str, dest: Path) -> None:
        self._check(id)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(repr(self.data.get(id, {})))

    async def shutdown(self) -> None:
        self.alive.clear()
