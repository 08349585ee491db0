"""Built-in metrics: a seam for the data planes to publish what they measure.

A ``MetricSource`` (the EC2 compute driver's per-instance CPU and network,
later load balancers, databases, caches) is registered once; the publisher
loop calls its ``collect`` every ``interval`` seconds and stores the samples
as if they were put with PutMetricData (``AWS/`` namespaces allowed).
``Dimensioner`` hooks add aggregated copies under extra dimension sets — e.g.
Auto Scaling publishes each instance's CPU under ``AutoScalingGroupName``.

    sources(env).add(my_source)
    sources(env).add_dimensioner(by_group)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from gureum.control import Loop

from ..base import Env
from .datastore import MetricStore
from .metrics import ingest

log = logging.getLogger("gureum.cloudwatch")

EXTRA_KEY = "cloudwatch.sources"
LOOP_NAME = "cloudwatch-sources"


@dataclass(frozen=True)
class Sample:
    """One measured value of one metric."""

    account: str
    region: str
    namespace: str
    name: str
    value: float
    timestamp: float
    dimensions: tuple[tuple[str, str], ...] = ()
    unit: str = "None"
    resolution: int = 60


class MetricSource(Protocol):
    name: str
    interval: float

    async def collect(self, now: float) -> Iterable[Sample]: ...


# Extra dimension sets a sample is also published under.
Dimensioner = Callable[[Sample], Iterable[tuple[tuple[str, str], ...]]]


@dataclass
class SourceRegistry:
    sources: dict[str, MetricSource] = field(default_factory=dict)
    dimensioners: list[Dimensioner] = field(default_factory=list)
    loop: Loop | None = None

    def add(self, source: MetricSource) -> None:
        self.sources[source.name] = source
        if self.loop is not None:
            self.loop.wake(source.name)

    def remove(self, name: str) -> None:
        self.sources.pop(name, None)

    def add_dimensioner(self, fn: Dimensioner) -> None:
        self.dimensioners.append(fn)


def sources(env: Env) -> SourceRegistry:
    found = env.extras.get(EXTRA_KEY)
    if not isinstance(found, SourceRegistry):
        found = env.extras[EXTRA_KEY] = SourceRegistry()
    return found


def publish(env: Env, metrics: MetricStore, samples: Iterable[Sample],
            dimensioners: Iterable[Dimensioner] = ()) -> int:
    """Store samples (and their extra-dimension copies) in one transaction."""
    batches: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    extra = list(dimensioners)
    # With sped-up clocks a data plane's "minute" lasts 60 / time_scale seconds:
    # kept at 1-second resolution, or a wall minute's samples would all be
    # stamped at its start and the alarms' shortened periods would see none.
    scaled = env.settings.time_scale > 1.0
    for s in samples:
        for dims in [s.dimensions, *(d for fn in extra for d in fn(s))]:
            batches.setdefault((s.account, s.region, s.namespace), []).append({
                "MetricName": s.name, "Value": s.value, "Unit": s.unit,
                "StorageResolution": 1 if scaled else s.resolution,
                "Timestamp": datetime.fromtimestamp(s.timestamp, UTC),
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
            })
    now = env.clock.now()
    stored = 0
    with env.store.tx():
        for (account, region, namespace), data in batches.items():
            for i in range(0, len(data), 1000):
                stored += ingest(metrics, account, region, namespace, data[i:i + 1000], now)
    return stored


class PublisherLoop:
    """Collects every registered source at its interval."""

    def __init__(self, env: Env, metrics: MetricStore) -> None:
        self.env = env
        self.metrics = metrics
        self.registry = sources(env)
        self.loop = Loop(LOOP_NAME, self.reconcile, clock=env.clock, resync=self.resync,
                         resync_interval=300.0)
        self.registry.loop = self.loop
        self._last: dict[str, float] = {}  # source -> monotonic time of its last collection

    async def resync(self) -> Iterable[str]:
        return list(self.registry.sources)

    async def reconcile(self, key: str) -> float | None:
        source = self.registry.sources.get(key)
        if source is None:
            return None
        # A wake-up or resync between two periods must not publish twice.
        mono: float = self.env.clock.monotonic()
        due = self._last.get(key, -source.interval) + source.interval
        if mono < due:
            return due - mono
        self._last[key] = mono
        samples = list(await source.collect(self.env.clock.now()))
        publish(self.env, self.metrics, samples, self.registry.dimensioners)
        return source.interval
