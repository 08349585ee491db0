"""CPU limits on a directory laid out like cgroup v1 and v2 hierarchies."""

from __future__ import annotations

import shutil
from pathlib import Path

from gureum.drivers.redis.cgroups import PREFIX, SWEEP_AGE, CpuLimits


def test_v1_quota_made_and_removed(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    limits = CpuLimits(tmp_path, enabled=True)
    path = limits.create("n1", 2)
    assert path == tmp_path / "cpu" / "gureum-cache-n1"
    assert (path / "cpu.cfs_quota_us").read_text() == "200000"
    limits.attach(path, 1234)
    assert (path / "cgroup.procs").read_text() == "1234"
    limits.remove("n1")
    assert not path.exists()


def test_v2_cpu_max(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory")
    limits = CpuLimits(tmp_path, enabled=True)
    path = limits.create("n2", 4)
    assert path is not None and (path / "cpu.max").read_text() == "400000 100000"
    limits.remove("n2")
    assert not path.exists()


def test_without_root_nothing_happens(tmp_path: Path) -> None:
    limits = CpuLimits(tmp_path, enabled=False)
    assert limits.create("n3", 2) is None
    limits.attach(None, 1)
    limits.remove("n3")
    assert list(tmp_path.iterdir()) == []


class _Dirs(CpuLimits):
    """Plain directories stand in for a cgroup v1 hierarchy."""

    @staticmethod
    def _rmdir(path: Path) -> None:
        shutil.rmtree(path)


def test_sweep_keeps_groups_just_made_by_another_gureum(tmp_path: Path) -> None:
    def group(name: str, procs: str = "") -> Path:
        path = tmp_path / "cpu" / name
        path.mkdir(parents=True)
        (path / "cgroup.procs").write_text(procs)
        return path

    empty = group(f"{PREFIX}other-n1")
    busy = group(f"{PREFIX}other-n2", "1234\n")
    unrelated = group("not-a-node")
    limits = _Dirs(tmp_path, enabled=False)
    limits.sweep()
    assert empty.exists() and busy.exists()  # just made: its node moves in next
    limits.sweep(now=empty.stat().st_mtime + SWEEP_AGE + 1)
    assert not empty.exists()
    assert busy.exists() and unrelated.exists()
