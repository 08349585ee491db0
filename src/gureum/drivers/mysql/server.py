"""The real MariaDB driver: ``mariadbd`` processes that are children of gureum.

Each engine is ``<root>/<id>/data`` owned by the ``mysql`` user when gureum
runs as root, its socket in ``<root>/<id>/run`` (through a short link if
that path is too long for a socket's, see ``postgres.sockdir``), its log in
``<root>/<id>/server.log`` and its options in ``<root>/<id>/my.cnf``
(rewritten at every start). gureum speaks to it over that socket as the
operating-system user it runs as (``unix_socket`` authentication, which
``mariadb-install-db`` sets up); clients come in over TCP on the engine's own
address with ``mysql_native_password``.

Every server writes a binary log (ROW format, its own ``server-id``).
Backups are logical (``mariadb-dump`` of every database into
``<dest>/dump.sql``, with the binlog position it is consistent with);
``switch_wal`` rotates the binlog and copies every finished binlog file into
the archive (``<archive>/<engine id>/``), so a restore replays the archived
binlogs from the backup's position up to a second (``mariadb-binlog
--stop-datetime``). Replicas and standbys are loaded from a dump of their
source and replicate from it by GTID (``read_only`` keeps clients' writes out:
the master user has no READ_ONLY ADMIN); promoting one applies everything its
relay log holds, then stops replication.

A Multi-AZ standby replicates semi-synchronously (``sync_standby``): its
primary acknowledges a commit only once the standby has it in its relay log
(``AFTER_SYNC``), so a primary SIGKILLed right after a commit returned loses
nothing the standby cannot apply. Marker files keep the roles across
restarts: ``sync-standby`` (the primary's, naming its standby) and
``standby`` (the standby's); read replicas stay asynchronous as on RDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from gureum.drivers import sockdir
from gureum.drivers.postgres.base import EngineError, EngineSpec, EngineUsage, Role
from gureum.drivers.postgres.cgroups import EngineLimits
from gureum.drivers.postgres.procstat import dir_bytes, tree_usage

log = logging.getLogger("gureum.drivers.mysql")

READY_TIMEOUT = 60.0
SOCKET_NAME = "mysqld.sock"
STOP_TIMEOUT = 30.0
POLL = 0.05
# How long a Multi-AZ primary holds a commit waiting for its standby's
# acknowledgement before it goes on asynchronously (the standby is gone for
# longer than gureum takes to restart or rebuild it); semi-sync comes back by
# itself once the standby has caught up.
SYNC_TIMEOUT = 60.0
ATTACH_TIMEOUT = 30.0  # a standby connecting as a semi-synchronous replica
APPLY_TIMEOUT = 30.0  # a standby applying what its relay log holds, before promotion
SHUTDOWN_TIMEOUT = 10.0
REPL_USER = "rdsrepl"
INTERNAL = ("system user", "event_scheduler", REPL_USER)
EMPTY = '""'  # an empty value in an option file
_POSITION = re.compile(r"MASTER_LOG_FILE='([^']+)',\s*MASTER_LOG_POS=(\d+)")
_GTID = re.compile(r"gtid_slave_pos\s*=\s*'([^']*)'")


def find_mariadbd() -> Path | None:
    for candidate in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld"):
        if Path(candidate).exists():
            return Path(candidate)
    found = shutil.which("mariadbd")
    return Path(found) if found else None


def native_hash(password: str) -> str:
    """The ``mysql_native_password`` hash: ``*`` and SHA1(SHA1(password)) in hex."""
    inner = hashlib.sha1(password.encode()).digest()
    return "*" + hashlib.sha1(inner).hexdigest().upper()


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class MariaDBServers:
    def __init__(self, root: Path, server: Path | None = None, user: str = "mysql") -> None:
        self.root = root
        found = server or find_mariadbd()
        if found is None:
            raise EngineError("MariaDB is not installed (no mariadbd binary found)")
        self.server = found
        out = subprocess.run([str(found), "--version"], capture_output=True, text=True,
                             check=True).stdout
        m = re.search(r"Ver (\d+\.\d+\.\d+)", out)
        self.version = m.group(1) if m else "0"
        self.as_root = os.geteuid() == 0
        self.user = user if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.admin = pwd.getpwuid(os.geteuid()).pw_name
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        owner = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:8]
        self.limits = EngineLimits(owner=owner)

    # -- files ------------------------------------------------------------

    def dir(self, id: str) -> Path:
        return self.root / id

    def data(self, id: str) -> Path:
        return self.root / id / "data"

    def socket(self, id: str) -> Path:
        """The server's socket in its ``run`` directory, by a short link if
        that path is too long for a socket's."""
        return sockdir.socket_dir(self.dir(id) / "run", SOCKET_NAME) / SOCKET_NAME

    def _own(self, path: Path) -> None:
        if self.as_root:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _mkdir(self, path: Path, mode: int = 0o750) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        self._own(path)

    def _prepare(self) -> None:
        """The root and the directories above it must be traversable by the
        engine user; only the search bit is added where it is missing."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            for p in [self.root, *self.root.parents]:
                mode = p.stat().st_mode
                if not mode & stat.S_IXOTH:
                    os.chmod(p, stat.S_IMODE(mode) | stat.S_IXOTH)
        sockdir.sweep()

    async def _run(self, *args: str, input: bytes | None = None, check: bool = True,
                   env: dict[str, str] | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE if input is not None else
            asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=str(self.root),
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
                 **(env or {})})
        out, err = await proc.communicate(input)
        if check and proc.returncode != 0:
            detail = err.decode(errors="replace")[-2000:]
            raise EngineError(f"{Path(args[0]).name} failed ({proc.returncode}): {detail}")
        return out.decode(errors="replace")

    def _write_conf(self, spec: EngineSpec) -> Path:
        d = self.dir(spec.id)
        lines = [
            "[mariadbd]", f"datadir = {self.data(spec.id)}", f"socket = {self.socket(spec.id)}",
            f"pid-file = {d / 'run' / 'mysqld.pid'}", f"log-error = {d / 'server.log'}",
            f"port = {spec.port}", f"user = {self.user}",
            f"max_connections = {spec.settings.get('max_connections', '100')}",
            "innodb_buffer_pool_size = 16M", "innodb_log_file_size = 8M",
            "performance_schema = OFF",
            "skip-name-resolve", "innodb_flush_log_at_trx_commit = 1",
        ]
        lines.append(f"bind-address = {spec.address}" if spec.address else "skip-networking")
        # Binlogs are archived every few minutes; the server drops its own
        # copies after a day (a replica that far behind is rebuilt anyway).
        lines += ["log-bin = mysql-bin", "binlog_format = ROW",
                  "binlog_expire_logs_seconds = 86400",
                  f"server-id = {int(spec.id[1:], 16) % 4_000_000_000 + 1}"
                  if re.fullmatch(r"m[0-9a-f]+", spec.id) else "server-id = 1"]
        if (d / "read-only").exists() or (d / "replica").exists():
            lines.append("read_only = 1")
        if (d / "sync-standby").exists():
            lines += self._master_sync()
        if (d / "standby").exists():
            lines.append("rpl_semi_sync_slave_enabled = ON")
        archive = d / "archive"
        if spec.archive is not None:
            archive.write_text(str(spec.archive))
        else:
            archive.unlink(missing_ok=True)
        # The user's parameters come last: a later line wins in an option file.
        lines += [f"{k} = {v or EMPTY}" for k, v in sorted(spec.params.items())]
        conf = d / "my.cnf"
        conf.write_text("# written by gureum at every start\n" + "\n".join(lines) + "\n")
        os.chmod(conf, 0o644)
        return conf

    @staticmethod
    def _master_sync() -> list[str]:
        """A Multi-AZ primary: a commit waits (after the binlog is written,
        before the engine commits) for the standby's receipt, also while the
        standby is reconnecting."""
        return ["rpl_semi_sync_master_enabled = ON",
                "rpl_semi_sync_master_wait_point = AFTER_SYNC",
                f"rpl_semi_sync_master_timeout = {int(SYNC_TIMEOUT * 1000)}",
                "rpl_semi_sync_master_wait_no_slave = ON"]

    # -- engines ----------------------------------------------------------

    def engines(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "data").is_dir())

    async def _template(self) -> Path:
        """A data directory made once by ``mariadb-install-db`` and copied for
        every new engine (installing takes seconds, a copy a fraction of one)."""
        template = self.root / f".template-{self.version}"
        if (template / "mysql").is_dir():
            return template
        self._prepare()
        tmp = self.root / f".template-{self.version}.tmp"
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        self._mkdir(tmp)
        await self._run("mariadb-install-db", "--no-defaults", f"--datadir={tmp}",
                        f"--user={self.user}", "--auth-root-authentication-method=socket",
                        "--skip-test-db", "--innodb-log-file-size=8M")
        tmp.rename(template)
        return template

    async def create(self, spec: EngineSpec) -> None:
        if (self.data(spec.id) / "mysql").is_dir():
            return
        self._prepare()
        template = await self._template()
        self._mkdir(self.dir(spec.id), 0o711)
        self._mkdir(self.dir(spec.id) / "run", 0o755)
        tmp = self.dir(spec.id) / "data.tmp"
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        await self._run("cp", "-a", str(template), str(tmp))
        tmp.rename(self.data(spec.id))

    async def restore(self, spec: EngineSpec, backup: Path, *, archive: Path | None = None,
                      target_time: float | None = None) -> None:
        dump = backup / "dump.sql"
        if not dump.exists():
            raise EngineError(f"no backup at {backup}")
        if (self.dir(spec.id) / "restored").exists():
            return
        await self.destroy(spec.id)
        await self.create(spec)
        inner = EngineSpec(spec.id, "", spec.port, spec.settings)
        await self.start(inner)
        await self._load(spec.id, dump.read_bytes())
        if archive is not None:
            await self._replay(spec.id, backup, archive, target_time)
        await self.stop(spec.id)
        (self.dir(spec.id) / "restored").touch()

    async def _load(self, id: str, sql: bytes) -> None:
        """Run SQL as the admin, kept out of the engine's own binlog."""
        await self._run("mariadb", "--no-defaults", f"--socket={self.socket(id)}",
                        "-u", self.admin, input=b"SET sql_log_bin = 0;\n" + sql)

    async def _replay(self, id: str, backup: Path, archive: Path,
                      target_time: float | None) -> None:
        """Apply the source's archived binlogs from the backup's position up to
        ``target_time`` (whole seconds: every event stamped at or before it)."""
        try:
            source = (backup / "source").read_text().strip()
        except OSError as exc:
            raise EngineError(f"backup {backup} does not name its engine") from exc
        m = _POSITION.search((backup / "dump.sql").read_text(errors="replace")[:20000])
        if m is None:
            raise EngineError(f"backup {backup} has no binlog position")
        first, position = m.group(1), m.group(2)
        files = sorted(p for p in (archive / source).glob("mysql-bin.[0-9]*")
                       if p.name >= first)
        if not files or files[0].name != first:
            return  # nothing was written after the backup
        args = ["mariadb-binlog", "--no-defaults", f"--start-position={position}"]
        if target_time is not None:
            stop = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(target_time) + 1))
            args.append(f"--stop-datetime={stop}")
        events = await self._run(*args, *map(str, files), env={"TZ": "UTC"})
        await self._load(id, events.encode())

    def _secret(self) -> str:
        """The replication user's password (one per gureum, kept root-only)."""
        path = self.root / ".repl-secret"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(16))
            os.chmod(path, 0o600)
        return path.read_text().strip()

    def _endpoint(self, id: str) -> tuple[str, int]:
        text = (self.dir(id) / "my.cnf").read_text()
        host = re.search(r"^bind-address = (\S+)$", text, re.M)
        port = re.search(r"^port = (\d+)$", text, re.M)
        if host is None or port is None:
            raise EngineError(f"engine {id} does not listen on TCP")
        return host.group(1), int(port.group(1))

    async def clone_replica(self, spec: EngineSpec, source: str) -> None:
        """A new engine loaded from a dump of ``source``, replicating from the
        dump's GTID position, read-only for clients."""
        if (self.dir(spec.id) / "replica").exists() and self.data(spec.id).is_dir():
            return
        host, port = self._endpoint(source)
        user = f"{_quote(REPL_USER)}@'%'"
        await self.execute(source, f"CREATE USER IF NOT EXISTS {user};\n"
                                   f"ALTER USER {user} IDENTIFIED BY {_quote(self._secret())};\n"
                                   f"GRANT REPLICATION SLAVE ON *.* TO {user};\n")
        dump = await self._dump(source)
        # mariadb-dump prints the GTID position at the end of the dump.
        m = _GTID.search(dump[-20000:]) or _GTID.search(dump)
        if m is None:
            raise EngineError(f"the dump of {source} has no GTID position")
        gtid = m.group(1)
        await self.destroy(spec.id)
        await self.create(spec)
        await self.start(EngineSpec(spec.id, "", spec.port, spec.settings))
        await self._load(spec.id, dump.encode())
        await self.execute(spec.id, (
            "STOP SLAVE;\nRESET SLAVE ALL;\n"
            f"SET GLOBAL gtid_slave_pos = {_quote(gtid)};\n"
            f"CHANGE MASTER TO MASTER_HOST = {_quote(host)}, MASTER_PORT = {port}, "
            f"MASTER_USER = {_quote(REPL_USER)}, MASTER_PASSWORD = {_quote(self._secret())}, "
            "MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1;\nSTART SLAVE;\n"))
        await self.stop(spec.id)
        (self.dir(spec.id) / "replica").touch()

    def _pid(self, id: str) -> int | None:
        try:
            pid = int((self.dir(id) / "run" / "mysqld.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (ValueError, OSError):
            return None
        if b"mariadbd" not in cmdline and b"mysqld" not in cmdline:
            return None
        proc = self._procs.get(id)
        if proc is not None and proc.pid == pid and proc.returncode is not None:
            return None
        return pid

    def running(self, id: str) -> bool:
        return self._pid(id) is not None

    async def start(self, spec: EngineSpec) -> None:
        if self.running(spec.id):
            return
        conf = self._write_conf(spec)
        log_file = self.dir(spec.id) / "server.log"
        groups = await asyncio.to_thread(self.limits.create, spec.id, spec.cpus, spec.memory)
        proc = await asyncio.create_subprocess_exec(
            *self._server_prefix(), str(self.server), f"--defaults-file={conf}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            cwd=str(self.dir(spec.id)), start_new_session=True)
        self.limits.attach(groups, proc.pid)
        self._procs[spec.id] = proc
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.returncode is not None:
                raise EngineError(f"mariadbd {spec.id} exited: {self._tail(log_file)}")
            if self.running(spec.id) and await self._ping(spec.id):
                return
            if time.monotonic() > deadline:
                raise EngineError(f"mariadbd {spec.id} did not start: {self._tail(log_file)}")
            await asyncio.sleep(POLL)

    def _server_prefix(self) -> tuple[str, ...]:
        """``setpriv``: the server runs as the engine user from the start and
        is SIGKILLed if gureum dies (a server that changed its own user would
        lose the parent-death signal)."""
        if shutil.which("setpriv") is None:
            return ()
        if not self.as_root:
            return ("setpriv", "--pdeathsig", "KILL", "--")
        entry = pwd.getpwnam(self.user)
        return ("setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}",
                "--clear-groups", "--pdeathsig", "KILL", "--")

    async def _ping(self, id: str) -> bool:
        try:
            await self.execute(id, "SELECT 1")
        except EngineError:
            return False
        return True

    @staticmethod
    def _tail(path: Path) -> str:
        try:
            return path.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    async def stop(self, id: str) -> None:
        pid = self._pid(id)
        if pid is None:
            self._procs.pop(id, None)
            await asyncio.to_thread(self.limits.remove, id)
            return
        if not ((self.dir(id) / "sync-standby").exists() and await self._shutdown_sql(id)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and self._pid(id) is not None:
            proc = self._procs.get(id)
            if proc is not None and proc.pid == pid:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), POLL)
            else:
                await asyncio.sleep(POLL)
        if self._pid(id) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc = self._procs.pop(id, None)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        await asyncio.to_thread(self.limits.remove, id)

    async def _shutdown_sql(self, id: str) -> bool:
        """``SHUTDOWN WAIT FOR ALL SLAVES``: clients are ended first and the
        server exits only once every connected replica has received the last
        binlog event (a plain SIGTERM may end the binlog senders first). False
        if the server did not take the statement."""
        proc = await asyncio.create_subprocess_exec(
            "mariadb", "--no-defaults", f"--socket={self.socket(id)}", "-u", self.admin,
            "--connect-timeout=5", "-e", "SHUTDOWN WAIT FOR ALL SLAVES",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, cwd=str(self.root))
        try:
            return await asyncio.wait_for(proc.wait(), SHUTDOWN_TIMEOUT) == 0
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            return False

    async def reload(self, spec: EngineSpec, dynamic: Sequence[str]) -> None:
        """``SET GLOBAL`` each dynamic parameter to its value in ``spec`` (the
        server's default when it has none); ``my.cnf`` is rewritten so that the
        next start (and the static parameters) see the same values."""
        if not self.running(spec.id):
            return
        self._write_conf(spec)
        wanted = {"max_connections": spec.settings.get("max_connections", "100"),
                  **spec.params}
        sql = []
        for name in dynamic:
            if not re.fullmatch(r"[a-z_]+", name):
                continue
            value = wanted.get(name)
            if value is None:
                sql.append(f"SET GLOBAL {name} = DEFAULT;")
            elif re.fullmatch(r"-?\d+(\.\d+)?", value):
                sql.append(f"SET GLOBAL {name} = {value};")
            else:
                sql.append(f"SET GLOBAL {name} = {_quote(value)};")
        if sql:
            await self.execute(spec.id, "\n".join(sql) + "\n")

    async def kill(self, id: str) -> None:
        pid = self._pid(id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def destroy(self, id: str) -> None:
        await self.stop(id)
        await asyncio.to_thread(shutil.rmtree, self.dir(id), True)
        sockdir.remove_link(self.dir(id) / "run")

    async def shutdown(self) -> None:
        await asyncio.gather(*(self.stop(i) for i in list(self._procs)))

    # -- SQL --------------------------------------------------------------

    async def execute(self, id: str, sql: str, database: str = "mysql") -> list[list[str]]:
        if not self.socket(id).exists():
            raise EngineError(f"engine {id} is not running")
        out = await self._run("mariadb", "--no-defaults", f"--socket={self.socket(id)}",
                              "-u", self.admin, "-N", "-B", database, input=sql.encode())
        return [line.split("\t") for line in out.splitlines() if line]

    async def ensure_role(self, id: str, role: Role, *, database: str | None = None) -> None:
        user = f"{_quote(role.name)}@'%'"
        sql = [
            f"CREATE USER IF NOT EXISTS {user};",
            f"ALTER USER {user} IDENTIFIED VIA mysql_native_password USING "
            f"{_quote(role.verifier)};",
            f"GRANT ALL PRIVILEGES ON *.* TO {user} WITH GRANT OPTION;",
            # As on RDS, the master user is no superuser: read_only binds it.
            f"REVOKE SUPER, READ_ONLY ADMIN ON *.* FROM {user};",
        ]
        if database:
            sql.append(f"CREATE DATABASE IF NOT EXISTS {_ident(database)};")
        await self.execute(id, "\n".join(sql) + "\n")

    async def _slave_status(self, id: str) -> dict[str, str]:
        out = await self._run("mariadb", "--no-defaults", f"--socket={self.socket(id)}",
                              "-u", self.admin, "-E", "-e", "SHOW SLAVE STATUS")
        fields: dict[str, str] = {}
        for line in out.splitlines():
            if ":" in line and not line.startswith("*"):
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        return fields

    async def in_recovery(self, id: str) -> bool:
        return bool(await self._slave_status(id))

    async def promote(self, id: str) -> None:
        """Stop receiving, apply every complete transaction the relay log holds
        (what a semi-synchronous primary acknowledged is there), then forget
        the source and accept writes."""
        if await self._slave_status(id):
            await self.execute(id, "STOP SLAVE IO_THREAD;\n")
            await self._wait_applied(id)
        await self.execute(id, "STOP SLAVE;\nRESET SLAVE ALL;\nSET GLOBAL read_only = 0;\n"
                               "SET GLOBAL rpl_semi_sync_slave_enabled = OFF;\n")
        (self.dir(id) / "replica").unlink(missing_ok=True)
        (self.dir(id) / "standby").unlink(missing_ok=True)

    async def _wait_applied(self, id: str) -> None:
        """Until the SQL thread has executed up to what the (stopped) I/O thread
        read. A transaction received only in part (its primary died while
        sending it, so it was never acknowledged) never completes: the SQL
        thread then waits for more with its position unchanged, which counts as
        done once it has stayed so for a few polls. Bounded by APPLY_TIMEOUT."""
        deadline = time.monotonic() + APPLY_TIMEOUT
        idle: list[str] = []
        while True:
            s = await self._slave_status(id)
            if not s or s.get("Slave_SQL_Running") != "Yes":
                return
            if (s.get("Relay_Master_Log_File"), s.get("Exec_Master_Log_Pos")) == \
                    (s.get("Master_Log_File"), s.get("Read_Master_Log_Pos")):
                return
            waiting = s.get("Slave_SQL_Running_State", "").startswith(
                "Slave has read all relay log")
            idle = [*idle, s.get("Exec_Master_Log_Pos", "")] if waiting else []
            if len(idle) >= 6 and len(set(idle[-6:])) == 1:
                log.warning("mariadb %s: promoted with an incomplete transaction in its "
                            "relay log (never acknowledged)", id)
                return
            if time.monotonic() > deadline:
                log.warning("mariadb %s: relay log not applied after %.0f s; promoting",
                            id, APPLY_TIMEOUT)
                return
            await asyncio.sleep(POLL)

    async def sync_standby(self, id: str, standby: str | None) -> None:
        """Make ``standby`` (a replica of ``id``) the synchronous standby of
        primary ``id`` and wait until it is attached as one; ``None``: ``id``
        commits without waiting for any standby again. Kept across restarts."""
        marker = self.dir(id) / "sync-standby"
        if standby is None:
            marker.unlink(missing_ok=True)
            if self.running(id):
                await self.execute(id, "SET GLOBAL rpl_semi_sync_master_enabled = OFF;\n")
            return
        if not (self.dir(standby) / "standby").exists():
            (self.dir(standby) / "standby").touch()
            if self.running(standby):
                # The replica asks for semi-sync when its I/O thread connects.
                await self.execute(standby, "SET GLOBAL rpl_semi_sync_slave_enabled = ON;\n"
                                            "STOP SLAVE IO_THREAD;\nSTART SLAVE IO_THREAD;\n")
        marker.write_text(standby)
        await self.execute(id, "".join(f"SET GLOBAL {line};\n"
                                       for line in self._master_sync()))
        deadline = time.monotonic() + ATTACH_TIMEOUT
        while True:
            rows = await self.execute(
                id, "SHOW GLOBAL STATUS WHERE Variable_name IN "
                    "('Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_status');")
            status = {r[0]: r[1] for r in rows if len(r) == 2}
            if status.get("Rpl_semi_sync_master_clients", "0") not in ("", "0") and \
                    status.get("Rpl_semi_sync_master_status") == "ON":
                return
            if time.monotonic() > deadline:
                raise EngineError(f"standby {standby} did not attach to {id} as a "
                                  f"semi-synchronous replica: {status}")
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
        internal = ", ".join(_quote(u) for u in (*INTERNAL, self.admin))
        rows = await self.execute(
            id, f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER NOT IN "
                f"({internal});")
        return int(rows[0][0]) if rows else 0

    async def replica_lag(self, id: str) -> float | None:
        status = await self._slave_status(id)
        if not status:
            return None
        behind = status.get("Seconds_Behind_Master", "NULL")
        return float(behind) if behind.isdigit() else 0.0

    # -- backups ----------------------------------------------------------

    async def backup(self, id: str, dest: Path) -> None:
        if (dest / "dump.sql").exists():
            return
        tmp = dest.with_name(dest.name + ".tmp")
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        tmp.mkdir(parents=True)
        (tmp / "dump.sql").write_text(await self._dump(id))
        (tmp / "source").write_text(id)
        tmp.rename(dest)

    async def _dump(self, id: str) -> str:
        """Every database, consistent, with the binlog file, position and GTID
        it corresponds to (as comments)."""
        return await self._run("mariadb-dump", "--no-defaults", f"--socket={self.socket(id)}",
                               "-u", self.admin, "--all-databases", "--single-transaction",
                               "--routines", "--events", "--master-data=2", "--gtid")

    async def set_read_only(self, id: str, on: bool) -> None:
        """``read_only``: the master user lacks READ_ONLY ADMIN (see
        ``ensure_role``), so its writes are refused too; a marker file keeps
        the setting in ``my.cnf`` across restarts."""
        marker = self.dir(id) / "read-only"
        if on:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)
        await self.execute(id, f"SET GLOBAL read_only = {1 if on else 0};")

    async def copy_backup(self, source: Path, dest: Path) -> None:
        if dest.exists():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        await self._run("cp", "-a", str(source), str(tmp))
        tmp.rename(dest)

    async def switch_wal(self, id: str) -> float:
        """Rotate the binlog and archive every finished binlog file; the time
        before the rotation (everything committed before it is archived)."""
        marker = time.time()
        rows = await self.execute(id, "FLUSH BINARY LOGS;\nSHOW BINARY LOGS;\n")
        try:
            archive = Path((self.dir(id) / "archive").read_text().strip())
        except OSError:
            return marker  # not archiving (no retention): nothing to copy
        dest = archive / id
        await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
        for name in [r[0] for r in rows][:-1]:  # the last one is being written
            if not (dest / name).exists():
                tmp = dest / f".{name}.tmp"
                await asyncio.to_thread(shutil.copyfile, self.data(id) / name, tmp)
                tmp.rename(dest / name)
        return marker
