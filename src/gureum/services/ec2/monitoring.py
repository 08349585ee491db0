"""Instance metrics for CloudWatch, measured by the compute driver, and
MonitorInstances/UnmonitorInstances.

``InstanceMetrics`` is a CloudWatch ``MetricSource`` (registered by EC2's
``start()``). Every running instance publishes, under ``AWS/EC2`` with the
``InstanceId`` dimension (and the image and type dimensions AWS also uses):

- ``CPUUtilization``: CPU time used over the window, as a percent of the
  instance's own allowance (its vCPUs, which its cgroup quota enforces);
- ``NetworkIn``/``NetworkOut`` (Bytes) and ``NetworkPacketsIn``/``Out``
  (Count) over the window, from its veth's counters;
- ``DiskReadBytes``/``DiskWriteBytes`` where the host measures block I/O per
  cgroup;

and ``mem_used_percent`` under ``CWAgent`` (what the CloudWatch agent would
report). Basic monitoring publishes one datapoint per instance every five
minutes, detailed monitoring (MonitorInstances, or ``Monitoring.Enabled`` at
launch) every minute; each datapoint covers the time since the previous
one. Both intervals are divided by ``Settings.time_scale``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gureum.drivers.compute import Usage
from gureum.errors import AWSError

from ..base import Call
from ..cloudwatch.sources import Sample
from .catalog import TYPES
from .core import INSTANCE, EC2Core

BASIC = 300.0
DETAILED = 60.0


class InstanceMetrics:
    """The EC2 metric source (see the module docstring)."""

    name = "ec2-instances"

    def __init__(self, store: Any, driver: Any, clock: Any, time_scale: float = 1.0,
                 running: Callable[[], Iterable[tuple[str, str, str]]] | None = None) -> None:
        """``running()``: (account, region, id) of the running instances, if the
        caller keeps them: then only the records of instances with a datapoint
        due are read (not every instance record at each collect)."""
        self.store = store
        self.running = running
        self.driver = driver
        self.clock = clock
        self.scale = time_scale
        self.interval = DETAILED / time_scale
        # instance id -> (monotonic time, usage) of the last datapoint (the baseline).
        self._last: dict[str, tuple[float, Usage]] = {}

    async def collect(self, now: float) -> Iterable[Sample]:
        mono: float = self.clock.monotonic()
        samples: list[Sample] = []
        live: set[str] = set()
        found: Iterable[tuple[str, str, str, dict[str, Any] | None]]
        if self.running is not None:
            found = [(a, r, i, None) for a, r, i in self.running()]
        else:
            found = [(d["account"], d["region"], d["id"], d) for d in self.store.resources.list(
                INSTANCE, where=lambda d: d["state"] == "running")]
        shortest = DETAILED / self.scale * 0.95
        for account, region, instance_id, doc in found:
            live.add(instance_id)
            used = self.driver.usage(instance_id)
            if used is None:
                continue
            last = self._last.get(instance_id)
            if last is None or used.cpu_seconds < last[1].cpu_seconds:
                self._last[instance_id] = (mono, used)  # first look, or the guest rebooted
                continue
            if mono - last[0] < shortest:
                continue  # (no datapoint due at either cadence)
            if doc is None:
                doc = self.store.resources.get(INSTANCE, account, region, instance_id)
                if doc is None or doc["state"] != "running":
                    continue
            period = (DETAILED if doc.get("monitoring") == "enabled" else BASIC) / self.scale
            if mono - last[0] < period * 0.95:
                continue
            self._last[doc["id"]] = (mono, used)
            samples += self.samples(doc, last[1], used, mono - last[0], now)
        for gone in set(self._last) - live:
            del self._last[gone]
        return samples

    def samples(self, doc: dict[str, Any], before: Usage, after: Usage, seconds: float,
                now: float) -> list[Sample]:
        itype = TYPES.get(doc["type"])
        vcpus = itype.vcpus if itype else 1
        cpu = 100.0 * (after.cpu_seconds - before.cpu_seconds) / (seconds * vcpus)
        account, region = doc["account"], doc["region"]
        dims = (("InstanceId", doc["id"]),)

        def sample(namespace: str, name: str, value: float, unit: str,
                   dimensions: tuple[tuple[str, str], ...] = dims) -> Sample:
            return Sample(account, region, namespace, name, value, now, dimensions, unit)

        out = [
            sample("AWS/EC2", "CPUUtilization", round(min(max(cpu, 0.0), 100.0), 3), "Percent"),
            sample("AWS/EC2", "NetworkIn", after.bytes_in - before.bytes_in, "Bytes"),
            sample("AWS/EC2", "NetworkOut", after.bytes_out - before.bytes_out, "Bytes"),
            sample("AWS/EC2", "NetworkPacketsIn", after.packets_in - before.packets_in, "Count"),
            sample("AWS/EC2", "NetworkPacketsOut", after.packets_out - before.packets_out,
                   "Count"),
        ]
        if after.disk_read_bytes is not None and before.disk_read_bytes is not None:
            out.append(sample("AWS/EC2", "DiskReadBytes",
                              after.disk_read_bytes - before.disk_read_bytes, "Bytes"))
        if after.disk_write_bytes is not None and before.disk_write_bytes is not None:
            out.append(sample("AWS/EC2", "DiskWriteBytes",
                              after.disk_write_bytes - before.disk_write_bytes, "Bytes"))
        # The same CPU under the image and type dimensions, as AWS aggregates it.
        out.append(sample("AWS/EC2", "CPUUtilization", out[0].value, "Percent",
                          (("InstanceType", doc["type"]),)))
        out.append(sample("AWS/EC2", "CPUUtilization", out[0].value, "Percent",
                          (("ImageId", doc["image_id"]),)))
        limit = after.memory_limit or (itype.memory_mib * 1024 * 1024 if itype else 0)
        if limit:
            out.append(sample("CWAgent", "mem_used_percent",
                              round(100.0 * after.memory_bytes / limit, 3), "Percent"))
        return out


class MonitoringOperations(EC2Core):
    def _monitor(self, call: Call, params: dict[str, Any], state: str) -> list[dict[str, Any]]:
        ids = params.get("InstanceIds") or []
        if not ids:
            raise AWSError("MissingParameter", "The request must contain the parameter InstanceIds")
        out = []
        with self.store.tx():
            for doc in self.instances(call, ids):
                if doc["state"] in ("terminated", "shutting-down"):
                    raise AWSError("IncorrectInstanceState",
                                   f"The instance '{doc['id']}' is not in a state from which "
                                   "its monitoring can change.")
                doc["monitoring"] = state
                self.save(doc)
                out.append({"InstanceId": doc["id"], "Monitoring": {
                    "State": "pending" if state == "enabled" else "disabling"}})
        return out

    def monitor_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return {"InstanceMonitorings": self._monitor(call, params, "enabled")}

    def unmonitor_instances(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return {"InstanceMonitorings": self._monitor(call, params, "disabled")}
