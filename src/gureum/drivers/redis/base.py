"""The ``RedisDriver`` protocol: Redis server processes ("nodes") on this host.

A node is identified by a caller-chosen id and told where to listen, how much
memory it may use, and whom to replicate; the driver knows nothing of AWS.

- ``start(spec)`` starts the node if it is not running (idempotent). The node's
  directory (its RDB file, its cluster ``nodes.conf``) is kept until
  ``destroy``. ``spec.seed`` is an RDB file loaded at the node's first start.
- ``running(id)``: its process is alive. ``on_exit`` is called with the id
  when a process the driver started exits (supervision).
- ``stop(id, save=)`` shuts the node down (writing its RDB file first if
  ``save``); ``destroy(id)`` stops it and deletes its directory. Both succeed
  on unknown nodes.
- ``call(id, *args)`` sends one command to a running node.
- ``replicate(id, primary)`` makes a node a replica of ``(address, port)`` or,
  with ``None``, a primary. ``replication(id)`` is its ``INFO replication``.
- Cluster mode: ``cluster_form`` joins nodes into one cluster with the given
  slot ranges and replicas; ``cluster_join`` adds nodes; ``cluster_rebalance``
  moves slots between primaries (online, by key migration) by weight;
  ``cluster_forget`` removes a node; ``cluster_nodes`` is one node's view.
- ``save(id, dest)`` writes the node's dataset as an RDB file to ``dest``.
- ``shutdown()`` stops every node, saving their data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

SLOTS = 16384
# A cluster node's bus (gossip, failover) listens on its client port + this (Redis's default).
BUS_OFFSET = 10000


@dataclass(frozen=True)
class NodeSpec:
    id: str
    address: str
    port: int
    maxmemory: int
    cluster: bool = False
    replica_of: tuple[str, int] | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    seed: Path | None = None
    cpus: float = 0.0  # a CPU limit (vCPUs) where cgroups can be used; 0: none


@dataclass(frozen=True)
class ClusterNode:
    """One line of ``CLUSTER NODES``, as seen by some node."""

    node_id: str
    address: str
    port: int
    primary: bool
    primary_id: str | None
    failed: bool
    slots: tuple[tuple[int, int], ...]
    myself: bool = False


@dataclass(frozen=True)
class Shard:
    """A primary, its replicas and its slot ranges, for ``cluster_form``."""

    primary: str
    replicas: tuple[str, ...]
    slots: tuple[tuple[int, int], ...]


class RedisDriver(Protocol):
    on_exit: Callable[[str], None] | None

    def version(self) -> str: ...

    async def start(self, spec: NodeSpec) -> None: ...

    def running(self, id: str) -> bool: ...

    def pid(self, id: str) -> int | None: ...

    def spec(self, id: str) -> NodeSpec | None: ...

    async def stop(self, id: str, save: bool = False) -> None: ...

    async def destroy(self, id: str) -> None: ...

    def nodes(self) -> list[str]: ...

    async def call(self, id: str, *args: Any, timeout: float = 5.0) -> Any: ...

    async def replicate(self, id: str, primary: tuple[str, int] | None) -> None: ...

    async def replication(self, id: str) -> dict[str, str]: ...

    async def cluster_form(self, shards: list[Shard]) -> None: ...

    async def cluster_join(self, via: str, shards: list[Shard]) -> None: ...

    async def cluster_rebalance(self, via: str, weights: Mapping[str, float]) -> None: ...

    async def cluster_forget(self, via: list[str], id: str) -> None: ...

    async def cluster_nodes(self, id: str) -> list[ClusterNode]: ...

    async def cluster_id(self, id: str) -> str: ...

    async def save(self, id: str, dest: Path) -> None: ...

    async def shutdown(self) -> None: ...


def parse_cluster_nodes(text: str) -> list[ClusterNode]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        host, _, rest = parts[1].partition(":")
        port = int(rest.split("@")[0].split(",")[0]) if rest else 0
        flags = parts[2].split(",")
        slots: list[tuple[int, int]] = []
        for item in parts[8:]:
            if item.startswith("["):
                continue  # a slot being migrated
            a, _, b = item.partition("-")
            slots.append((int(a), int(b or a)))
        out.append(ClusterNode(
            node_id=parts[0], address=host, port=port, primary="master" in flags,
            primary_id=None if parts[3] == "-" else parts[3],
            failed="fail" in flags or "fail?" in flags, slots=tuple(slots),
            myself="myself" in flags,
        ))
    return out
