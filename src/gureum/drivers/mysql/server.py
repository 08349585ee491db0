"""The real MariaDB driver: ``mariadbd`` processes that are children of gureum.

Each engine is ``<root>/<id>/data`` owned by the ``mysql`` user when gureum
runs as root, its socket in ``<root>/<id>/run``, its log in
``<root>/<id>/server.log`` and its options in ``<root>/<id>/my.cnf``
(rewritten at every start). gureum speaks to it over that socket as the
operating-system user it runs as (``unix_socket`` authentication, which
``mariadb-install-db`` sets up); clients come in over TCP on the engine's own
address with ``mysql_native_password``.

Backups are logical (``mariadb-dump`` of every database into
``<dest>/dump.sql``): a restore gives the data as of the backup, and
``switch_wal`` reports the time of the newest backup, since binary logs are
not archived yet. Read replicas and standbys are not supported yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from gureum.drivers.postgres.base import EngineError, EngineSpec, EngineUsage, Role
from gureum.drivers.postgres.cgroups import EngineLimits
from gureum.drivers.postgres.procstat import dir_bytes, tree_usage

log = logging.getLogger("gureum.drivers.mysql")

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
POLL = 0.05
INTERNAL = ("system user", "event_scheduler")
EMPTY = '""'  # an empty value in an option file


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
        return self.root / id / "run" / "mysqld.sock"

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

    async def _run(self, *args: str, input: bytes | None = None, check: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE if input is not None else
            asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=str(self.root),
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"})
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
        if (d / "read-only").exists():
            lines.append("read_only = 1")
        # The user's parameters come last: a later line wins in an option file.
        lines += [f"{k} = {v or EMPTY}" for k, v in sorted(spec.params.items())]
        conf = d / "my.cnf"
        conf.write_text("# written by gureum at every start\n" + "\n".join(lines) + "\n")
        os.chmod(conf, 0o644)
        return conf

    # -- engines ----------------------------------------------------------

    def engines(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "data").is_dir())

    async def create(self, spec: EngineSpec) -> None:
        if (self.data(spec.id) / "mysql").is_dir():
            return
        self._prepare()
        self._mkdir(self.dir(spec.id), 0o711)
        self._mkdir(self.dir(spec.id) / "run", 0o755)
        tmp = self.dir(spec.id) / "data.tmp"
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        self._mkdir(tmp)
        await self._run("mariadb-install-db", "--no-defaults", f"--datadir={tmp}",
                        f"--user={self.user}", "--auth-root-authentication-method=socket",
                        "--skip-test-db")
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
        await self._run("mariadb", "--no-defaults", f"--socket={self.socket(spec.id)}",
                        "-u", self.admin, input=dump.read_bytes())
        await self.stop(spec.id)
        (self.dir(spec.id) / "restored").touch()

    async def clone_replica(self, spec: EngineSpec, source: str) -> None:
        raise EngineError("read replicas and standbys of MariaDB are not supported yet")

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

    async def in_recovery(self, id: str) -> bool:
        return False

    async def promote(self, id: str) -> None:
        return None

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
        return None

    # -- backups ----------------------------------------------------------

    async def backup(self, id: str, dest: Path) -> None:
        if (dest / "dump.sql").exists():
            return
        tmp = dest.with_name(dest.name + ".tmp")
        await asyncio.to_thread(shutil.rmtree, tmp, True)
        tmp.mkdir(parents=True)
        marker = time.time()
        out = await self._run("mariadb-dump", "--no-defaults", f"--socket={self.socket(id)}",
                              "-u", self.admin, "--all-databases", "--single-transaction",
                              "--routines", "--events")
        (tmp / "dump.sql").write_text(out)
        tmp.rename(dest)
        (self.dir(id) / "last-backup").write_text(repr(marker))

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
        try:
            return float((self.dir(id) / "last-backup").read_text())
        except (OSError, ValueError) as exc:
            raise EngineError(f"engine {id} has no backup yet") from exc
