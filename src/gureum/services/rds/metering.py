"""What DB instances cost: the billing meter's usage source for RDS.

- Instance hours, by class and deployment (``InstanceUsage:db.t3.micro`` or
  ``Multi-AZUsage:db.t3.micro``), with the engine's price list operation
  (``CreateDBInstance:0014`` PostgreSQL, ``:0002`` MySQL, ``:0018``
  MariaDB), while the instance runs: from backing-up (the server is up)
  through available, modifying and rebooting, until it is stopped or deleted.
  AWS bills per second with a ten-minute minimum per start.
- Allocated storage in GB-months (``RDS:GP2-Storage``, or
  ``RDS:Multi-AZ-GP2-Storage``, likewise gp3), while the instance exists,
  stopped or not.
- Backup storage beyond the free amount (``RDS:ChargedBackupUsage``, GB-months):
  AWS gives each account, in each region, backup storage up to its total
  provisioned database storage there for free. Backup storage is what the
  account's backups really take on disk: its manual snapshots, and for each
  automated backup (live or retained) its base backups and archived WAL or
  binlogs. Sizes are in the GiB of ``rds_gib_bytes`` (the unit the storage
  quota is kept in), so with a smaller GiB the free amount scales as the
  disk does. The charge is the account's and region's, not a resource's.

Registered with ``register_source`` when the RDS package is imported.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..base import Env
from ..billing.runs import note_run, runs_of
from ..billing.sources import Gauge, run_gauges
from .core import AUTOMATED, INSTANCE, SNAPSHOT

SERVICE = "AmazonRDS"
OPERATIONS = {"postgres": "CreateDBInstance:0014", "mysql": "CreateDBInstance:0002",
              "mariadb": "CreateDBInstance:0018"}
RUNNING = {"backing-up", "available", "modifying", "rebooting", "stopping",
           "storage-optimization"}
NO_STORAGE = {"creating", "failed"}  # nothing provisioned yet, or given up
MINIMUM = 600.0
BACKUP_USAGE = "RDS:ChargedBackupUsage"


def disk_usage(path: Path) -> int:
    """Bytes of the files under ``path`` (a file: its size; missing: 0)."""
    try:
        if not path.is_dir():
            return path.stat().st_size if path.exists() else 0
    except OSError:
        return 0
    total = 0
    for top, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass  # removed while we looked
    return total


def billed_as(doc: dict[str, Any]) -> str:
    """What a DB instance's hours are billed as: its class and deployment."""
    return f"{doc.get('class', '')}|{'multi' if doc.get('multi_az') else 'single'}"


def note(doc: dict[str, Any], now: float) -> None:
    """Record a start or stop of the instance's billed time (RDS saves each
    instance record through this), so the meter bills each run exactly."""
    note_run(doc, now, doc.get("status") in RUNNING, billed_as(doc))


class InstanceUsage:
    """The RDS usage source (see the module docstring)."""

    name = "rds"

    def __init__(self) -> None:
        self.root: Path | None = None  # the RDS data directory (archives)
        self.gib = float(1 << 30)
        # Sizes of backups that no longer change (taken base backups and
        # available snapshots), by path: measured once.
        self._sizes: dict[str, int] = {}

    def bind(self, env: Env) -> None:
        self.root = Path(env.settings.data_dir) / "rds"
        self.gib = float(env.settings.rds_gib_bytes)

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        yield from self._instances(conn, since, now)
        yield from self._backups(conn)

    def _size(self, path: str, final: bool) -> int:
        known = self._sizes.get(path)
        if known is not None:
            return known
        size = disk_usage(Path(path))
        if final:
            self._sizes[path] = size
        return size

    def _backups(self, conn: sqlite3.Connection) -> Iterable[Gauge]:
        """The account's and region's backup storage beyond its provisioned
        storage, in GB (a gauge per account and region that has any)."""
        provisioned: dict[tuple[str, str], float] = defaultdict(float)
        stored: dict[tuple[str, str], int] = defaultdict(int)
        kept: set[str] = set()
        rows = conn.execute("SELECT kind, account, region, data FROM resources WHERE kind IN"
                            " (?, ?, ?)", (INSTANCE, SNAPSHOT, AUTOMATED)).fetchall()
        for kind, account, region, data in rows:
            doc: dict[str, Any] = json.loads(data)
            where = (account, region)
            if kind == INSTANCE:
                if doc.get("status") not in NO_STORAGE:
                    provisioned[where] += float(doc.get("storage") or 0)
            elif kind == SNAPSHOT:
                if doc.get("status") != "deleted" and doc.get("path"):
                    kept.add(doc["path"])
                    stored[where] += self._size(doc["path"], doc.get("status") == "available")
            else:
                for backup in doc.get("backups") or []:
                    kept.add(backup["path"])
                    stored[where] += self._size(backup["path"], True)
                if self.root is not None and doc.get("resource_id"):
                    archive = self.root / "archive" / str(doc["resource_id"])
                    stored[where] += disk_usage(archive)
        for path in self._sizes.keys() - kept:  # gone: forget them
            del self._sizes[path]
        for (account, region), size in sorted(stored.items()):
            beyond = size / self.gib - provisioned.get((account, region), 0.0)
            if beyond > 0:
                yield Gauge(account=account, region=region, service=SERVICE,
                            usage_type=BACKUP_USAGE, resource="", amount=beyond,
                            unit="GB-Mo")

    @staticmethod
    def _what(attrs: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
        def fields(what: str) -> dict[str, Any]:
            klass, _, deployment = what.partition("|")
            kind = "Multi-AZUsage" if deployment == "multi" else "InstanceUsage"
            return {"usage_type": f"{kind}:{klass}", "attrs": {**attrs, "instance_type": klass}}
        return fields

    def _instances(self, conn: sqlite3.Connection, since: float, now: float
                   ) -> Iterable[Gauge]:
        rows = conn.execute("SELECT account, region, data, updated FROM resources"
                            " WHERE kind = ?", (INSTANCE,)).fetchall()
        for account, region, data, updated in rows:
            doc: dict[str, Any] = json.loads(data)
            status = doc.get("status")
            klass = str(doc.get("class", ""))
            multi = bool(doc.get("multi_az"))
            attrs: dict[str, Any] = {"instance_type": klass, "tags": doc.get("tags") or {},
                                     "engine": doc.get("engine")}
            arn = f"arn:aws:rds:{region}:{account}:db:{doc['id']}"
            hours = dict(account=account, region=region, service=SERVICE,
                         usage_type=f"{'Multi-AZUsage' if multi else 'InstanceUsage'}:{klass}",
                         resource=arn, amount=1.0, unit="Hrs",
                         operation=OPERATIONS.get(str(doc.get("engine")), ""),
                         minimum=MINIMUM, attrs=attrs)
            runs = runs_of(doc)
            if runs is not None:  # billed from its recorded starts and stops
                yield from run_gauges(hours, runs, since, now, self._what(attrs))
            elif status in RUNNING:
                yield Gauge(**hours, since=float(updated))
            elif since < updated <= now:
                yield Gauge(**hours, until=float(updated))
            if status in NO_STORAGE:
                continue
            volume = str(doc.get("storage_type") or "gp2").upper()
            yield Gauge(account=account, region=region, service=SERVICE,
                        usage_type=f"RDS:{'Multi-AZ-' if multi else ''}{volume}-Storage",
                        resource=arn, amount=float(doc.get("storage") or 0), unit="GB-Mo",
                        attrs=attrs)
