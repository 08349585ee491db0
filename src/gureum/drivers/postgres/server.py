"""The real PostgreSQL driver: server processes that are children of gureum.

Each engine is ``<root>/<id>/data`` owned by an unprivileged user (initdb
refuses root), its socket in ``<root>/<id>/run`` and its log in
``<root>/<id>/server.log``. gureum speaks to it as the internal superuser
``rdsadmin`` over that socket (trusted: only root and the engine user can
reach the directory); clients come in over TCP on the engine's own address
with SCRAM passwords. Settings gureum owns live in ``gureum.conf`` (rewritten
at every start) and, while a restore replays WAL, ``gureum-recovery.conf``.
A ``run`` directory too deep for a socket's path is named through a short
link (``sockdir``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from gureum.drivers import sockdir

from .base import EngineError, EngineSpec, EngineUsage, Role
from .cgroups import EngineLimits
from .procstat import dir_bytes, tree_usage

log = logging.getLogger("gureum.drivers.postgres")

ADMIN = "rdsadmin"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
POLL = 0.02
# The longest name the server gives its socket (the port has up to 5 digits).
SOCKET_NAME = ".s.PGSQL.65535"

HBA = f"""# gureum: the internal superuser only over the socket; everyone else with SCRAM
local   all             {ADMIN}                                 trust
local   replication     {ADMIN}                                 trust
local   all             all                                     reject
host    all             {ADMIN}         0.0.0.0/0               reject
host    all             {ADMIN}         ::/0                    reject
host    all             all             0.0.0.0/0               scram-sha-256
host    all             all             ::/0                    scram-sha-256
"""

DEFAULTS: Mapping[str, str] = {
    "shared_buffers": "16MB",
    "max_connections": "100",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "hot_standby": "on",
    "wal_keep_size": "64MB",
    "log_min_error_statement": "panic",  # statements may hold secrets
    "dynamic_shared_memory_type": "posix",
    "recovery_init_sync_method": "syncfs",
    "password_encryption": "scram-sha-256",
}


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian layout, then PATH)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                      else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("postgres")
    return Path(found).parent if found else None


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresServers:
    def __init__(self, root: Path, bin_dir: Path | None = None, user: str = "postgres") -> None:
        self.root = root
        found = bin_dir or find_bin_dir()
        if found is None:
            raise EngineError("PostgreSQL is not installed (no postgres binary found)")
        self.bin = found
        self.version = self._version()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            entry = pwd.getpwnam(user)
            self.uid, self.gid = entry.pw_uid, entry.pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._prepared = False
        owner = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:8]
        self.limits = EngineLimits(owner=owner)

    def _version(self) -> str:
        import subprocess

        out = subprocess.run([str(self.bin / "postgres"), "--version"], capture_output=True,
                             text=True, check=True).stdout
        m = re.search(r"(\d+(?:\.\d+)?)", out)
        return m.group(1) if m else "0"

    def _as_engine(self) -> tuple[str, ...]:
        """The prefix that runs a program as the engine user: ``setpriv`` execs
        in place (the server's pid stays the child's pid); event loops such as
        uvloop do not take ``user=``/``group=``."""
        if not self.as_root:
            return ()
        return ("setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--")

    def _server_prefix(self) -> tuple[str, ...]:
        """Like ``_as_engine``, and the server is SIGKILLed if gureum dies
        (``--pdeathsig``): no postmaster outlives a killed gureum."""
        if shutil.which("setpriv") is None:
            return self._as_engine()
        if not self.as_root:
            return ("setpriv", "--pdeathsig", "KILL", "--")
        return ("setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                "--pdeathsig", "KILL", "--")

    # -- files ------------------------------------------------------------

    def _prepare(self) -> None:
        """The root (and the directories above it) must be traversable by the
        engine user; only the search bit is added where it is missing."""
        if self._prepared:
            return
        self._mkdir(self.root, 0o711)
        if self.as_root:
            for p in [self.root, *self.root.parents]:
                mode = p.stat().st_mode
                if not mode & stat.S_IXOTH:
                    os.chmod(p, stat.S_IMODE(mode) | stat.S_IXOTH)
        sockdir.sweep()
        self._prepared = True

    def dir(self, id: str) -> Path:
        return self.root / id

    def data(self, id: str) -> Path:
        return self.root / id / "data"

    def socket_dir(self, id: str) -> Path:
        """Where the server's socket is: its ``run`` directory, by a short
        link if that path is too long for a socket's."""
        return sockdir.socket_dir(self.dir(id) / "run", SOCKET_NAME)

    def _own(self, path: Path) -> None:
        if self.as_root:
            os.chown(path, self.uid, self.gid)

    def _mkdir(self, path: Path, mode: int = 0o700) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        self._own(path)

    def make_dir(self, path: Path) -> None:
        """A directory the engine user may write (archives, backups)."""
        self._prepare()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            self._mkdir(path)

    async def _run(self, *args: str, input: bytes | None = None, as_engine: bool = True,
                   env: Mapping[str, str] | None = None, check: bool = True) -> str:
        if as_engine:
            args = (*self._as_engine(), *args)
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE if input is not None else
            asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=str(self.root),
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
                 **(env or {})},
        )
        out, err = await proc.communicate(input)
        if check and proc.returncode != 0:
            name = Path(args[0]).name
            detail = err.decode(errors="replace")[-2000:]
            raise EngineError(f"{name} failed ({proc.returncode}): {detail}")
        return out.decode(errors="replace")

    def _write_conf(self, spec: EngineSpec) -> None:
        settings: dict[str, str] = dict(DEFAULTS)
        settings.update(spec.settings)
        settings.update(spec.params)
        settings["listen_addresses"] = spec.address
        settings["port"] = str(spec.port)
        settings["unix_socket_directories"] = str(self.socket_dir(spec.id))
        if spec.archive is not None:
            self.make_dir(spec.archive)
            settings["archive_mode"] = "on"
            settings["archive_command"] = (
                f"test ! -f {spec.archive}/%f && cp %p {spec.archive}/%f.tmp"
                f" && mv {spec.archive}/%f.tmp {spec.archive}/%f")
        else:
            settings["archive_mode"] = "off"
        settings["synchronous_standby_names"] = self._sync_names(spec.id)
        # A standby's WAL receiver connects under this name (``sync_standby``).
        settings["cluster_name"] = spec.id
        lines = [f"{k} = {_quote(v)}" for k, v in sorted(settings.items())]
        conf = self.data(spec.id) / "gureum.conf"
        conf.write_text("# written by gureum at every start\n" + "\n".join(lines) + "\n")
        self._own(conf)

    def _finish_data_dir(self, spec: EngineSpec) -> None:
        data = self.data(spec.id)
        (data / "pg_hba.conf").write_text(HBA)
        self._own(data / "pg_hba.conf")
        main = data / "postgresql.conf"
        text = main.read_text()
        if "include_if_exists = 'gureum.conf'" not in text:
            main.write_text(text + "\ninclude_if_exists = 'gureum.conf'\n"
                            "include_if_exists = 'gureum-recovery.conf'\n")
        for stale in ("postmaster.pid", "postmaster.opts"):
            with contextlib.suppress(FileNotFoundError):
                (data / stale).unlink()
        self._mkdir(self.dir(spec.id) / "run")

    # -- lifecycle --------------------------------------------------------

    def engines(self) -> list[str]:
        try:
            return sorted(p.name for p in self.root.iterdir()
                          if not p.name.startswith(".") and p.is_dir())
        except FileNotFoundError:
            return []

    async def _template(self) -> Path:
        """An initdb'd data directory copied for every new engine (initdb is
        seconds on a busy machine, a copy a fraction of one)."""
        template = self.root / f".template-{self.version}"
        if (template / "PG_VERSION").exists():
            return template
        tmp = self.root / f".template-{self.version}.tmp"
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        await self._run(str(self.bin / "initdb"), "-D", str(tmp), "-U", ADMIN, "-E", "UTF8",
                        "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=scram-sha-256",
                        "--wal-segsize=1", "--no-sync")
        await self._sync(tmp)
        tmp.rename(template)
        return template

    async def _sync(self, path: Path) -> None:
        await self._run("sync", "-f", str(path), as_engine=False)

    async def create(self, spec: EngineSpec) -> None:
        if (self.data(spec.id) / "PG_VERSION").exists():
            return
        self._prepare()
        template = await self._template()
        tmp = await self._copy_in(spec, template)
        await self._sync(tmp)
        tmp.rename(self.data(spec.id))
        self._finish_data_dir(spec)

    async def _copy_in(self, spec: EngineSpec, source: Path) -> Path:
        self._prepare()
        d = self.dir(spec.id)
        self._mkdir(d, 0o711)
        tmp = d / "data.tmp"
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        await self._run("cp", "-a", str(source), str(tmp))
        os.chmod(tmp, 0o700)
        for name in ("standby.signal", "recovery.signal", "gureum-recovery.conf",
                     "postmaster.pid", "backup_manifest"):
            with contextlib.suppress(FileNotFoundError):
                (tmp / name).unlink()
        return tmp

    async def restore(self, spec: EngineSpec, backup: Path, *, archive: Path | None = None,
                      target_time: float | None = None) -> None:
        if (self.data(spec.id) / "PG_VERSION").exists():
            return
        tmp = await self._copy_in(spec, backup)
        if archive is not None:
            lines = [f"restore_command = {_quote(f'cp {archive}/%f %p')}",
                     "recovery_target_timeline = 'latest'"]
            if target_time is not None:
                when = dt.datetime.fromtimestamp(target_time, dt.UTC).isoformat()
                lines += [f"recovery_target_time = {_quote(when)}",
                          "recovery_target_action = 'promote'"]
            (tmp / "gureum-recovery.conf").write_text("\n".join(lines) + "\n")
            (tmp / "recovery.signal").write_text("")
            for name in ("gureum-recovery.conf", "recovery.signal"):
                self._own(tmp / name)
        # A plain copy of a data directory carries its source's replication
        # settings; a restored instance is independent.
        auto = tmp / "postgresql.auto.conf"
        if auto.exists():
            kept = [ln for ln in auto.read_text().splitlines()
                    if not ln.startswith(("primary_conninfo", "primary_slot_name",
                                          "default_transaction_read_only"))]
            auto.write_text("\n".join(kept) + "\n")
        tmp.rename(self.data(spec.id))
        self._finish_data_dir(spec)

    async def clone_replica(self, spec: EngineSpec, source: str) -> None:
        if (self.data(spec.id) / "PG_VERSION").exists():
            return
        self._prepare()
        d = self.dir(spec.id)
        self._mkdir(d, 0o711)
        tmp = d / "data.tmp"
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        await self._run(str(self.bin / "pg_basebackup"), "-h", str(self.socket_dir(source)),
                        "-p", str(self._port(source)), "-U", ADMIN, "-D", str(tmp), "-R",
                        "-X", "stream", "-c", "fast", "--no-sync", "--no-manifest")
        await self._sync(tmp)
        with contextlib.suppress(FileNotFoundError):
            (tmp / "gureum-recovery.conf").unlink()
        tmp.rename(self.data(spec.id))
        self._finish_data_dir(spec)

    def _pidfile(self, id: str) -> list[str]:
        try:
            return (self.data(id) / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _pid(self, id: str) -> int | None:
        lines = self._pidfile(id)
        if not lines:
            return None
        try:
            pid = int(lines[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (ValueError, OSError):
            return None
        if b"postgres" not in cmdline:
            return None
        proc = self._procs.get(id)
        if proc is not None and proc.pid == pid and proc.returncode is not None:
            return None
        return pid

    def _port(self, id: str) -> int:
        lines = self._pidfile(id)
        if len(lines) > 3:
            return int(lines[3])
        raise EngineError(f"engine {id} is not running")

    def running(self, id: str) -> bool:
        return self._pid(id) is not None

    async def start(self, spec: EngineSpec) -> None:
        if self.running(spec.id):
            return
        if not (self.data(spec.id) / "PG_VERSION").exists():
            raise EngineError(f"engine {spec.id} has no data directory")
        self._write_conf(spec)
        logfile = self.dir(spec.id) / "server.log"
        groups = await asyncio.to_thread(self.limits.create, spec.id, spec.cpus, spec.memory)
        with open(logfile, "ab") as out:
            self._own(logfile)
            proc = await asyncio.create_subprocess_exec(
                *self._server_prefix(), str(self.bin / "postgres"), "-D",
                str(self.data(spec.id)),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, cwd=str(self.root),
                env={"LC_ALL": "C.UTF-8", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            )
        self.limits.attach(groups, proc.pid)
        self._procs[spec.id] = proc
        asyncio.get_running_loop().create_task(proc.wait())
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise EngineError(f"postgres {spec.id} exited: {self._log_tail(spec.id)}")
            lines = self._pidfile(spec.id)
            if len(lines) > 7 and lines[0] == str(proc.pid) and \
                    lines[7].strip() in ("ready", "standby"):
                break
            await asyncio.sleep(POLL)
        else:
            raise EngineError(f"postgres {spec.id} did not become ready")
        recovery = self.data(spec.id) / "gureum-recovery.conf"
        if recovery.exists():
            await self._wait_promoted(spec.id)
            recovery.unlink()

    async def reload(self, spec: EngineSpec, dynamic: Sequence[str]) -> None:
        """Rewrite ``gureum.conf`` and have the server reread it: the server
        itself applies what may change live and keeps the rest until restart."""
        if not self.running(spec.id):
            return
        self._write_conf(spec)
        await self.execute(spec.id, "SELECT pg_reload_conf();")

    async def _wait_promoted(self, id: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running(id):
                raise EngineError(f"postgres {id} stopped while recovering: "
                                  f"{self._log_tail(id)}")
            if not await self.in_recovery(id):
                return
            await asyncio.sleep(0.05)
        raise EngineError(f"postgres {id} did not finish recovery")

    def _log_tail(self, id: str) -> str:
        try:
            return (self.dir(id) / "server.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    async def stop(self, id: str) -> None:
        pid = self._pid(id)
        if pid is None:
            await asyncio.to_thread(self.limits.remove, id)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # fast shutdown
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and self._pid(id) is not None:
            proc = self._procs.get(id)
            if proc is not None and proc.pid == pid:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(proc.wait()), 0.2)
            else:
                await asyncio.sleep(POLL)
        if self._pid(id) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.1)
        self._procs.pop(id, None)
        await asyncio.to_thread(self.limits.remove, id)

    async def kill(self, id: str) -> None:
        """SIGKILL the server (tests of crash recovery and failover)."""
        pid = self._pid(id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def destroy(self, id: str) -> None:
        await self.stop(id)
        await asyncio.to_thread(shutil.rmtree, self.dir(id), True)
        sockdir.remove_link(self.dir(id) / "run")

    async def shutdown(self) -> None:
        await asyncio.gather(*(self.stop(i) for i in self.engines()))

    # -- SQL --------------------------------------------------------------

    async def execute(self, id: str, sql: str, database: str = "postgres") -> list[list[str]]:
        out = await self._run(
            str(self.bin / "psql"), "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
            "-F", "\x1f", "-h", str(self.socket_dir(id)), "-p", str(self._port(id)),
            "-U", ADMIN, "-d", database, "-f", "-", input=sql.encode(), as_engine=False,
            env={"PGOPTIONS": "-c default_transaction_read_only=off"},
        )
        return [line.split("\x1f") for line in out.splitlines() if line]

    async def ensure_role(self, id: str, role: Role, *, database: str | None = None) -> None:
        name = _ident(role.name)
        sql = [
            f"SELECT format('CREATE ROLE %I', {_quote(role.name)}) WHERE NOT EXISTS "
            f"(SELECT 1 FROM pg_roles WHERE rolname = {_quote(role.name)}) \\gexec",
            f"ALTER ROLE {name} WITH LOGIN CREATEDB CREATEROLE PASSWORD {_quote(role.verifier)};",
            f"GRANT pg_monitor, pg_signal_backend, pg_read_all_data, pg_write_all_data TO {name};",
            f"GRANT ALL ON SCHEMA public TO {name};",
        ]
        if database:
            sql.append(
                f"SELECT format('CREATE DATABASE %I OWNER %I', {_quote(database)}, "
                f"{_quote(role.name)}) WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE "
                f"datname = {_quote(database)}) \\gexec")
        await self.execute(id, "\n".join(sql) + "\n")

    async def in_recovery(self, id: str) -> bool:
        rows = await self.execute(id, "SELECT pg_is_in_recovery();")
        return bool(rows) and rows[0][0] == "t"

    async def promote(self, id: str) -> None:
        """Recovery ends only once all the WAL the standby received is replayed
        (what a synchronous primary acknowledged is flushed there)."""
        if await self.in_recovery(id):
            await self.execute(id, "SELECT pg_promote(wait => true);")
        await self.execute(id, "ALTER SYSTEM RESET primary_conninfo;\n"
                               "ALTER SYSTEM RESET primary_slot_name;\n"
                               "SELECT pg_reload_conf();")
        with contextlib.suppress(FileNotFoundError):
            (self.data(id) / "gureum-recovery.conf").unlink()

    def _sync_names(self, id: str) -> str:
        """``synchronous_standby_names`` of a Multi-AZ primary: its standby
        (by the application name ``sync_standby`` gives it), so that a commit
        returns only once the standby has flushed its WAL; read replicas are
        not named and stay asynchronous."""
        try:
            standby = (self.dir(id) / "sync-standby").read_text().strip()
        except OSError:
            return ""
        return f'"{standby}"' if re.fullmatch(r"[A-Za-z0-9_-]+", standby) else ""

    async def sync_standby(self, id: str, standby: str | None) -> None:
        marker = self.dir(id) / "sync-standby"
        if standby is None:
            marker.unlink(missing_ok=True)
        else:
            # The standby connects under its own id as application name: its
            # cluster_name since gureum sets one, or else named in its conninfo.
            rows = await self.execute(standby, "SELECT current_setting('cluster_name'), "
                                               "current_setting('primary_conninfo');")
            name, conninfo = (rows[0] + ["", ""])[:2] if rows else ("", "")
            if name != standby and conninfo and \
                    f"application_name={standby}" not in conninfo:
                conninfo = re.sub(r"\s*application_name=\S+", "", conninfo)
                await self.execute(
                    standby, f"ALTER SYSTEM SET primary_conninfo = "
                             f"{_quote(f'{conninfo} application_name={standby}'.strip())};\n"
                             "SELECT pg_reload_conf();")
            marker.write_text(standby)
        if self.running(id):
            conf = self.data(id) / "gureum.conf"
            kept = [ln for ln in conf.read_text().splitlines()
                    if not ln.startswith("synchronous_standby_names")]
            conf.write_text("\n".join([*kept, "synchronous_standby_names = "
                                        f"{_quote(self._sync_names(id))}"]) + "\n")
            await self.execute(id, "SELECT pg_reload_conf();")
        if standby is None:
            return
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            rows = await self.execute(
                id, "SELECT sync_state FROM pg_stat_replication WHERE application_name = "
                    f"{_quote(standby)} AND state = 'streaming';")
            if any(r and r[0] == "sync" for r in rows):
                return
            if time.monotonic() > deadline:
                raise EngineError(f"standby {standby} did not attach to {id} as a "
                                  "synchronous standby")
            await asyncio.sleep(POLL)

    # -- measurements -----------------------------------------------------

    async def usage(self, id: str) -> EngineUsage | None:
        pid = self._pid(id)
        if pid is None:
            return None
        tree = await asyncio.to_thread(tree_usage, pid)
        if tree is None:
            return None
        size = await asyncio.to_thread(dir_bytes, self.data(id))
        return EngineUsage(tree.cpu_seconds, tree.read_bytes, tree.write_bytes, size)

    async def connections(self, id: str) -> int:
        rows = await self.execute(
            id, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                f" AND usename IS DISTINCT FROM {_quote(ADMIN)};")
        return int(rows[0][0]) if rows else 0

    async def replica_lag(self, id: str) -> float | None:
        # Caught up (everything received is replayed): no lag, however long
        # ago the source last wrote; otherwise the age of the last replayed commit.
        rows = await self.execute(
            id, "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL"
                " AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0"
                " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()),"
                " 0) END;")
        if not rows or rows[0][0] != "t":
            return None
        return max(float(rows[0][1]), 0.0)

    # -- backups ----------------------------------------------------------

    async def backup(self, id: str, dest: Path) -> None:
        if dest.exists():
            return
        self.make_dir(dest.parent)
        tmp = dest.with_name(dest.name + ".tmp")
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        await self._run(str(self.bin / "pg_basebackup"), "-h", str(self.socket_dir(id)),
                        "-p", str(self._port(id)), "-U", ADMIN, "-D", str(tmp), "-X", "stream",
                        "-c", "fast", "--no-sync", "--no-manifest")
        await self._sync(tmp)
        tmp.rename(dest)

    async def set_read_only(self, id: str, on: bool) -> None:
        # ALTER SYSTEM lands in postgresql.auto.conf, which outlives restarts.
        if on:
            await self.execute(
                id, "ALTER SYSTEM SET default_transaction_read_only = on;\n"
                    "SELECT pg_reload_conf();\n"
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                    "backend_type = 'client backend' AND pid <> pg_backend_pid() AND "
                    f"usename IS DISTINCT FROM {_quote(ADMIN)};")
        else:
            await self.execute(id, "ALTER SYSTEM RESET default_transaction_read_only;\n"
                                   "SELECT pg_reload_conf();")

    async def copy_backup(self, source: Path, dest: Path) -> None:
        if dest.exists():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        await self._run("cp", "-a", str(source), str(tmp), as_engine=False)
        tmp.rename(dest)

    async def switch_wal(self, id: str) -> float:
        marker = time.time()
        rows = await self.execute(
            id, "BEGIN;\nSELECT txid_current();\nCOMMIT;\n"
                "SELECT pg_walfile_name(pg_switch_wal());")
        segment = rows[-1][0]
        archive = self._archive_dir(id)
        if archive is not None:
            deadline = time.monotonic() + READY_TIMEOUT
            while not (archive / segment).exists():
                if time.monotonic() > deadline:
                    raise EngineError(f"WAL segment {segment} of {id} was not archived")
                await asyncio.sleep(POLL)
        return marker

    def _archive_dir(self, id: str) -> Path | None:
        try:
            text = (self.data(id) / "gureum.conf").read_text()
        except FileNotFoundError:
            return None
        m = re.search(r"archive_command = 'test ! -f (\S+)/%f", text)
        return Path(m.group(1)) if m else None
