"""Per-guest cgroups: CPU quota, memory and pids limits, CPU time and memory used.

cgroup v2 (one hierarchy with ``cpu.max``/``memory.max``) when the root has
those controllers; otherwise v1, where ``cpu``, ``cpuacct``, ``memory`` and
``pids`` are separate hierarchies (or ``cpu,cpuacct`` mounted together) and a
guest's group is created in each. Groups live under ``gureum/<id>``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from pathlib import Path
from typing import Any

from .base import Limits, Usage

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
PARENT = "gureum"


def _write(path: Path, value: str) -> None:
    with contextlib.suppress(OSError):
        path.write_text(value)


class Cgroups:
    """The cgroups of guests, in whichever version the host has."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.v2 = (root / "cgroup.controllers").exists() and "memory" in (
            (root / "cgroup.controllers").read_text().split()
        )
        if self.v2:
            self.hierarchies = {"unified": root}
        else:
            found: dict[str, Path] = {}
            # (cpuacct first: a guest's launcher joins its groups in this order, and
            # its CPU is the guest's from the moment it is in that one)
            for name in ("cpuacct", "cpu", "memory", "pids", "blkio"):
                path = root / name
                if path.is_dir():
                    found[name] = path
            self.hierarchies = found
        # One base per distinct hierarchy (``cpu`` and ``cpuacct`` may be links to one).
        seen: dict[str, Path] = {}
        for base in self.hierarchies.values():
            seen.setdefault(os.path.realpath(base), base)
        self._bases = list(seen.values())
        self._base_names = [str(b) for b in self._bases]

    def _dirs(self, id: str) -> list[Path]:
        return [base / PARENT / id for base in self._bases]

    def plan(self, id: str, limits: Limits) -> dict[str, list[Any]]:
        """What creating the guest's groups takes: ``mkdir`` (directories, in order),
        ``write`` ([file, value] pairs: the limits) and ``procs`` (the
        ``cgroup.procs`` files to join). The guest's launcher carries it out."""
        mkdir: list[str] = []
        writes: list[list[str]] = []
        root = str(self.root)  # (strings: this is built at every launch)
        if self.v2:
            for path in (root, f"{root}/{PARENT}"):
                mkdir.append(path)
                writes.append([f"{path}/cgroup.subtree_control", "+cpu +memory +pids"])
        dirs = [f"{base}/{PARENT}/{id}" for base in self._base_names]
        mkdir += dirs
        quota = int(limits.vcpus * PERIOD_US)
        memory = limits.memory_mib * 1024 * 1024
        if self.v2:
            d = f"{root}/{PARENT}/{id}"
            writes += [[f"{d}/cpu.max", f"{quota} {PERIOD_US}"],
                       [f"{d}/memory.max", str(memory)],
                       [f"{d}/pids.max", str(limits.pids)]]
        else:
            h = self.hierarchies
            if "cpu" in h:
                d = f"{h['cpu']}/{PARENT}/{id}"
                writes += [[f"{d}/cpu.cfs_period_us", str(PERIOD_US)],
                           [f"{d}/cpu.cfs_quota_us", str(quota)]]
            if "memory" in h:
                writes.append([f"{h['memory']}/{PARENT}/{id}/memory.limit_in_bytes",
                               str(memory)])
            if "pids" in h:
                writes.append([f"{h['pids']}/{PARENT}/{id}/pids.max", str(limits.pids)])
        return {"mkdir": mkdir, "write": writes, "procs": [f"{d}/cgroup.procs" for d in dirs]}

    def create(self, id: str, limits: Limits) -> list[str]:
        """Create the guest's groups with its limits; the ``cgroup.procs`` files to join."""
        plan = self.plan(id, limits)
        for path in plan["mkdir"]:
            Path(path).mkdir(parents=True, exist_ok=True)
        for path, value in plan["write"]:
            _write(Path(path), value)
        procs: list[str] = plan["procs"]
        return procs

    def pids(self, id: str) -> list[int]:
        out: set[int] = set()
        for d in self._dirs(id):
            with contextlib.suppress(OSError):
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
        return sorted(out)

    def kill(self, id: str) -> None:
        """SIGKILL every process in the guest's groups."""
        if self.v2:
            _write(self.root / PARENT / id / "cgroup.kill", "1")
        for pid in self.pids(id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, id: str) -> bool:
        """Remove the guest's groups; False if one is still busy."""
        ok = True
        for d in self._dirs(id):
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                ok = False
        return ok

    def remove_parent(self) -> None:
        """Remove the groups' shared parent where it is empty (another gureum's
        guests keep it: the kernel refuses to remove a group with children)."""
        for base in self._bases:
            with contextlib.suppress(OSError):
                (base / PARENT).rmdir()

    def exists(self, id: str) -> bool:
        return any(d.is_dir() for d in self._dirs(id))

    def usage(self, id: str) -> Usage | None:
        try:
            if self.v2:
                d = self.root / PARENT / id
                stat = dict(
                    line.split() for line in (d / "cpu.stat").read_text().splitlines()
                )
                cpu = int(stat["usage_usec"]) / 1e6
                memory = int((d / "memory.current").read_text())
                limit_text = (d / "memory.max").read_text().strip()
                limit = 0 if limit_text == "max" else int(limit_text)
            else:
                h = self.hierarchies
                cpu = int((h["cpuacct"] / PARENT / id / "cpuacct.usage").read_text()) / 1e9
                mem = h["memory"] / PARENT / id
                memory = int((mem / "memory.usage_in_bytes").read_text())
                limit = int((mem / "memory.limit_in_bytes").read_text())
        except (OSError, KeyError, ValueError):
            return None
        read, written = self._disk(id)
        return dataclasses.replace(Usage(cpu, memory, limit), disk_read_bytes=read,
                                   disk_write_bytes=written)

    def _disk(self, id: str) -> tuple[int | None, int | None]:
        """Bytes read and written by the guest's processes (v2 io.stat, v1 blkio)."""
        read = written = 0
        try:
            if self.v2:
                for line in (self.root / PARENT / id / "io.stat").read_text().splitlines():
                    fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
                    read += int(fields.get("rbytes", 0))
                    written += int(fields.get("wbytes", 0))
            else:
                path = self.hierarchies["blkio"] / PARENT / id / "blkio.throttle.io_service_bytes"
                for line in path.read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 3 and parts[1] == "Read":
                        read += int(parts[2])
                    elif len(parts) == 3 and parts[1] == "Write":
                        written += int(parts[2])
        except (OSError, KeyError, ValueError):
            return None, None
        return read, written
