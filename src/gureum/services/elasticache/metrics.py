"""Cache node metrics for CloudWatch, read from each node's own ``INFO``.

``NodeMetrics`` is a CloudWatch ``MetricSource`` (registered by the
service's ``start()``, removed at ``stop()``). Every node whose process
answers publishes under ``AWS/ElastiCache``, once with the
``CacheClusterId`` dimension and once with ``CacheClusterId`` and
``CacheNodeId`` (always ``0001``: a cache cluster is one Redis node):

- ``CPUUtilization``: the Redis process's CPU time (``used_cpu_sys`` plus
  ``used_cpu_user``) over the window, as a percent of one CPU;
- ``CurrConnections``: ``connected_clients`` now;
- ``CacheHits``/``CacheMisses``/``Evictions``: the growth of
  ``keyspace_hits``/``keyspace_misses``/``evicted_keys`` over the window (a
  restarted node counts from zero again);
- ``BytesUsedForCache``: ``used_memory`` now;
- ``ReplicationLag`` (replicas only): seconds since the replica last
  acknowledged its primary, as the primary reports it, or how long its link
  has been down.

AWS publishes every minute; the interval is divided by
``Settings.time_scale``. The first look at a node is the baseline; each
datapoint covers the time since the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gureum.drivers.redis import RedisDriver, RedisError
from gureum.drivers.redis.resp import parse_info

from ..cloudwatch.sources import Sample
from .core import GROUP, NODE

PERIOD = 60.0
NAMESPACE = "AWS/ElastiCache"
UP = ("available", "modifying", "snapshotting")


@dataclass(frozen=True)
class Reading:
    """What one ``INFO`` said, at a monotonic time."""

    at: float
    cpu: float
    hits: int
    misses: int
    evictions: int


def _num(info: dict[str, str], name: str) -> float:
    try:
        return float(info.get(name, 0))
    except ValueError:
        return 0.0


def reading(info: dict[str, str], at: float) -> Reading:
    return Reading(at, _num(info, "used_cpu_sys") + _num(info, "used_cpu_user"),
                   int(_num(info, "keyspace_hits")), int(_num(info, "keyspace_misses")),
                   int(_num(info, "evicted_keys")))


def replica_lags(info: dict[str, str]) -> dict[tuple[str, int], float]:
    """A primary's ``slaveN`` lines: (address, port) → seconds since its last ack."""
    out: dict[tuple[str, int], float] = {}
    for name, value in info.items():
        if not name.startswith("slave") or not name[5:].isdigit():
            continue
        fields = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
        with contextlib.suppress(KeyError, ValueError):
            out[(fields["ip"], int(fields["port"]))] = float(fields.get("lag", 0))
    return out


def _grow(before: int, after: int) -> int:
    return after - before if after >= before else after  # counters restart with the process


class NodeMetrics:
    """The ElastiCache metric source (see the module docstring)."""

    name = "elasticache-nodes"

    def __init__(self, store: Any, driver: RedisDriver, clock: Any,
                 driver_id: Callable[[dict[str, Any]], str], time_scale: float = 1.0) -> None:
        self.store = store
        self.driver = driver
        self.clock = clock
        self.driver_id = driver_id
        self.period = PERIOD / time_scale
        self.interval = self.period
        self._last: dict[str, Reading] = {}  # driver id -> baseline

    async def _info(self, doc: dict[str, Any]) -> dict[str, str] | None:
        id = self.driver_id(doc)
        if not self.driver.running(id):
            return None
        try:
            return parse_info(str(await self.driver.call(id, "INFO", timeout=2.0)))
        except (RedisError, OSError, TimeoutError):
            return None

    async def collect(self, now: float) -> Iterable[Sample]:
        docs = self.store.resources.list(NODE, where=lambda d: d["status"] in UP)
        infos = await asyncio.gather(*(self._info(d) for d in docs))
        mono: float = self.clock.monotonic()
        by_node = {(d["account"], d["region"], d["id"]): i
                   for d, i in zip(docs, infos, strict=True)}
        samples: list[Sample] = []
        live: set[str] = set()
        for doc, info in zip(docs, infos, strict=True):
            if info is None:
                continue
            id = self.driver_id(doc)
            live.add(id)
            now_reading = reading(info, mono)
            last = self._last.get(id)
            if last is not None and mono - last.at < self.period * 0.95:
                continue
            self._last[id] = now_reading
            if last is None:
                continue  # the baseline
            samples += self.samples(doc, info, last, now_reading, now,
                                    self._lag(doc, info, by_node))
        for gone in set(self._last) - live:
            del self._last[gone]
        return samples

    def _lag(self, doc: dict[str, Any], info: dict[str, str],
             by_node: dict[tuple[str, str, str], dict[str, str] | None]) -> float | None:
        if info.get("role") != "slave":
            return None
        if info.get("master_link_status") != "up":
            return _num(info, "master_link_down_since_seconds")
        group = self.store.resources.get(GROUP, doc["account"], doc["region"], doc["group"]) \
            if doc.get("group") else None
        for shard in (group or {}).get("shards", []):
            if doc["id"] in shard.get("members", []) and shard.get("primary") != doc["id"]:
                primary = by_node.get((doc["account"], doc["region"], shard["primary"]))
                if primary is not None:
                    return replica_lags(primary).get((doc["address"], int(doc["port"])), 0.0)
        return 0.0

    def samples(self, doc: dict[str, Any], info: dict[str, str], before: Reading,
                after: Reading, now: float, lag: float | None) -> list[Sample]:
        seconds = max(after.at - before.at, 1e-6)
        cpu = 100.0 * max(after.cpu - before.cpu, 0.0) / seconds
        values: list[tuple[str, float, str]] = [
            ("CPUUtilization", round(min(cpu, 100.0), 3), "Percent"),
            ("CurrConnections", _num(info, "connected_clients"), "Count"),
            ("CacheHits", float(_grow(before.hits, after.hits)), "Count"),
            ("CacheMisses", float(_grow(before.misses, after.misses)), "Count"),
            ("Evictions", float(_grow(before.evictions, after.evictions)), "Count"),
            ("BytesUsedForCache", _num(info, "used_memory"), "Bytes"),
        ]
        if lag is not None:
            values.append(("ReplicationLag", lag, "Seconds"))
        cluster = (("CacheClusterId", doc["id"]),)
        dims = (cluster, (*cluster, ("CacheNodeId", "0001")))
        return [Sample(doc["account"], doc["region"], NAMESPACE, name, value, now, d, unit)
                for name, value, unit in values for d in dims]
