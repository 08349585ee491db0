"""Redis engines: ``redis-server`` nodes run and administered for the cache
service (see ``base`` for the contract, ``server`` for the real driver, ``fake``
for the in-memory one)."""

from .base import BUS_OFFSET, SLOTS, ClusterNode, NodeSpec, RedisDriver, Shard
from .resp import RedisError

__all__ = ["BUS_OFFSET", "SLOTS", "ClusterNode", "NodeSpec", "RedisDriver", "RedisError", "Shard"]
