"""An in-memory PostgreSQL driver: documents the contract for unit tests.

An engine is a dict of state; "tables" is a list of rows standing for data,
so that backups, restores and replicas can be checked to carry it."""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import EngineError, EngineSpec, EngineUsage, Role


@dataclass
class FakeEngine:
    spec: EngineSpec
    running: bool = False
    recovery: bool = False
    source: str | None = None
    roles: dict[str, str] = field(default_factory=dict)
    databases: set[str] = field(default_factory=lambda: {"postgres"})
    rows: list[Any] = field(default_factory=list)
    starts: int = 0
    read_only: bool = False
    reloads: int = 0
    sync_standby: str | None = None
    # What ``usage``/``connections``/``replica_lag`` report; tests move them.
    cpu_seconds: float = 0.0
    read_bytes: int = 0
    write_bytes: int = 0
    data_bytes: int = 8 * 1024 * 1024
    clients: int = 0
    lag: float = 0.0


class FakePostgres:
    version = "15.0"

    def __init__(self) -> None:
        self.engines_: dict[str, FakeEngine] = {}
        self.backups: dict[Path, FakeEngine] = {}
        self.fail_start: set[str] = set()

    def engines(self) -> list[str]:
        return sorted(self.engines_)

    async def create(self, spec: EngineSpec) -> None:
        self.engines_.setdefault(spec.id, FakeEngine(spec))

    async def restore(self, spec: EngineSpec, backup: Path, *, archive: Path | None = None,
                      target_time: float | None = None) -> None:
        if spec.id in self.engines_:
            return
        if backup not in self.backups:
            raise EngineError(f"no backup at {backup}")
        engine = copy.deepcopy(self.backups[backup])
        engine.spec, engine.running, engine.source = spec, False, None
        self.engines_[spec.id] = engine

    async def clone_replica(self, spec: EngineSpec, source: str) -> None:
        if spec.id in self.engines_:
            return
        engine = copy.deepcopy(self._engine(source, running=True))
        engine.spec, engine.running, engine.recovery, engine.source = spec, False, True, source
        engine.sync_standby = None
        self.engines_[spec.id] = engine

    def _engine(self, id: str, running: bool = False) -> FakeEngine:
        engine = self.engines_.get(id)
        if engine is None or (running and not engine.running):
            raise EngineError(f"engine {id} is not {'running' if running else 'there'}")
        return engine

    async def start(self, spec: EngineSpec) -> None:
        engine = self._engine(spec.id)
        if spec.id in self.fail_start:
            raise EngineError(f"engine {spec.id} failed to start")
        engine.spec = spec
        if not engine.running:
            engine.running = True
            engine.starts += 1

    async def reload(self, spec: EngineSpec, dynamic: Sequence[str]) -> None:
        """Dynamic parameters take effect at once; the others at the next start."""
        engine = self._engine(spec.id, running=True)
        engine.reloads += 1
        engine.spec = EngineSpec(engine.spec.id, engine.spec.address, engine.spec.port,
                                 engine.spec.settings, engine.spec.archive,
                                 {**{k: v for k, v in engine.spec.params.items()
                                     if k not in dynamic},
                                  **{k: v for k, v in spec.params.items() if k in dynamic}})

    async def stop(self, id: str) -> None:
        if id in self.engines_:
            self.engines_[id].running = False

    def running(self, id: str) -> bool:
        return id in self.engines_ and self.engines_[id].running

    async def destroy(self, id: str) -> None:
        self.engines_.pop(id, None)

    async def execute(self, id: str, sql: str, database: str = "postgres") -> list[list[str]]:
        self._engine(id, running=True)
        return []

    async def ensure_role(self, id: str, role: Role, *, database: str | None = None) -> None:
        engine = self._engine(id, running=True)
        engine.roles[role.name] = role.verifier
        if database:
            engine.databases.add(database)

    async def backup(self, id: str, dest: Path) -> None:
        self.backups[dest] = copy.deepcopy(self._engine(id, running=True))

    async def set_read_only(self, id: str, on: bool) -> None:
        self._engine(id, running=True).read_only = on

    async def copy_backup(self, source: Path, dest: Path) -> None:
        if source not in self.backups:
            raise EngineError(f"no backup at {source}")
        self.backups.setdefault(dest, copy.deepcopy(self.backups[source]))

    async def switch_wal(self, id: str) -> float:
        self._engine(id, running=True)
        return time.time()

    async def in_recovery(self, id: str) -> bool:
        return self._engine(id, running=True).recovery

    async def promote(self, id: str) -> None:
        engine = self._engine(id, running=True)
        engine.recovery, engine.source = False, None

    async def sync_standby(self, id: str, standby: str | None) -> None:
        engine = self._engine(id, running=standby is not None)
        if standby is not None and self._engine(standby, running=True).source != id:
            raise EngineError(f"engine {standby} is not a replica of {id}")
        engine.sync_standby = standby

    async def usage(self, id: str) -> EngineUsage | None:
        engine = self.engines_.get(id)
        if engine is None or not engine.running:
            return None
        return EngineUsage(engine.cpu_seconds, engine.read_bytes, engine.write_bytes,
                           engine.data_bytes)

    async def connections(self, id: str) -> int:
        return self._engine(id, running=True).clients

    async def replica_lag(self, id: str) -> float | None:
        engine = self._engine(id, running=True)
        return engine.lag if engine.recovery else None

    async def kill(self, id: str) -> None:
        await self.stop(id)

    async def shutdown(self) -> None:
        for engine in self.engines_.values():
            engine.running = False
