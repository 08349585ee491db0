"""RDS benchmark: CreateDBInstance → first successful psql query through the
endpoint (median of N, with and without automated backups), snapshot restore
and point-in-time restore of a small database → first query, Multi-AZ
ForceFailover → writable again, read-replica lag for one insert, the memory
of one idle engine; pgbench through the endpoint's name against the same
server by its address and by its Unix socket (rounds in rotating order,
medians); and MariaDB CreateDBInstance → first ``mysql`` query.

    .venv/bin/python bench/rds.py [N]
    .venv/bin/python bench/rds.py --pgbench ROUNDS   (only the pgbench comparison)

Prints one JSON object. Needs PostgreSQL's server binaries, psql and pgbench
(MariaDB and the mysql client for the MariaDB figure).

Measured on the 2-core Debian 12 development VM (PostgreSQL 15, MariaDB
10.11, shared with other test runs, load ≈ 10 on 2 CPUs), N=3:
CreateDBInstance → first query 0.93 s median (2.5 s with automated backups,
which take a base backup before the instance is available), snapshot of a
10k-row database 2.7 s, its restore → first query 2.0 s, point-in-time
restore → first query 1.9 s, replica lag for one insert 0.53 s,
ForceFailover → writable 1.8 s, one idle engine ≈ 18 MiB PSS; MariaDB
CreateDBInstance → first query 0.59 s (the first instance of a gureum also
makes each engine's data directory template: initdb ~4 s, mariadb-install-db
~5 s). pgbench (4 clients, 6 rounds of 3 s): endpoint name 816 tps, the
server's address 938, its Unix socket 986 (medians); the endpoint name
resolves to the address the server itself listens on (no proxy in between),
so endpoint vs address differ only by noise here: single rounds ranged from
718 to 1156 tps on this loaded machine.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from gureum.testing.server import running_gureum

PASSWORD = "bench-Passw0rd"


def query(db: dict[str, Any], sql: str = "SELECT 1") -> bool:
    env = {**os.environ, "PGPASSWORD": PASSWORD, "PGCONNECT_TIMEOUT": "2"}
    out = subprocess.run(["psql", "-X", "-A", "-t", "-h", db["Address"], "-p", str(db["Port"]),
                          "-U", "master", "-d", "app", "-c", sql], env=env,
                         capture_output=True, text=True)
    return out.returncode == 0


def until_query(rds: Any, id: str, started: float, sql: str = "SELECT 1") -> float:
    endpoint = None
    while True:
        if endpoint is None:
            db = rds.describe_db_instances(DBInstanceIdentifier=id)["DBInstances"][0]
            if db["DBInstanceStatus"] == "failed":
                raise RuntimeError(f"{id} failed")
            endpoint = db.get("Endpoint") if db["DBInstanceStatus"] in (
                "available", "backing-up") else None
        if endpoint is not None and query(endpoint, sql):
            return time.monotonic() - started
        time.sleep(0.02)


def wait_available(rds: Any, id: str) -> dict[str, Any]:
    while True:
        db: dict[str, Any] = rds.describe_db_instances(DBInstanceIdentifier=id)["DBInstances"][0]
        if db["DBInstanceStatus"] == "available":
            return db
        time.sleep(0.05)


def create(rds: Any, id: str, **kw: Any) -> float:
    started = time.monotonic()
    rds.create_db_instance(DBInstanceIdentifier=id, Engine="postgres",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername="master", MasterUserPassword=PASSWORD, DBName="app",
                           **kw)
    return until_query(rds, id, started)


def pss_kib(data_dir: Path) -> int:
    """Proportional memory of every server process of this gureum (a server's
    children name only their role; their parent names the data directory)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            if b"postgres" not in cmd:
                continue
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            owner = cmd if str(data_dir).encode() in cmd else \
                (Path("/proc") / parent / "cmdline").read_bytes()
            if str(data_dir).encode() not in owner:
                continue
            for line in (entry / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def pgbench(target: str, port: int, user: str, seconds: int) -> float:
    """Transactions per second of a TPC-B-like run with 4 clients."""
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    errors = ""
    for _ in range(3):  # a loaded machine sometimes fails a connection attempt
        out = subprocess.run(["pgbench", "-h", target, "-p", str(port), "-U", user, "-c", "4",
                              "-j", "2", "-T", str(seconds), "-n", "app"], env=env,
                             capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if out.returncode == 0 and line.startswith("tps ="):
                return float(line.split()[2])
        errors += out.stderr[-500:]
    raise RuntimeError(errors)


def socket_dir(data_dir: Path, address: str, port: int) -> str:
    """The Unix socket directory of the server listening on ``address:port``."""
    for pidfile in (data_dir / "rds" / "engines").glob("*/data/postmaster.pid"):
        lines = pidfile.read_text().splitlines()
        if len(lines) > 5 and lines[3] == str(port) and lines[5] == address:
            return lines[4]
    raise RuntimeError("no server on that address")


def compare_pgbench(g: Any, rds: Any, rounds: int = 6, seconds: int = 3) -> dict[str, Any]:
    create(rds, "bench", BackupRetentionPeriod=0)
    db = wait_available(rds, "bench")["Endpoint"]
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    subprocess.run(["pgbench", "-i", "-s", "2", "-q", "-h", db["Address"], "-p",
                    str(db["Port"]), "-U", "master", "app"], env=env, capture_output=True,
                   check=True)
    import socket

    address = socket.gethostbyname(db["Address"])
    targets = {"endpoint": (db["Address"], "master"), "address": (address, "master"),
               "socket": (socket_dir(g.data_dir, address, db["Port"]), "rdsadmin")}
    tps: dict[str, list[float]] = {k: [] for k in targets}
    names = list(targets)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            host, user = targets[name]
            tps[name].append(pgbench(host, db["Port"], user, seconds))
    med = {k: statistics.median(v) for k, v in tps.items()}
    # Each round runs the three back to back, so a round's own ratio is less
    # exposed to the machine's drift than a ratio of medians.
    paired = [e / a for e, a in zip(tps["endpoint"], tps["address"], strict=True)]
    return {"tps_median": med, "tps_all": tps,
            "endpoint_vs_address": med["endpoint"] / med["address"],
            "endpoint_vs_address_per_round_median": statistics.median(paired),
            "endpoint_vs_socket": med["endpoint"] / med["socket"]}


def pgbench_only(rounds: int) -> dict[str, Any]:
    """Only the pgbench comparison, with more rounds (``--pgbench ROUNDS``)."""
    with running_gureum() as g:
        out = compare_pgbench(g, g.client("rds"), rounds=rounds)
    out["load_1min"] = os.getloadavg()[0]
    return out


def mariadb_create(rds: Any, n: int) -> dict[str, Any]:
    import shutil

    if shutil.which("mysql") is None or not Path("/usr/sbin/mariadbd").exists():
        return {"skipped": "MariaDB is not installed"}
    times = []
    for i in range(-1, n):  # the first makes the data directory template: not counted
        started = time.monotonic()
        rds.create_db_instance(DBInstanceIdentifier=f"maria-{i + 1}", Engine="mariadb",
                               DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                               MasterUsername="admin", MasterUserPassword=PASSWORD,
                               DBName="app", BackupRetentionPeriod=0)
        endpoint = None
        while True:
            if endpoint is None:
                db = rds.describe_db_instances(DBInstanceIdentifier=f"maria-{i + 1}")[
                    "DBInstances"][0]
                endpoint = db.get("Endpoint") if db["DBInstanceStatus"] == "available" \
                    else None
            if endpoint is not None and subprocess.run(
                    ["mysql", "--no-defaults", "-h", endpoint["Address"], "-P",
                     str(endpoint["Port"]), "-u", "admin", "app", "-e", "SELECT 1"],
                    env={**os.environ, "MYSQL_PWD": PASSWORD},
                    capture_output=True).returncode == 0:
                break
            time.sleep(0.02)
        if i >= 0:
            times.append(time.monotonic() - started)
    return {"median": statistics.median(times), "all": times}


def main(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with running_gureum() as g:
        rds = g.client("rds")
        create(rds, "warmup", BackupRetentionPeriod=0)  # the first one makes the template
        plain = [create(rds, f"plain-{i}", BackupRetentionPeriod=0) for i in range(n)]
        backed = [create(rds, f"backed-{i}", BackupRetentionPeriod=1) for i in range(n)]
        out["create_to_first_query_s"] = {"median": statistics.median(plain), "all": plain}
        out["create_with_backups_to_first_query_s"] = {"median": statistics.median(backed),
                                                       "all": backed}
        src = wait_available(rds, "backed-0")["Endpoint"]
        out["idle_engine_pss_kib"] = pss_kib(g.data_dir) // (1 + 2 * n)
        query(src, "CREATE TABLE t AS SELECT g AS n FROM generate_series(1, 10000) g")
        started = time.monotonic()
        rds.create_db_snapshot(DBInstanceIdentifier="backed-0", DBSnapshotIdentifier="s1")
        while rds.describe_db_snapshots(DBSnapshotIdentifier="s1")["DBSnapshots"][0][
                "Status"] != "available":
            time.sleep(0.02)
        out["snapshot_s"] = time.monotonic() - started
        started = time.monotonic()
        rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier="from-snap",
                                                 DBSnapshotIdentifier="s1",
                                                 BackupRetentionPeriod=0)
        out["snapshot_restore_to_first_query_s"] = until_query(
            rds, "from-snap", started, "SELECT count(*) FROM t")
        target = time.time()
        query(src, "INSERT INTO t VALUES (-1)")
        started = time.monotonic()
        rds.restore_db_instance_to_point_in_time(
            SourceDBInstanceIdentifier="backed-0", TargetDBInstanceIdentifier="pitr",
            RestoreTime=target, BackupRetentionPeriod=0)
        out["pitr_to_first_query_s"] = until_query(rds, "pitr", started,
                                                   "SELECT count(*) FROM t")
        rds.create_db_instance_read_replica(DBInstanceIdentifier="replica",
                                            SourceDBInstanceIdentifier="backed-0")
        rep = wait_available(rds, "replica")["Endpoint"]
        started = time.monotonic()
        query(src, "INSERT INTO t VALUES (-2)")
        while not query(rep, "SELECT 1/count(*) FROM t WHERE n = -2"):
            time.sleep(0.005)
        out["replica_lag_s"] = time.monotonic() - started
        create(rds, "ha", BackupRetentionPeriod=0, MultiAZ=True)
        before = wait_available(rds, "ha")
        ha = before["Endpoint"]
        query(ha, "CREATE TABLE w (n int)")
        started = time.monotonic()
        rds.reboot_db_instance(DBInstanceIdentifier="ha", ForceFailover=True)
        # Writable on the promoted standby: the instance reports the other zone.
        while rds.describe_db_instances(DBInstanceIdentifier="ha")["DBInstances"][0][
                "AvailabilityZone"] == before["AvailabilityZone"]:
            time.sleep(0.01)
        while not query(ha, "INSERT INTO w VALUES (1)"):
            time.sleep(0.01)
        out["failover_to_writable_s"] = time.monotonic() - started
        for id in ("ha", "replica", "pitr", "from-snap", "warmup", *[f"plain-{i}"
                                                                     for i in range(n)]):
            rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
        out["pgbench"] = compare_pgbench(g, rds)
        out["mariadb_create_to_first_query_s"] = mariadb_create(rds, n)
    out["cpus"] = os.cpu_count()
    out["load_1min"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--pgbench":
        print(json.dumps(pgbench_only(int(sys.argv[2])), indent=2))
    else:
        print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3), indent=2))
