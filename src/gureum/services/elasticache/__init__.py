"""ElastiCache: managed Redis. Each cache node is a real ``redis-server``
process (``gureum.drivers.redis``) on its own address (a private one where
instances reach it, guarded by its security groups: ``common.private``,
``common.ingress``), reached by endpoint names that resolve on this machine.

``clusters.py`` and ``groups.py`` hold the operations; ``nodes.py`` is the
loop that keeps node processes as recorded, ``replication.py`` the loop that
forms replication groups, fails them over and reshards them; ``metrics.py``
publishes each node's ``INFO`` to CloudWatch, ``billing.py`` meters node hours.
"""

from __future__ import annotations

import asyncio
import shutil

from gureum.control import Loop
from gureum.drivers.redis import BUS_OFFSET

from ..base import Env
from ..billing import register_source
from ..cloudwatch.sources import sources
from ..common.ingress import Guarded, shared
from .billing import CacheNodes
from .core import GROUP, GROUP_LOOP, NODE, NODE_LOOP, group_name, node_name
from .metrics import NodeMetrics
from .params import ParameterGroupOperations
from .snapshots import SnapshotOperations

register_source(CacheNodes.name, CacheNodes)


class ElastiCache(SnapshotOperations, ParameterGroupOperations):
    name = "elasticache"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.setup_nodes()
        self.setup_groups()

    async def start(self) -> None:
        for doc in self.store.resources.list(NODE):
            if doc["status"] != "creating":
                self.env.names.add(node_name(doc), doc["address"])
        self.private.attach()
        shared(self.env).add("elasticache", self.guarded)
        self.env.loops.add(Loop(NODE_LOOP, self.reconcile_node, clock=self.env.clock,
                                resync=self.resync_nodes, resync_interval=30.0,
                                concurrency=16, backoff_max=10.0))
        self.env.loops.add(Loop(GROUP_LOOP, self.reconcile_group, clock=self.env.clock,
                                resync=self.resync_groups, resync_interval=30.0,
                                concurrency=8, backoff_max=5.0))
        self.setup_snapshots()
        sources(self.env).add(NodeMetrics(self.store, self.driver, self.env.clock, self.driver_id,
                                          self.env.settings.time_scale))

    async def stop(self) -> None:
        sources(self.env).remove(NodeMetrics.name)
        self.private.detach()
        await shared(self.env).remove("elasticache")
        await self.driver.shutdown()

    def guarded(self) -> list[Guarded]:
        """Cache nodes on private addresses, with their VPC security groups; a
        cluster-mode node's bus port (``port + 10000``, where nodes gossip and
        fail over) is guarded as its client port is (the nodes themselves
        reach each other from the host, which is not filtered)."""
        return [Guarded(d["address"], int(d["port"]), d["account"], d["region"],
                        list(d.get("security_groups") or []),
                        (int(d["port"]) + BUS_OFFSET,) if d.get("cluster_mode") else ())
                for d in self.store.resources.list(NODE)
                if self.private.subnet_of(d["address"]) is not None]

    async def reset(self) -> None:
        docs = self.store.resources.list(NODE)
        groups = self.store.resources.list(GROUP)
        await super().reset()
        for doc in docs:
            self.env.names.remove(node_name(doc))
            self.env.addresses.release(self.address_owner(doc))
        for group in groups:
            for kind in ("master", "replica", "clustercfg"):
                self.env.names.remove(group_name(kind, group))
        await asyncio.gather(*(self.driver.destroy(n) for n in self.driver.nodes()))
        await self.private.release_all()
        await shared(self.env).ensure()
        self._seen.clear()
        self._dead_since.clear()
        await asyncio.to_thread(shutil.rmtree, self.snapshot_dir, True)
