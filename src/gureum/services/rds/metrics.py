"""DB instance metrics for CloudWatch, measured on the real servers.

``InstanceMetrics`` is a CloudWatch ``MetricSource`` (registered by RDS's
``start()``). Every DB instance whose server runs publishes once a minute
(divided by ``Settings.time_scale``), under ``AWS/RDS`` with the
``DBInstanceIdentifier`` dimension:

- ``CPUUtilization``: CPU time of the server's processes over the window, as
  a percent of the class's vCPUs;
- ``DatabaseConnections``: client connections open now;
- ``FreeStorageSpace``: AllocatedStorage minus what the data directory takes;
- ``ReadIOPS``/``WriteIOPS``: bytes the server's processes made the storage
  layer read or write over the window, counted in 8 KiB pages (the engine's
  I/O unit) per second — only where the host lets gureum read them;
- ``ReplicaLag`` (read replicas): seconds the replica's replay is behind.

CPU and IOPS need a previous reading, so they start with the second window.
CPUUtilization is also published under ``DatabaseClass`` and ``EngineName``,
as AWS aggregates it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from gureum.drivers.postgres import EngineError, EngineUsage

from ..cloudwatch.sources import Sample
from .classes import CLASSES
from .core import INSTANCE

log = logging.getLogger("gureum.rds")

PERIOD = 60.0
PAGE = 8192
GIB = 1024**3
MEASURED = ("available", "backing-up", "modifying", "storage-full")


class InstanceMetrics:
    """The RDS metric source (see the module docstring)."""

    name = "rds-instances"

    def __init__(self, store: Any, driver: Any, clock: Any, time_scale: float = 1.0,
                 gib: int = GIB) -> None:
        self.store = store
        self.gib = gib
        self.driver = driver
        self.clock = clock
        self.interval = PERIOD / time_scale
        # engine id -> (monotonic time, usage) of the previous reading.
        self._last: dict[str, tuple[float, EngineUsage]] = {}

    async def collect(self, now: float) -> Iterable[Sample]:
        samples: list[Sample] = []
        live: set[str] = set()
        docs = self.store.resources.list(INSTANCE, where=lambda d: d["status"] in MEASURED)
        for doc in docs:
            engine = doc.get("engine_id")
            if not engine or self.driver is None:
                continue
            live.add(engine)
            try:
                samples += await self.measure(doc, engine, now)
            except EngineError as exc:  # stopped or failed over meanwhile: next window
                log.debug("rds: no metrics for %s: %s", doc["id"], exc)
        for gone in set(self._last) - live:
            del self._last[gone]
        return samples

    async def measure(self, doc: dict[str, Any], engine: str, now: float) -> list[Sample]:
        used = await self.driver.usage(engine)
        if used is None:
            return []
        mono: float = self.clock.monotonic()
        account, region = doc["account"], doc["region"]
        dims = (("DBInstanceIdentifier", doc["id"]),)

        def sample(name: str, value: float, unit: str,
                   dimensions: tuple[tuple[str, str], ...] = dims) -> Sample:
            return Sample(account, region, "AWS/RDS", name, value, now, dimensions, unit)

        out = [
            sample("DatabaseConnections", float(await self.driver.connections(engine)), "Count"),
            sample("FreeStorageSpace",
                   float(max(int(doc["storage"]) * self.gib - used.data_bytes, 0)), "Bytes"),
        ]
        if doc.get("replica_of"):
            lag = await self.driver.replica_lag(engine)
            if lag is not None:
                out.append(sample("ReplicaLag", round(lag, 3), "Seconds"))
        last = self._last.get(engine)
        self._last[engine] = (mono, used)
        if last is None or used.cpu_seconds < last[1].cpu_seconds or mono <= last[0]:
            return out  # first look, or the server restarted: a new baseline
        seconds, before = mono - last[0], last[1]
        klass = CLASSES.get(doc["class"])
        vcpus = klass.vcpus if klass else 1
        cpu = 100.0 * (used.cpu_seconds - before.cpu_seconds) / (seconds * vcpus)
        cpu = round(min(max(cpu, 0.0), 100.0), 3)
        out.append(sample("CPUUtilization", cpu, "Percent"))
        out.append(sample("CPUUtilization", cpu, "Percent", (("DatabaseClass", doc["class"]),)))
        out.append(sample("CPUUtilization", cpu, "Percent", (("EngineName", doc["engine"]),)))
        for name, a, b in (("ReadIOPS", before.read_bytes, used.read_bytes),
                           ("WriteIOPS", before.write_bytes, used.write_bytes)):
            if a is not None and b is not None and b >= a:
                out.append(sample(name, round((b - a) / PAGE / seconds, 3), "Count/Second"))
        return out
