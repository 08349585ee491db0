"""CPU and memory limits for database servers: one cgroup per engine, made
before its server starts and removed when it stops.

cgroup v2 (``cgroup.controllers`` at the root, with ``cpu``/``memory``
enabled there) gets ``cpu.max`` and ``memory.max``; v1 gets
``cpu/<name>/cpu.cfs_quota_us`` and ``memory/<name>/memory.limit_in_bytes``.
Groups are named ``gureum-rds-<owner>-<engine id>`` so that two gureums on
one machine never share one; empty ones left by a killed gureum are removed
when the next one starts. Without root (or a writable hierarchy) nothing is
limited and nothing fails. The server's children (PostgreSQL's backends)
inherit the group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

log = logging.getLogger("gureum.drivers.postgres")

PERIOD_US = 100_000
PREFIX = "gureum-rds-"
SWEEP_AGE = 300.0


class EngineLimits:
    def __init__(self, root: Path = Path("/sys/fs/cgroup"), enabled: bool | None = None,
                 owner: str = "") -> None:
        self.root = root
        self.owner = owner
        self.enabled = os.geteuid() == 0 if enabled is None else enabled
        if self.enabled:
            self.sweep()

    def _v2(self) -> bool:
        return (self.root / "cgroup.controllers").exists() and not (self.root / "cpu").is_dir()

    def _bases(self) -> dict[str, Path]:
        if self._v2():
            return {"cpu": self.root, "memory": self.root}
        return {k: self.root / k for k in ("cpu", "memory") if (self.root / k).is_dir()}

    def name(self, id: str) -> str:
        return f"{PREFIX}{self.owner}-{id}" if self.owner else f"{PREFIX}{id}"

    def paths(self, id: str) -> list[Path]:
        return sorted({base / self.name(id) for base in self._bases().values()})

    def sweep(self, now: float | None = None) -> None:
        """Remove empty engine cgroups left behind (a cgroup with processes
        refuses rmdir). A group made in the last SWEEP_AGE seconds is kept:
        another gureum starting an engine makes it empty and moves the server
        in a moment later, and removing it then left that server unlimited."""
        now = time.time() if now is None else now
        for base in set(self._bases().values()):
            for path in base.glob(f"{PREFIX}*") if base.is_dir() else []:
                with contextlib.suppress(OSError):
                    if now - path.stat().st_mtime < SWEEP_AGE:
                        continue
                    if not (path / "cgroup.procs").read_text().strip():
                        self._rmdir(path)

    @staticmethod
    def _rmdir(path: Path) -> None:
        path.rmdir()  # a cgroup goes with its control files

    def create(self, id: str, cpus: float, memory: int) -> list[Path]:
        """The engine's cgroups with their limits (none when limits are off)."""
        if not self.enabled or (cpus <= 0 and memory <= 0):
            return []
        made: list[Path] = []
        try:
            if self._v2():
                with contextlib.suppress(OSError):
                    (self.root / "cgroup.subtree_control").write_text("+cpu +memory")
                path = self.root / self.name(id)
                path.mkdir(exist_ok=True)
                made.append(path)
                if cpus > 0:
                    (path / "cpu.max").write_text(f"{int(cpus * PERIOD_US)} {PERIOD_US}")
                if memory > 0:
                    (path / "memory.max").write_text(str(memory))
            else:
                bases = self._bases()
                if cpus > 0 and "cpu" in bases:
                    path = bases["cpu"] / self.name(id)
                    path.mkdir(exist_ok=True)
                    made.append(path)
                    (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                    (path / "cpu.cfs_quota_us").write_text(str(int(cpus * PERIOD_US)))
                if memory > 0 and "memory" in bases:
                    path = bases["memory"] / self.name(id)
                    path.mkdir(exist_ok=True)
                    made.append(path)
                    (path / "memory.limit_in_bytes").write_text(str(memory))
        except OSError as e:
            log.info("no CPU/memory limits for engine %s: %s", id, e)
        return made

    def attach(self, paths: list[Path], pid: int) -> None:
        for path in paths:
            try:
                (path / "cgroup.procs").write_text(str(pid))
            except OSError as e:
                log.info("could not move engine process %s into %s: %s", pid, path, e)

    def limits(self, id: str) -> dict[str, str]:
        """What the engine's groups hold now (for tests and the README's claims)."""
        out: dict[str, str] = {}
        for path in self.paths(id):
            for name in ("cpu.max", "memory.max", "cpu.cfs_quota_us", "memory.limit_in_bytes"):
                with contextlib.suppress(OSError):
                    out[name] = (path / name).read_text().strip()
        return out

    def remove(self, id: str) -> None:
        if not self.enabled:
            return
        for path in self.paths(id):
            with contextlib.suppress(OSError):
                path.rmdir()
