"""The instance loop: drives each DB instance's engines toward its record.

creating → (engine made: initdb, restore, or replica clone; started; master
role and database) → backing-up (first base backup) → available. While
available the loop checks every ``CHECK`` seconds that the server runs
(restarting it, or failing over to the Multi-AZ standby, if it died), keeps
LatestRestorableTime fresh by archiving WAL every ``ARCHIVE_EVERY`` seconds
and takes the daily base backup. modifying, rebooting, stopping, starting
and deleting apply what the API recorded. A step that fails is retried by
the loop; after ``MAX_FAILURES`` a creating instance is marked failed.
Records are re-read and written in short transactions, never across awaits.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gureum.control import Loop
from gureum.drivers.postgres import EngineError, EngineSpec, Role

from ..cloudwatch.sources import sources
from ..common.ingress import Guarded, shared
from . import validate
from .core import AUTOMATED, INSTANCE, LOOP, SNAPSHOT, SNAPSHOT_LOOP, loop_key
from .metrics import InstanceMetrics
from .parameters import dynamic_names, static_values
from .snapshots import SnapshotOperations

log = logging.getLogger("gureum.rds")

CHECK = 5.0
ARCHIVE_EVERY = 300.0
BACKUP_EVERY = 90000.0  # the longest gap between two daily backups (25 h)
MAX_FAILURES = 4


class Lifecycle(SnapshotOperations):
    async def start(self) -> None:
        for doc in self.store.resources.list(INSTANCE):
            if doc.get("address") and doc["status"] not in ("creating", "deleting"):
                self._publish(doc)
        self.private.attach()
        shared(self.env).add("rds", self.guarded)
        self.env.loops.add(Loop(LOOP, self.reconcile, clock=self.env.clock,
                                resync=self.resync, resync_interval=60.0, concurrency=8,
                                backoff_max=30.0))
        self.env.loops.add(Loop(SNAPSHOT_LOOP, self.reconcile_snapshot, clock=self.env.clock,
                                resync=self.resync_snapshots, resync_interval=60.0,
                                backoff_max=30.0))
        sources(self.env).add(InstanceMetrics(self.store, self.driver, self.env.clock,
                                              self.env.settings.time_scale,
                                              self.env.settings.rds_gib_bytes))

    async def stop(self) -> None:
        sources(self.env).remove(InstanceMetrics.name)
        self.private.detach()
        await shared(self.env).remove("rds")
        if self.driver is not None:
            await self.driver.shutdown()

    async def reset(self) -> None:
        if self.driver is not None:
            for engine in self.driver.engines():
                await self.driver.destroy(engine)
        for doc in self.store.resources.list(INSTANCE):
            self._unpublish(doc)
            self.env.addresses.release(self.owner(doc))
            self.drop_managed_secret(doc)
        await self.private.release_all()
        await shared(self.env).ensure()
        for name in ("archive", "backups", "snapshots"):
            await asyncio.to_thread(shutil.rmtree, self.root / name, True)
        await super().reset()

    async def resync(self) -> Iterable[str]:
        docs = self.store.resources.list(INSTANCE)
        await self.private.release_orphans({self.owner(d) for d in docs})
        return [loop_key(d["account"], d["region"], d["id"]) for d in docs]

    def guarded(self) -> list[Guarded]:
        """DB instances on private addresses, with their VPC security groups;
        a Multi-AZ standby's address lets no instance in (as on AWS, nothing
        connects to it)."""
        out = []
        for d in self.store.resources.list(INSTANCE):
            if self.private.subnet_of(d["address"]) is not None:
                out.append(Guarded(d["address"], int(d["port"]), d["account"], d["region"],
                                   list(d.get("security_groups") or [])))
            if d.get("standby_address"):
                out.append(Guarded(d["standby_address"], int(d["port"]), d["account"],
                                   d["region"], []))
        return out

    def _publish(self, doc: dict[str, Any]) -> None:
        if self.env.names is not None:
            self.env.names.add(doc["host"], doc["address"])

    def _unpublish(self, doc: dict[str, Any]) -> None:
        if self.env.names is not None:
            self.env.names.remove(doc["host"])

    def _get(self, key: str) -> dict[str, Any] | None:
        account, region, id = key.split("|")
        return self.find(account, region, id)

    def _update(self, key: str, expected: str | None = None, event: str | None = None,
                **updates: Any) -> dict[str, Any] | None:
        """Write ``updates`` if the record is (still) in state ``expected``."""
        with self.store.tx():
            doc = self._get(key)
            if doc is None or (expected is not None and doc["status"] != expected):
                return None
            doc.update(updates)
            self.save(doc)
            if event:
                self.event(doc["account"], doc["region"], doc["id"], "db-instance", event)
            return doc

    # -- the loop ---------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        doc = self._get(key)
        if doc is None or self.driver is None:
            return None
        status = doc["status"]
        # (before an engine may listen there; a no-op once placed)
        await self.private.place(doc["address"])
        if doc.get("standby_address"):
            await self.private.place(doc["standby_address"])
        try:
            step = {
                "creating": self._create, "backing-up": self._first_backup,
                "available": self._keep, "modifying": self._modify,
                "rebooting": self._reboot, "stopping": self._stop, "starting": self._start,
                "storage-full": self._full,
                "deleting": self._delete,
            }.get(status)
            return None if step is None else await step(key, doc)
        except EngineError as exc:
            failures = self.env.loops[LOOP].failures(key) + 1
            log.warning("rds: %s %s failed (%d): %s", doc["id"], status, failures, exc)
            if status == "creating" and failures >= MAX_FAILURES:
                self._update(key, "creating", event=f"DB instance failed to start: {exc}"[:500],
                             status="failed")
                return None
            raise

    async def _create(self, key: str, doc: dict[str, Any]) -> float | None:
        assert self.driver is not None
        spec = self.spec(doc)
        source = doc.get("source") or {}
        kind = source.get("kind")
        if kind == "snapshot":
            await self.driver.restore(spec, Path(source["path"]))
        elif kind == "pitr":
            await self._restore_pitr(key, doc, source)
        elif kind == "replica":
            origin = self.find(doc["account"], doc["region"], source["from"])
            if origin is None:
                self._update(key, "creating", event="The source of the read replica is gone",
                             status="failed")
                return None
            await self.driver.clone_replica(spec, origin["engine_id"])
        else:
            await self.driver.create(spec)
        await self._boot(doc, spec)
        if doc.get("verifier") and not doc.get("replica_of"):
            await self.driver.ensure_role(spec.id, Role(doc["master_username"], doc["verifier"]),
                                          database=doc.get("db_name"))
        if doc["multi_az"]:
            await self._ensure_standby(doc)
        self._publish(doc)
        backups = doc["retention"] > 0 and not doc.get("replica_of")
        self._update(key, "creating", status="backing-up" if backups else "available",
                     endpoint_ready=True, source=None)
        return 0.0

    async def _restore_pitr(self, key: str, doc: dict[str, Any], source: dict[str, Any]
                            ) -> None:
        assert self.driver is not None
        target = source.get("time")
        live = self.find(doc["account"], doc["region"], source["from"]) \
            if source.get("from") else None
        if live is not None and self.driver.running(live["engine_id"]):
            marker = await self.driver.switch_wal(live["engine_id"])
            self._note_restorable(live, marker)
            if target is None:
                target = marker
        record = self.automated(doc["account"], doc["region"], source["resource_id"])
        if record is None or not record.get("backups"):
            raise EngineError("the automated backups are gone")
        if target is None:
            target = record.get("latest_restorable")
        usable = [b for b in record["backups"] if target is None or b["time"] <= target]
        base = max(usable or record["backups"], key=lambda b: b["time"])
        await self.driver.restore(self.spec(doc), Path(base["path"]),
                                  archive=self.archive_dir(source["resource_id"]),
                                  target_time=target)

    def _note_restorable(self, doc: dict[str, Any], when: float) -> None:
        with self.store.tx():
            fresh = self.find(doc["account"], doc["region"], doc["id"])
            if fresh is not None:
                fresh["latest_restorable"] = when
                fresh["last_archive"] = self.now()
                self.save(fresh)
            record = self.automated(doc["account"], doc["region"], doc["resource_id"])
            if record is not None:
                record["latest_restorable"] = when
                self.store.resources.put(AUTOMATED, doc["account"], doc["region"],
                                         doc["resource_id"], record)

    async def _base_backup(self, doc: dict[str, Any]) -> None:
        """A base backup into the instance's automated backups, and the WAL
        switched so that the moment it ends is restorable."""
        assert self.driver is not None
        now = self.now()
        dest = self.backups_dir(doc["resource_id"]) / f"{int(now * 1000)}"
        await self.driver.backup(doc["engine_id"], dest)
        marker = await self.driver.switch_wal(doc["engine_id"])
        with self.store.tx():
            record = self.automated(doc["account"], doc["region"], doc["resource_id"]) or {
                "resource_id": doc["resource_id"], "account": doc["account"],
                "region": doc["region"], "backups": [], "status": "active"}
            fresh = self.find(doc["account"], doc["region"], doc["id"]) or doc
            record["origin"] = {k: fresh[k] for k in (
                "id", "class", "storage", "port", "az", "master_username", "db_name",
                "engine", "engine_version", "encrypted", "retention", "backup_window",
                "created")}
            record["backups"].append({"path": str(dest), "time": marker})
            record["latest_restorable"] = marker
            keep_after = now - fresh["retention"] * 86400.0
            old = [b for b in record["backups"][:-1] if b["time"] < keep_after]
            record["backups"] = [b for b in record["backups"] if b not in old]
            self.store.resources.put(AUTOMATED, doc["account"], doc["region"],
                                     doc["resource_id"], record)
            fresh["last_backup"] = fresh["last_archive"] = now
            fresh["latest_restorable"] = marker
            self.save(fresh)
        for b in old:
            await asyncio.to_thread(shutil.rmtree, b["path"], True)

    async def _first_backup(self, key: str, doc: dict[str, Any]) -> float | None:
        await self._base_backup(doc)
        self._update(key, "backing-up", status="available")
        return 0.0

    async def _standby_address(self, doc: dict[str, Any]) -> None:
        """A Multi-AZ standby's own address, in the subnet of its zone (where
        instances live on a network; kept in ``doc`` and the record): each
        server has its own, and the endpoint's stays with the primary."""
        if doc.get("standby_address") or self.private.compute() is None:
            return
        with self.store.tx():
            fresh = self.find(doc["account"], doc["region"], doc["id"])
            if fresh is None:
                return
            if not fresh.get("standby_address"):
                group = self.subnet_groups.get(fresh["account"], fresh["region"],
                                               fresh.get("subnet_group") or "default")
                fresh["standby_address"] = self.private.allocate(
                    self.owner(fresh), fresh["account"], fresh["region"], fresh["secondary_az"],
                    self.subnet_groups.subnet_ids(group), another=True)
                self.save(fresh)
            doc["standby_address"] = fresh["standby_address"]

    async def _ensure_standby(self, doc: dict[str, Any]) -> None:
        assert self.driver is not None
        await self._standby_address(doc)
        if doc.get("standby_address"):
            await self.private.place(doc["standby_address"])
        standby = self.spec(doc, standby=True)
        if standby.id not in self.driver.engines():
            await self.driver.clone_replica(standby, doc["engine_id"])
        await self.driver.start(standby)
        # Multi-AZ is synchronous: from here on a commit on the primary is
        # acknowledged only once the standby has it (set again after every
        # failover, since the roles have swapped).
        await self.driver.sync_standby(doc["engine_id"], standby.id)

    async def _failover(self, key: str, doc: dict[str, Any]) -> dict[str, Any] | None:
        """Promote the standby, move the endpoint to it, and make the old
        primary the new standby."""
        assert self.driver is not None
        old, new = doc["engine_id"], doc["standby_id"]
        await self.driver.stop(old)
        if not self.driver.running(new):
            await self.driver.start(self.spec(doc, standby=True))
        await self.driver.promote(new)
        await self.driver.stop(new)
        swapped = {**doc, "engine_id": new, "standby_id": old,
                   "az": doc["secondary_az"], "secondary_az": doc["az"]}
        await self._boot(swapped)
        # A fresh base backup of the new primary at once: MariaDB's binlogs
        # start anew on it, so later restores must start from its own backup.
        updated = self._update(key, None, event="Multi-AZ instance failover completed",
                               engine_id=new, standby_id=old, az=doc["secondary_az"],
                               secondary_az=doc["az"], last_backup=0)
        await self.driver.destroy(old)
        if updated is not None:
            await self._ensure_standby(updated)
        return updated

    async def _keep(self, key: str, doc: dict[str, Any]) -> float | None:
        """An available instance: running, archiving, backed up daily."""
        assert self.driver is not None
        if not self.driver.running(doc["engine_id"]):
            if doc["multi_az"] and self.driver.running(doc["standby_id"]):
                log.warning("rds: %s primary died; failing over", doc["id"])
                await self._failover(key, doc)
            else:
                await self._boot(doc)
                self._update(key, "available", event="DB instance restarted")
            return 0.0
        if doc["multi_az"] and not self.driver.running(doc["standby_id"]):
            try:
                await self._ensure_standby(doc)
            except EngineError:
                # A standby that cannot be brought back must not hold every
                # commit: the primary goes on alone (as RDS does while it
                # replaces a standby) until a retry brings the standby back.
                await self.driver.sync_standby(doc["engine_id"], None)
                raise
        self._publish(doc)
        if await self._check_storage(key, doc):
            return CHECK
        if doc.get("deferred") and validate.in_window(doc["maintenance_window"], self.now()):
            self._update(key, "available", status="modifying", deferred={},
                         pending={**doc["deferred"], **(doc.get("pending") or {})},
                         event="Applying the pending modifications in the maintenance window")
            return 0.0
        _, version, family = self.group_values(doc)
        if not doc.get("params_new_group") and doc.get("params_version", 0) != version:
            await self.driver.reload(self.spec(doc), dynamic_names(family))
            self._update(key, "available", params_version=version,
                         event="Applied the parameter group's dynamic parameters")
        if doc["retention"] > 0 and not doc.get("replica_of"):
            now = self.now()
            since = now - float(doc.get("last_backup") or 0)
            # The daily backup in PreferredBackupWindow (once per window); one
            # missed (gureum was down then) is taken once a day has gone by.
            if since >= BACKUP_EVERY or (since >= 3600.0 and validate.in_daily_window(
                    doc["backup_window"], now)):
                await self._base_backup(doc)
            elif now - float(doc.get("last_archive") or 0) >= ARCHIVE_EVERY:
                self._note_restorable(doc, await self.driver.switch_wal(doc["engine_id"]))
        return CHECK

    async def _check_storage(self, key: str, doc: dict[str, Any]) -> bool:
        """The AllocatedStorage quota: when the data directory (WAL or binlogs
        included) reaches it, clients' writes are refused and the instance is
        storage-full; once the quota is above it again (ModifyDBInstance grows
        it), writes are accepted again. True: the instance is full."""
        assert self.driver is not None
        usage = await self.driver.usage(doc["engine_id"])
        if usage is None:
            return bool(doc.get("storage_full"))
        quota = int(doc["storage"]) * self.env.settings.rds_gib_bytes
        full = usage.data_bytes >= quota
        if full and not doc.get("storage_full"):
            await self.driver.set_read_only(doc["engine_id"], True)
            log.warning("rds: %s is out of storage (%d of %d bytes)", doc["id"],
                        usage.data_bytes, quota)
            self._update(key, doc["status"], status="storage-full", storage_full=True,
                         event="The DB instance has reached its allocated storage: writes "
                               "are refused until AllocatedStorage is increased")
        elif full and doc["status"] == "available":
            self._update(key, "available", status="storage-full")
        elif not full and doc.get("storage_full"):
            await self.driver.set_read_only(doc["engine_id"], False)
            self._update(key, doc["status"], storage_full=False,
                         status="available" if doc["status"] == "storage-full"
                         else doc["status"],
                         event="The DB instance has free storage again: writes are accepted")
        return full

    async def _full(self, key: str, doc: dict[str, Any]) -> float | None:
        """storage-full: still supervised (restarted if it dies), re-measured."""
        assert self.driver is not None
        if not self.driver.running(doc["engine_id"]):
            await self._boot(doc)
        await self._check_storage(key, doc)
        return CHECK

    async def _restart(self, doc: dict[str, Any]) -> None:
        assert self.driver is not None
        await self.driver.stop(doc["engine_id"])
        await self._boot(doc)

    async def _boot(self, doc: dict[str, Any], spec: EngineSpec | None = None) -> None:
        """Start the primary engine: its parameter group as it is now is then
        wholly in effect (static parameters included)."""
        assert self.driver is not None
        values, version, family = self.group_values(doc)
        await shared(self.env).ensure()  # (its groups guard it before it listens)
        await self.driver.start(spec or self.spec(doc))
        with self.store.tx():
            fresh = self.find(doc["account"], doc["region"], doc["id"])
            if fresh is not None:
                fresh["params_static"] = static_values(family, values)
                fresh["params_version"] = version
                fresh["params_new_group"] = False
                self.save(fresh)

    async def _modify(self, key: str, doc: dict[str, Any]) -> float | None:
        assert self.driver is not None
        pending = dict(doc.get("pending") or {})
        target = {**doc}
        if "class" in pending:
            target["class"] = pending["class"]
        if "retention" in pending:
            target["retention"] = pending["retention"]
        if "storage" in pending:
            target["storage"] = pending["storage"]
        promote = pending.get("promote", False)
        if promote:
            await self.driver.promote(doc["engine_id"])
            self._detach_replica(doc)
            target["replica_of"] = None
        restart = promote or target["class"] != doc["class"] or \
            (target["retention"] == 0) != (doc["retention"] == 0)
        if restart:
            await self._restart(target)
        if "verifier" in pending:
            await self.driver.ensure_role(doc["engine_id"],
                                          Role(doc["master_username"], pending["verifier"]))
            target["verifier"] = pending["verifier"]
        if "multi_az" in pending:
            target["multi_az"] = pending["multi_az"]
            if pending["multi_az"]:
                await self._ensure_standby(target)
            else:
                await self.driver.sync_standby(doc["engine_id"], None)
                await self.driver.destroy(doc["standby_id"])
                if doc.get("standby_address"):
                    await self.private.release_address(doc["standby_address"])
                target["standby_address"] = None
        target["storage_full"] = doc.get("storage_full", False)
        if target["storage_full"] and "storage" in pending:
            usage = await self.driver.usage(doc["engine_id"])
            quota = int(target["storage"]) * self.env.settings.rds_gib_bytes
            if usage is not None and usage.data_bytes < quota:
                await self.driver.set_read_only(doc["engine_id"], False)
                target["storage_full"] = False
        needs_backup = target["retention"] > 0 and (doc["retention"] == 0 or promote)
        events = ", ".join(sorted(k for k in pending if k != "verifier")) or "password"
        self._update(key, "modifying", event=f"Applied modifications: {events}",
                     status="backing-up" if needs_backup else "available", pending={},
                     **{k: target.get(k) for k in ("class", "retention", "storage", "verifier",
                                                   "multi_az", "replica_of", "storage_full",
                                                   "standby_address")})
        return 0.0

    def _detach_replica(self, doc: dict[str, Any]) -> None:
        with self.store.tx():
            source = self.find(doc["account"], doc["region"], doc.get("replica_of") or "")
            if source is not None:
                source["replicas"] = [r for r in source.get("replicas", []) if r != doc["id"]]
                self.save(source)

    async def _reboot(self, key: str, doc: dict[str, Any]) -> float | None:
        assert self.driver is not None
        if doc.get("failover") and doc["multi_az"]:
            await self._failover(key, doc)
        else:
            await self._restart(doc)
            if doc["multi_az"]:
                await self._ensure_standby(doc)
        self._update(key, "rebooting", event="DB instance restarted", status="available",
                     failover=False)
        return 0.0

    async def _stop(self, key: str, doc: dict[str, Any]) -> float | None:
        assert self.driver is not None
        await self.driver.stop(doc["engine_id"])
        await self.driver.stop(doc["standby_id"])
        self._update(key, "stopping", event="DB instance stopped", status="stopped")
        return None

    async def _start(self, key: str, doc: dict[str, Any]) -> float | None:
        await self._boot(doc)
        if doc["multi_az"]:
            await self._ensure_standby(doc)
        # What was modified while stopped is applied now.
        self._update(key, "starting", event="DB instance started",
                     status="modifying" if doc.get("pending") else "available")
        return 0.0

    async def _delete(self, key: str, doc: dict[str, Any]) -> float | None:
        assert self.driver is not None
        final = doc.get("final_snapshot")
        if final:
            snap = self.store.resources.get(SNAPSHOT, doc["account"], doc["region"], final)
            if snap is not None and snap["status"] == "creating":
                if not self.driver.running(doc["engine_id"]):
                    await self.driver.start(self.spec(doc))
                await self.driver.backup(doc["engine_id"], Path(snap["path"]))
                with self.store.tx():
                    snap["status"] = "available"
                    self.store.resources.put(SNAPSHOT, doc["account"], doc["region"], final,
                                             snap)
        await self.driver.destroy(doc["engine_id"])
        await self.driver.destroy(doc["standby_id"])
        self._unpublish(doc)
        self.env.addresses.release(self.owner(doc))
        await self.private.release(self.owner(doc))
        shared(self.env).wake()
        drop_backups = doc.get("delete_automated", True)
        with self.store.tx():
            self.store.resources.delete(INSTANCE, doc["account"], doc["region"], doc["id"])
            self.event(doc["account"], doc["region"], doc["id"], "db-instance",
                       "DB instance deleted")
            if doc.get("replica_of"):
                self._detach_replica(doc)
            for replica in doc.get("replicas", []):
                r = self.find(doc["account"], doc["region"], replica)
                if r is not None and r["status"] == "available":
                    r["pending"] = {"promote": True, "retention": 0}
                    r["status"] = "modifying"
                    self.save(r)
                    self.wake(doc["account"], doc["region"], replica)
            record = self.automated(doc["account"], doc["region"], doc["resource_id"])
            if record is not None:
                if drop_backups:
                    self.store.resources.delete(AUTOMATED, doc["account"], doc["region"],
                                                doc["resource_id"])
                else:
                    record["status"] = "retained"
                    self.store.resources.put(AUTOMATED, doc["account"], doc["region"],
                                             doc["resource_id"], record)
        if drop_backups:
            await asyncio.to_thread(shutil.rmtree, self.archive_dir(doc["resource_id"]), True)
            await asyncio.to_thread(shutil.rmtree, self.backups_dir(doc["resource_id"]), True)
        return None

    # -- the snapshot loop ------------------------------------------------

    async def resync_snapshots(self) -> Iterable[str]:
        return [loop_key(s["account"], s["region"], s["id"])
                for s in self.store.resources.list(SNAPSHOT)
                if s["status"] in ("creating", "deleted")]

    async def reconcile_snapshot(self, key: str) -> float | None:
        account, region, id = key.split("|")
        snap = self.store.resources.get(SNAPSHOT, account, region, id)
        if snap is None or self.driver is None:
            return None
        if snap["status"] == "deleted":
            await asyncio.to_thread(shutil.rmtree, snap["path"], True)
            with self.store.tx():
                self.store.resources.delete(SNAPSHOT, account, region, id)
            return None
        if snap["status"] != "creating":
            return None
        if snap.get("copy_from"):
            await self._copy_snapshot(key, snap)
            return None
        doc = self.find(account, region, snap["instance_id"])
        if doc is None or doc["status"] == "deleting":
            return None  # a final snapshot: the delete step takes it
        if not self.driver.running(doc["engine_id"]):
            return CHECK
        await self.driver.backup(doc["engine_id"], Path(snap["path"]))
        with self.store.tx():
            fresh = self.store.resources.get(SNAPSHOT, account, region, id)
            if fresh is not None and fresh["status"] == "creating":
                fresh["status"] = "available"
                self.store.resources.put(SNAPSHOT, account, region, id, fresh)
                self.event(account, region, id, "db-snapshot", "Manual snapshot created")
        return None

    async def _copy_snapshot(self, key: str, snap: dict[str, Any]) -> None:
        account, region, id = key.split("|")
        assert self.driver is not None
        await self.driver.copy_backup(snap["engine"], Path(snap["copy_from"]),
                                      Path(snap["path"]))
        with self.store.tx():
            fresh = self.store.resources.get(SNAPSHOT, account, region, id)
            if fresh is not None and fresh["status"] == "creating":
                fresh["status"] = "available"
                self.store.resources.put(SNAPSHOT, account, region, id, fresh)
                self.event(account, region, id, "db-snapshot", "Finished copying snapshot")
