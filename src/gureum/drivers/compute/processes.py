"""The fallback compute driver (no root, or no namespaces): each guest is a
plain process tree in its own session, given its own loopback address
(127.31.x.y, in ``$GUREUM_ADDRESS``) to bind. No isolation: guests share the
host's filesystem, users and ports (ports below 1024 need root); their "root
volume" is a directory (``$GUREUM_VOLUME``, also their working directory),
kept across stop/start and deleted on terminate. There are no cgroup limits,
no metadata service and no security group enforcement; CPU and memory are
measured from the processes of the guest's session.

At each boot the guest's shell (its "init", the session leader) logs to the
console, runs ``$GUREUM_VOLUME/etc/rc.local`` and
``$GUREUM_VOLUME/var/lib/cloud/scripts/per-boot/*`` when executable, and at
first boot only the user data if it is a ``#!`` script (a cloud-config is
logged as unsupported here: it would write to the host's own files); then it
sleeps until stopped. Guests outlive a gureum that is killed, and are adopted
again (the session leader is recognised by its working directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
from pathlib import Path

from .base import GuestSpec, NetworkPlan, Usage

PLAN = NetworkPlan("127.31.0.0/16", "127.31.0.1", 0, isolated=False)
CONSOLE_LIMIT = 64 * 1024

BOOT = """log() {{ echo "[$(date -u +%Y-%m-%dT%H:%M:%S)] gureum-init: $*"; }}
log "booting {id} as {hostname} ({address})"
for script in "$GUREUM_VOLUME/etc/rc.local" "$GUREUM_VOLUME"/var/lib/cloud/scripts/per-boot/*; do
  if [ -f "$script" ] && [ -x "$script" ]; then log "running $script"; "$script" & fi
done
{user_data}
log "boot finished"
exec sleep infinity
"""


def _session_of(pid: int) -> tuple[int, float, int] | None:
    """(session id, CPU seconds, resident bytes) of a process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    return int(fields[3]), (int(fields[11]) + int(fields[12])) / ticks, int(fields[21]) * page


class ProcessDriver:
    kind = "process"

    def __init__(self, state_dir: Path) -> None:
        self.guests_dir = state_dir / "guests"

    def network(self) -> NetworkPlan:
        return PLAN

    def network_conflict(self, cidr: str) -> str | None:
        return (f"{cidr}: without root, instances live on loopback addresses "
                f"({PLAN.cidr}) and only the default VPC has them")

    async def prepare(self) -> None:
        return None

    async def add_host_address(self, address: str, network: NetworkPlan | None = None
                               ) -> None:
        raise RuntimeError("instances live on loopback addresses: no network to add to")

    async def remove_host_address(self, address: str, network: NetworkPlan | None = None
                                  ) -> None:
        return None

    async def host_addresses(self, network: NetworkPlan | None = None) -> list[str]:
        return []

    def _dir(self, id: str) -> Path:
        return self.guests_dir / id

    def _pid(self, id: str) -> int | None:
        """The guest's session leader, if it runs (a reused pid is not taken for it)."""
        try:
            pid = int((self._dir(id) / "pid").read_text())
            cwd = os.readlink(f"/proc/{pid}/cwd")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        if state == "Z" or cwd != str(self._dir(id) / "volume"):
            return None
        return pid

    def running(self, id: str) -> bool:
        return self._pid(id) is not None

    def booted(self, id: str) -> bool:
        return self.running(id)

    async def launch(self, spec: GuestSpec) -> None:
        if self.running(spec.id):
            return
        d = self._dir(spec.id)
        volume = d / "volume"
        if spec.layers and not volume.exists():
            source = self.guests_dir.parent / "layers" / spec.layers[0]
            if source.exists():
                await asyncio.to_thread(shutil.copytree, source, volume, symlinks=True)
                with contextlib.suppress(FileNotFoundError):
                    (volume / ".user-data.done").unlink()  # its own user data runs
        volume.mkdir(parents=True, exist_ok=True)
        user_data = ""
        done = volume / ".user-data.done"
        if spec.user_data and not done.exists():
            done.write_text("1")
            if spec.user_data.startswith(b"#!"):
                (d / "user-data").write_bytes(spec.user_data)
                (d / "user-data").chmod(0o700)
                user_data = f'log "running user data"\n{shlex.quote(str(d / "user-data"))} &'
            else:
                user_data = 'log "user data: only #! scripts run without root"'
        script = BOOT.format(id=spec.id, hostname=spec.hostname, address=spec.address,
                             user_data=user_data)
        env = {**os.environ, "GUREUM_ADDRESS": spec.address, "GUREUM_VOLUME": str(volume),
               "GUREUM_INSTANCE_ID": spec.id, "HOSTNAME": spec.hostname}
        with open(d / "console.log", "ab") as console:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", script, stdin=asyncio.subprocess.DEVNULL, stdout=console,
                stderr=console, cwd=str(volume), env=env, start_new_session=True,
            )
        (d / "pid").write_text(str(proc.pid))
        asyncio.get_running_loop().create_task(proc.wait())

    async def stop(self, id: str, timeout: float = 10.0) -> None:
        pid = self._pid(id)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        for _ in range(int(timeout / 0.05)):
            if self._pid(id) is None:
                break
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (self._dir(id) / "pid").unlink()

    async def destroy(self, id: str) -> None:
        await self.stop(id)
        await asyncio.to_thread(shutil.rmtree, self._dir(id), True)

    async def update_ingress(self, spec: GuestSpec) -> None:
        return None

    async def capture(self, id: str, layer: str) -> None:
        """Layers are copies of a volume; a guest launched with layers starts
        with a copy of the top one (no overlay without root)."""
        target = self.guests_dir.parent / "layers" / layer
        if not target.exists():
            await asyncio.to_thread(shutil.copytree, self.guests_dir / id / "volume", target,
                                    symlinks=True)

    async def drop_layer(self, layer: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.guests_dir.parent / "layers" / layer, True)

    def guests(self) -> list[str]:
        try:
            return sorted(p.name for p in self.guests_dir.iterdir() if p.is_dir())
        except FileNotFoundError:
            return []

    def console(self, id: str) -> bytes:
        path = self._dir(id) / "console.log"
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - CONSOLE_LIMIT))
                return f.read()
        except OSError:
            return b""

    def usage(self, id: str) -> Usage | None:
        """CPU and memory of the guest's session (processes that left it are not counted)."""
        leader = self._pid(id)
        if leader is None:
            return None
        cpu, memory = 0.0, 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                found = _session_of(int(entry))
                if found is not None and found[0] == leader:
                    cpu += found[1]
                    memory += found[2]
        return Usage(cpu_seconds=cpu, memory_bytes=memory)

    async def shutdown(self) -> None:
        await asyncio.gather(*(self.stop(i) for i in self.guests()))
