"""DB instance classes: what each gives (vCPUs, memory) and the server
settings gureum derives from it.

Memory settings follow RDS's default parameter group formulas, except
``shared_buffers``, which gureum keeps small (many engines share one machine).
"""

from __future__ import annotations

from dataclasses import dataclass

from gureum.errors import AWSError

GIB = 1024**3


@dataclass(frozen=True)
class InstanceClass:
    name: str
    vcpus: int
    memory_gib: float

    @property
    def memory(self) -> int:
        return int(self.memory_gib * GIB)

    def settings(self) -> dict[str, str]:
        mem = self.memory
        # RDS: max_connections = LEAST(DBInstanceClassMemory/9531392, 5000)
        connections = max(20, min(mem // 9531392, 5000))
        return {
            "max_connections": str(min(connections, 200)),
            "effective_cache_size": f"{mem * 3 // 4 // 1024 // 1024}MB",
            "maintenance_work_mem": f"{max(16, min(mem // 16 // 1024 // 1024, 64))}MB",
            "work_mem": "4MB",
            "max_worker_processes": str(max(8, self.vcpus)),
            "max_parallel_workers": str(self.vcpus),
        }


_FAMILIES: dict[str, list[tuple[str, int, float]]] = {
    "db.t3": [("micro", 2, 1), ("small", 2, 2), ("medium", 2, 4), ("large", 2, 8),
              ("xlarge", 4, 16), ("2xlarge", 8, 32)],
    "db.t4g": [("micro", 2, 1), ("small", 2, 2), ("medium", 2, 4), ("large", 2, 8),
               ("xlarge", 4, 16), ("2xlarge", 8, 32)],
    "db.m5": [("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64)],
    "db.m6g": [("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64)],
    "db.m6i": [("large", 2, 8), ("xlarge", 4, 16), ("2xlarge", 8, 32), ("4xlarge", 16, 64)],
    "db.r5": [("large", 2, 16), ("xlarge", 4, 32), ("2xlarge", 8, 64)],
    "db.r6g": [("large", 2, 16), ("xlarge", 4, 32), ("2xlarge", 8, 64)],
}

CLASSES: dict[str, InstanceClass] = {
    f"{family}.{size}": InstanceClass(f"{family}.{size}", vcpus, mem)
    for family, sizes in _FAMILIES.items()
    for size, vcpus, mem in sizes
}


def instance_class(name: str, engine: str = "postgres") -> InstanceClass:
    found = CLASSES.get(name)
    if found is None:
        raise AWSError(
            "InvalidParameterCombination",
            f"RDS does not support creating a DB instance with the following combination: "
            f"DBInstanceClass={name}, Engine={engine}, EngineVersion=, LicenseModel=. "
            f"For supported combinations of instance class and database engine version, "
            f"see the documentation.")
    return found
