"""Versioned schema migrations: the list, and applying it to a connection.

Every schema change is a ``Migration`` with a unique integer version. The
store applies each migration not yet recorded in ``schema_migrations``, in
version order, each in its own transaction, exactly once. A service adds its
tables by calling ``register_migration`` at import time (versions 1-99 are
the store's own; pick a block per service, e.g. 1000 for ec2).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gureum.store.errors import StoreError

MigrationStep = str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    """One schema change: SQL text (several statements allowed) or a callable."""

    version: int
    name: str
    step: MigrationStep


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "resources",
        """
        CREATE TABLE resources (
            account TEXT NOT NULL,
            region TEXT NOT NULL,
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            data TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            PRIMARY KEY (account, region, kind, id)
        );
        CREATE INDEX resources_by_kind ON resources (kind, account, region, created, id);
        """,
    ),
    Migration(
        2,
        "meta",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    ),
    Migration(
        3,
        "access_keys",
        """
        CREATE TABLE access_keys (
            access_key_id TEXT PRIMARY KEY,
            secret_access_key TEXT NOT NULL,
            account_id TEXT NOT NULL,
            user_name TEXT,
            status TEXT NOT NULL DEFAULT 'Active',
            created REAL NOT NULL
        );
        CREATE INDEX access_keys_by_account ON access_keys (account_id, user_name);
        """,
    ),
]


def register_migration(version: int, name: str, step: MigrationStep) -> Migration:
    """Add a migration to ``MIGRATIONS``; the next ``Store.open`` applies it."""
    if any(m.version == version for m in MIGRATIONS):
        raise ValueError(f"migration version {version} is already registered")
    migration = Migration(version, name, step)
    MIGRATIONS.append(migration)
    return migration


def split_sql(script: str) -> list[str]:
    """Split an SQL script into complete statements (triggers stay whole)."""
    statements: list[str] = []
    buf = ""
    for piece in script.split(";"):
        buf += piece + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                statements.append(buf.strip())
            buf = ""
    if buf.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement: {buf.strip()[:80]!r}")
    return statements


def apply_migrations(
    conn: sqlite3.Connection,
    migrations: Iterable[Migration] | None = None,
    now: Callable[[], float] = time.time,
) -> list[int]:
    """Apply pending migrations in version order; return the versions applied.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Each
    migration runs inside ``BEGIN IMMEDIATE`` so two processes opening the
    same store never apply one twice.
    """
    todo = sorted(MIGRATIONS if migrations is None else migrations, key=lambda m: m.version)
    versions = [m.version for m in todo]
    if len(set(versions)) != len(versions):
        raise StoreError("duplicate migration versions")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL NOT NULL)"
    )
    applied: list[int] = []
    for migration in todo:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if row is None:
                _run_step(conn, migration.step)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now()),
                )
                applied.append(migration.version)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(
                    f"migration {migration.version} ({migration.name}) failed: {exc}"
                ) from exc
            raise
    return applied


def applied_versions(conn: sqlite3.Connection) -> list[int]:
    """The versions recorded in ``schema_migrations``, ascending."""
    rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [int(r[0]) for r in rows]


def _run_step(conn: sqlite3.Connection, step: MigrationStep) -> None:
    if callable(step):
        step(conn)
        return
    for statement in split_sql(step):
        conn.execute(statement)
