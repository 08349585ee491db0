"""The PostgreSQL driver's contract: engines (data directories with a server
process) that can be created, started, stopped, backed up, restored to a
point in time, cloned as streaming replicas and promoted.

An engine is named by a short id; it lives in ``<root>/<id>/`` (``data/``,
``run/`` for its socket, ``server.log``). The driver knows nothing of AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class EngineSpec:
    """How an engine runs. ``address`` empty: only its Unix socket listens."""

    id: str
    address: str
    port: int
    # Extra postgresql.conf settings (memory, connections...).
    settings: Mapping[str, str] = field(default_factory=dict)
    # Where finished WAL segments are copied (continuous archiving), if anywhere.
    archive: Path | None = None
    # The user's parameters (engine names and units), over ``settings``.
    params: Mapping[str, str] = field(default_factory=dict)
    # Limits of the server's cgroup: vCPUs and memory bytes (0: none).
    cpus: float = 0.0
    memory: int = 0


@dataclass(frozen=True)
class Role:
    """A login role to create or update; ``verifier`` is a SCRAM-SHA-256
    verifier (see ``scram.verifier``), never a clear-text password."""

    name: str
    verifier: str


@dataclass(frozen=True)
class EngineUsage:
    """What an engine has used since it started (counters only grow while it
    runs) and what its data directory takes now."""

    cpu_seconds: float
    read_bytes: int | None  # None: not measurable on this host
    write_bytes: int | None
    data_bytes: int


class EngineError(Exception):
    """The engine could not do what was asked (its log tail is in the message)."""


class PostgresDriver(Protocol):
    version: str  # "15.8"

    async def create(self, spec: EngineSpec) -> None:
        """initdb (idempotent: an existing data directory is kept)."""

    async def restore(self, spec: EngineSpec, backup: Path, *, archive: Path | None = None,
                      target_time: float | None = None) -> None:
        """A new engine from a base backup; with ``archive``, replay WAL from it
        up to ``target_time`` (or to its end), then promote."""

    async def clone_replica(self, spec: EngineSpec, source: str) -> None:
        """A new engine streaming from engine ``source`` (a hot standby)."""

    async def start(self, spec: EngineSpec) -> None:
        """Start (or adopt) the server and wait until it accepts connections."""

    async def stop(self, id: str) -> None:
        """Fast shutdown; stopping a stopped engine is fine."""

    async def reload(self, spec: EngineSpec, dynamic: Sequence[str]) -> None:
        """Apply ``spec``'s settings to a running engine without a restart: the
        parameters named in ``dynamic`` (the others wait for the next start)."""

    def running(self, id: str) -> bool: ...

    async def destroy(self, id: str) -> None:
        """Stop and delete the engine's files; an unknown engine is fine."""

    def engines(self) -> list[str]: ...

    async def execute(self, id: str, sql: str, database: str = "postgres") -> list[list[str]]:
        """Run SQL as the internal superuser; the rows of the last statement."""

    async def ensure_role(self, id: str, role: Role, *, database: str | None = None) -> None:
        """Create or update a login role (CREATEDB, CREATEROLE) and its database."""

    async def backup(self, id: str, dest: Path) -> None:
        """A consistent base backup of a running engine into ``dest``."""

    async def set_read_only(self, id: str, on: bool) -> None:
        """Refuse (or accept again) clients' writes, across restarts; turning it
        on ends the clients' sessions so that none keeps writing."""

    async def copy_backup(self, source: Path, dest: Path) -> None:
        """Copy a backup (ownership and modes kept); an existing ``dest`` is kept."""

    async def switch_wal(self, id: str) -> float:
        """Commit a marker transaction, switch WAL and wait until it is
        archived; the time of the marker (everything before it is restorable)."""

    async def in_recovery(self, id: str) -> bool: ...

    async def promote(self, id: str) -> None:
        """Make a standby a primary (and forget its source), once it has applied
        everything it received from its source."""

    async def sync_standby(self, id: str, standby: str | None) -> None:
        """Make ``standby`` (a replica of primary ``id``) its synchronous
        standby: a commit on ``id`` returns only once ``standby`` has it, so a
        failover to it loses no acknowledged commit (Multi-AZ); returns once
        the standby is attached so. ``None``: commits wait for no standby.
        Kept across restarts; read replicas stay asynchronous."""

    async def usage(self, id: str) -> EngineUsage | None:
        """CPU, I/O and disk use of a running engine (None: not running)."""

    async def connections(self, id: str) -> int:
        """Client connections open now (gureum's own are not counted)."""

    async def replica_lag(self, id: str) -> float | None:
        """Seconds a standby's replay is behind its source (None: not a standby)."""

    async def shutdown(self) -> None:
        """Stop every engine (gureum is stopping)."""
