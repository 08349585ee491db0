"""One driver over every installed engine: PostgreSQL, and MariaDB for the
``mysql`` and ``mariadb`` engines. The loop speaks to an engine by id; ids of
MySQL-compatible engines begin with ``m`` (``mysql_id``), all others are
PostgreSQL's, so a record never needs to say which driver owns its engines.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gureum.drivers.postgres import EngineError, EngineSpec, EngineUsage, PostgresDriver, Role

MYSQL_ENGINES = ("mysql", "mariadb")


def engine_id(engine: str) -> str:
    return ("m" if engine in MYSQL_ENGINES else "e") + secrets.token_hex(6)


class Engines:
    """Routes each call to the driver that owns the engine (see the module docstring)."""

    def __init__(self, postgres: PostgresDriver | None, mysql: Any | None) -> None:
        self.postgres = postgres
        self.mysql: PostgresDriver | None = mysql
        self.version = postgres.version if postgres is not None else ""

    def installed(self, engine: str) -> PostgresDriver | None:
        return self.mysql if engine in MYSQL_ENGINES else self.postgres

    def _for(self, id: str) -> PostgresDriver:
        driver = self.mysql if id.startswith("m") else self.postgres
        if driver is None:
            raise EngineError(f"the engine of {id} is not installed")
        return driver

    async def create(self, spec: EngineSpec) -> None:
        await self._for(spec.id).create(spec)

    async def restore(self, spec: EngineSpec, backup: Path, *, archive: Path | None = None,
                      target_time: float | None = None) -> None:
        await self._for(spec.id).restore(spec, backup, archive=archive, target_time=target_time)

    async def clone_replica(self, spec: EngineSpec, source: str) -> None:
        await self._for(spec.id).clone_replica(spec, source)

    async def start(self, spec: EngineSpec) -> None:
        await self._for(spec.id).start(spec)

    async def stop(self, id: str) -> None:
        await self._for(id).stop(id)

    async def reload(self, spec: EngineSpec, dynamic: Sequence[str]) -> None:
        await self._for(spec.id).reload(spec, dynamic)

    def running(self, id: str) -> bool:
        return self._for(id).running(id)

    async def destroy(self, id: str) -> None:
        await self._for(id).destroy(id)

    def engines(self) -> list[str]:
        return sorted(e for d in (self.postgres, self.mysql) if d is not None
                      for e in d.engines())

    async def execute(self, id: str, sql: str, database: str = "postgres") -> list[list[str]]:
        return await self._for(id).execute(id, sql, database)

    async def ensure_role(self, id: str, role: Role, *, database: str | None = None) -> None:
        await self._for(id).ensure_role(id, role, database=database)

    async def backup(self, id: str, dest: Path) -> None:
        await self._for(id).backup(id, dest)

    async def set_read_only(self, id: str, on: bool) -> None:
        await self._for(id).set_read_only(id, on)

    async def copy_backup(self, engine: str, source: Path, dest: Path) -> None:
        driver = self.installed(engine)
        if driver is None:
            raise EngineError(f"the {engine} engine is not installed")
        await driver.copy_backup(source, dest)

    async def switch_wal(self, id: str) -> float:
        return await self._for(id).switch_wal(id)

    async def in_recovery(self, id: str) -> bool:
        return await self._for(id).in_recovery(id)

    async def promote(self, id: str) -> None:
        await self._for(id).promote(id)

    async def sync_standby(self, id: str, standby: str | None) -> None:
        await self._for(id).sync_standby(id, standby)

    async def usage(self, id: str) -> EngineUsage | None:
        return await self._for(id).usage(id)

    async def connections(self, id: str) -> int:
        return await self._for(id).connections(id)

    async def replica_lag(self, id: str) -> float | None:
        return await self._for(id).replica_lag(id)

    async def kill(self, id: str) -> None:
        driver: Any = self._for(id)
        await driver.kill(id)

    async def shutdown(self) -> None:
        for driver in (self.postgres, self.mysql):
            if driver is not None:
                await driver.shutdown()
