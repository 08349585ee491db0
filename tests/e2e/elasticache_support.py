"""Helpers for the ElastiCache end-to-end tests: waiting on statuses and
talking to endpoints with redis-cli."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

needs_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-cli") is None,
    reason="redis-server and redis-cli are not installed (apt-get install redis-server)",
)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def cluster_status(ec: Any, id: str) -> str:
    status: str = ec.describe_cache_clusters(CacheClusterId=id)["CacheClusters"][0][
        "CacheClusterStatus"]
    return status


def group(ec: Any, id: str) -> dict[str, Any]:
    found: dict[str, Any] = ec.describe_replication_groups(ReplicationGroupId=id)[
        "ReplicationGroups"][0]
    return found


def wait_cluster(ec: Any, id: str, status: str = "available", timeout: float = 90.0) -> None:
    wait_for(lambda: cluster_status(ec, id) == status, timeout, f"{id} to be {status}")


def wait_group(ec: Any, id: str, status: str = "available", timeout: float = 180.0
               ) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        lambda: (g := group(ec, id))["Status"] == status and g, timeout, f"{id} {status}")
    return found


def cli(host: str, port: int, *args: str, cluster: bool = False, input: str | None = None,
        check: bool = True) -> str:
    cmd = ["redis-cli", *(["-c"] if cluster else []), "-h", host, "-p", str(port), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, input=input,
                         check=check)
    return out.stdout.strip()


def redis_pids(under: Any) -> list[int]:
    """redis-server processes working in a directory under ``under`` (Redis
    rewrites its command line, so its working directory tells whose it is)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                name = f.read().strip()
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if name.startswith("redis-server") and (cwd + "/").startswith(str(under).rstrip("/") + "/"):
            found.append(int(entry))
    return found
