"""CPU limits for Redis nodes: one cgroup per node, made before its process
starts and removed when the node is destroyed.

cgroup v2 (``cgroup.controllers`` at the root) gets ``cpu.max``; v1 gets
``cpu/gureum-cache-<id>/cpu.cfs_quota_us``. Without root (or without a
writable hierarchy) nothing is limited and nothing fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

log = logging.getLogger("gureum.redis")

PERIOD_US = 100_000
PREFIX = "gureum-cache-"
SWEEP_AGE = 300.0


class CpuLimits:
    """One cgroup per node, named ``gureum-cache-<owner>-<node id>`` so that two
    gureums on one machine never share one; empty ones left by a gureum that
    was killed are removed when the next one starts."""

    def __init__(
        self, root: Path = Path("/sys/fs/cgroup"), enabled: bool | None = None, owner: str = ""
    ) -> None:
        self.root = root
        self.owner = owner
        self.enabled = os.geteuid() == 0 if enabled is None else enabled
        if self.enabled:
            self.sweep()

    def sweep(self, now: float | None = None) -> None:
        """Remove empty node cgroups left behind (a cgroup with processes
        refuses rmdir). A group made in the last SWEEP_AGE seconds is kept:
        another gureum makes a node's group empty and moves the node in a
        moment later, and removing it in between left that node unlimited."""
        now = time.time() if now is None else now
        base = self.root if self._v2() else self.root / "cpu"
        for path in base.glob(f"{PREFIX}*") if base.is_dir() else []:
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime < SWEEP_AGE:
                    continue
                if not (path / "cgroup.procs").read_text().strip():
                    self._rmdir(path)

    @staticmethod
    def _rmdir(path: Path) -> None:
        path.rmdir()  # a cgroup goes with its control files

    def _v2(self) -> bool:
        return (self.root / "cgroup.controllers").exists()

    def path(self, id: str) -> Path:
        name = f"{PREFIX}{self.owner}-{id}" if self.owner else f"{PREFIX}{id}"
        return (self.root if self._v2() else self.root / "cpu") / name

    def create(self, id: str, cpus: float) -> Path | None:
        """The node's cgroup with its quota, or ``None`` if limits are off."""
        if not self.enabled or cpus <= 0:
            return None
        path = self.path(id)
        quota = int(cpus * PERIOD_US)
        try:
            if self._v2():
                with contextlib.suppress(OSError):
                    (self.root / "cgroup.subtree_control").write_text("+cpu")
                path.mkdir(exist_ok=True)
                (path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                path.mkdir(exist_ok=True)
                (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError as e:
            log.info("no CPU limit for redis node %s: %s", id, e)
            return None
        return path

    def attach(self, path: Path | None, pid: int) -> None:
        if path is None:
            return
        try:
            (path / "cgroup.procs").write_text(str(pid))
        except OSError as e:
            log.info("could not move redis process %s into %s: %s", pid, path, e)

    def remove(self, id: str) -> None:
        if not self.enabled:
            return
        path = self.path(id)
        with contextlib.suppress(OSError):
            path.rmdir()  # the kernel's own cgroupfs removes its files with the directory
        if path.exists():  # a plain directory (tests): remove what was written
            for f in path.iterdir():
                with contextlib.suppress(OSError):
                    f.unlink()
            with contextlib.suppress(OSError):
                path.rmdir()
