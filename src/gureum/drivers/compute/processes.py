"""The fallback compute driver (no root, or no namespaces): each guest is a
plain process tree in its own session, given its own loopback address
(127.31.x.y) to bind. No isolation: guests share the host's filesystem (their
"root volume" is a directory, ``$GUREUM_VOLUME``), users and ports; there are
no limits and no metadata service address. Minimal by design: for laptops
and CI without root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from pathlib import Path

from .base import GuestSpec, NetworkPlan, Usage

PLAN = NetworkPlan("127.31.0.0/16", "127.31.0.1", 0, isolated=False)


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

    def _dir(self, id: str) -> Path:
        return self.guests_dir / id

    def _pid(self, id: str) -> int | None:
        try:
            pid = int((self._dir(id) / "pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
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
        if spec.layers and not (d / "volume").exists():
            source = self.guests_dir.parent / "layers" / spec.layers[0]
            if source.exists():
                await asyncio.to_thread(shutil.copytree, source, d / "volume", symlinks=True)
                with contextlib.suppress(FileNotFoundError):
                    (d / "volume" / ".user-data.done").unlink()  # its own user data runs
        (d / "volume").mkdir(parents=True, exist_ok=True)
        script = "exec sleep infinity"
        done = d / "volume" / ".user-data.done"
        if spec.user_data and not done.exists():
            done.write_text("1")
            (d / "user-data").write_bytes(spec.user_data)
            (d / "user-data").chmod(0o700)
            script = f"{d / 'user-data'} & exec sleep infinity"
        env = {**os.environ, "GUREUM_ADDRESS": spec.address, "GUREUM_VOLUME": str(d / "volume"),
               "HOSTNAME": spec.hostname}
        with open(d / "console.log", "ab") as console:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", script, stdin=asyncio.subprocess.DEVNULL, stdout=console,
                stderr=console, cwd=str(d / "volume"), env=env, start_new_session=True,
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
        try:
            return (self._dir(id) / "console.log").read_bytes()[-64 * 1024:]
        except OSError:
            return b""

    def usage(self, id: str) -> Usage | None:
        return None

    async def shutdown(self) -> None:
        await asyncio.gather(*(self.stop(i) for i in self.guests()))
