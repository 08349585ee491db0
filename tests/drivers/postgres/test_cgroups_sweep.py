"""Sweeping engine cgroups left behind: only empty ones, and not one another
gureum has just made for a server it is about to move in."""

from __future__ import annotations

import shutil
from pathlib import Path

from gureum.drivers.postgres.cgroups import PREFIX, SWEEP_AGE, EngineLimits


class Dirs(EngineLimits):
    """Directories stand in for a cgroup hierarchy."""

    def _bases(self) -> dict[str, Path]:
        return {"cpu": self.root / "cpu"}

    @staticmethod
    def _rmdir(path: Path) -> None:
        shutil.rmtree(path)


def group(root: Path, name: str, procs: str = "") -> Path:
    path = root / "cpu" / name
    path.mkdir(parents=True)
    (path / "cgroup.procs").write_text(procs)
    return path


def test_sweep_removes_only_old_empty_groups(tmp_path: Path) -> None:
    limits = Dirs(tmp_path, enabled=False, owner="me")
    empty = group(tmp_path, f"{PREFIX}other-e1")
    busy = group(tmp_path, f"{PREFIX}other-e2", "1234\n")
    other = group(tmp_path, "not-an-engine")
    limits.sweep()
    # Just made (another gureum moves its server in a moment later): kept.
    assert empty.exists() and busy.exists()
    limits.sweep(now=empty.stat().st_mtime + SWEEP_AGE + 1)
    assert not empty.exists()
    assert busy.exists() and other.exists()
