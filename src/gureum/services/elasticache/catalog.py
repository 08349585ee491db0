"""What a cache node can be: node types (memory → ``maxmemory``) and engines."""

from __future__ import annotations

import os

from gureum.errors import AWSError

GIB = 1024**3

# Memory of each supported node type, GiB, as AWS lists it.
NODE_TYPES: dict[str, float] = {
    "cache.t2.micro": 0.555, "cache.t2.small": 1.55, "cache.t2.medium": 3.22,
    "cache.t3.micro": 0.5, "cache.t3.small": 1.37, "cache.t3.medium": 3.09,
    "cache.t4g.micro": 0.5, "cache.t4g.small": 1.37, "cache.t4g.medium": 3.09,
    "cache.m5.large": 6.38, "cache.m5.xlarge": 12.93, "cache.m5.2xlarge": 26.04,
    "cache.m6g.large": 6.38, "cache.m6g.xlarge": 12.93, "cache.m6g.2xlarge": 26.04,
    "cache.m7g.large": 6.38, "cache.m7g.xlarge": 12.93,
    "cache.r5.large": 13.07, "cache.r5.xlarge": 26.32, "cache.r5.2xlarge": 52.82,
    "cache.r6g.large": 13.07, "cache.r6g.xlarge": 26.32, "cache.r6g.2xlarge": 52.82,
    "cache.r7g.large": 13.07, "cache.r7g.xlarge": 26.32,
}


def vcpus(node_type: str) -> int:
    """vCPUs of a node type, as AWS lists them (micro to medium: 2; large: 2)."""
    size = node_type.rsplit(".", 1)[-1]
    return {"xlarge": 4, "2xlarge": 8}.get(size, 2)


DEFAULT_NODE_TYPE = "cache.t3.micro"
ENGINES = ("redis", "valkey")
DEFAULT_PORT = 6379


def host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 40


def maxmemory(node_type: str) -> int:
    return int(NODE_TYPES[node_type] * GIB)


def check_node_type(node_type: str | None) -> str:
    node_type = node_type or DEFAULT_NODE_TYPE
    if node_type not in NODE_TYPES:
        raise AWSError("InvalidParameterValue",
                       f"Invalid CacheNodeType: {node_type}. Supported: "
                       + ", ".join(sorted(NODE_TYPES)))
    if maxmemory(node_type) > host_memory():
        raise AWSError("InsufficientCacheClusterCapacity",
                       f"{node_type} needs more memory than this machine has")
    return node_type


def check_engine(engine: str | None, version: str | None, installed: str) -> tuple[str, str]:
    """The engine and the version that will run (the installed one)."""
    engine = (engine or "redis").lower()
    if engine == "memcached":
        raise AWSError("InvalidParameterValue", "Engine memcached is not supported here; "
                       "use redis")
    if engine != "redis":
        raise AWSError("InvalidParameterValue", f"Engine {engine} is not installed; use redis")
    if version:
        asked = [int(p) for p in version.replace("x", "0").split(".") if p.isdigit()]
        have = [int(p) for p in installed.split(".") if p.isdigit()]
        if not asked or asked[: len(have)] > have[: len(asked)]:
            raise AWSError("InvalidParameterValue",
                           f"Cannot find version {version} for {engine} (installed: {installed})")
    return engine, installed


def check_port(port: object) -> int:
    if port is None:
        return DEFAULT_PORT
    if not isinstance(port, int) or not 1024 <= port <= 65535:
        raise AWSError("InvalidParameterValue", f"Invalid port: {port}")
    return port
