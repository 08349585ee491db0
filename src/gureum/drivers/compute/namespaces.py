"""The real compute driver (root on Linux): each guest is a network namespace
joined to the host bridge by a veth, with PID, mount, UTS and IPC namespaces,
an overlay root volume, cgroup limits and its own init (``guest.py``).

On disk, per guest, under ``<state dir>/guests/<id>/``: ``volume/upper`` and
``volume/work`` (the root volume's writable layer), ``root`` (its mount
point, inside the guest's mount namespace only), ``console.log``,
``config.json``, ``launcher.pid``, ``ready`` (written by the init once
booted), ``reloads`` (written by the launcher once it applies ``rules.nft``,
the security group rules, on SIGHUP). Host-side names: netns ``gureum-<id>``,
veth ``gv<12 hex of id>``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import select
import shutil
import signal
import sys
import time
from pathlib import Path

from gureum.drivers.names import GuestNames, own_hosts

from . import hostnet
from .base import GuestSpec, NetworkPlan, Usage
from .cgroups import Cgroups
from .launches import LaunchServer

GUEST_SCRIPT = Path(__file__).with_name("guest.py")
METADATA_ADDRESS = "169.254.169.254"
CONSOLE_LIMIT = 64 * 1024
# How long ``launch`` waits for the guest to boot (its launcher says when).
READY_WAIT = 5.0
# How long a launcher a launch found running is taken as running without looking.
SEEN_FRESH = 0.05
# How long the default bridge, once seen, is taken as there without looking.
BRIDGE_FRESH = 1.0


def host_python() -> str:
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and os.path.exists(candidate):
            return candidate
    return sys.executable


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), if any."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].decode().split()
    except (OSError, IndexError):
        return None


def netns_name(id: str) -> str:
    return f"gureum-{id}"


def veth_name(id: str) -> str:
    return "gv" + id.split("-", 1)[-1][:12]


def nft_rules(plan: NetworkPlan, spec: GuestSpec) -> str:
    lines = [
        "table ip gureum {",
        "  chain metadata {",
        "    type nat hook output priority -100; policy accept;",
        f"    ip daddr {METADATA_ADDRESS} tcp dport 80 dnat to {plan.gateway}:{plan.metadata_port}",
        "  }",
        "}",
    ]
    if spec.ingress is not None:
        lines += ingress_rules(plan, spec.ingress)
    return "\n".join(lines) + "\n"


def ingress_rules(plan: NetworkPlan, rules: tuple[tuple[str, int, int, str], ...]) -> list[str]:
    """A security group's ingress as an nftables input chain (stateful, default drop).

    Single IPv4 addresses (``/32``: a referenced group's members) allowed the
    same protocol and ports share one rule, matched against an anonymous set
    of them (``ip saddr { a, b, ... } ...``) at the place of the first: a
    group's members are one rule, not one each. nft applies a set of 40 in
    about the time of one rule (~1.1 ms in all against ~2.0 with 40 rules),
    and every member applies its rules again at each membership change."""
    body = [
        "table inet gureum_sg {",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        "    ct state established,related accept",
        "    iif lo accept",
        # Answers from the metadata service and the host come back as established.
    ]
    # (protocol, from, to) -> the /32 addresses allowed it, and the line that
    # holds them
    hosts: dict[tuple[str, int, int], tuple[dict[str, None], int]] = {}
    for proto, low, high, cidr in rules:
        if cidr.endswith("/32") and ":" not in cidr:
            key = (proto, low, high)
            found = hosts.get(key)
            if found is not None:
                found[0][cidr[:-3]] = None
                continue
            hosts[key] = ({cidr[:-3]: None}, len(body))
        family = "ip6" if ":" in cidr else "ip"
        source = "" if cidr in ("0.0.0.0/0", "::/0") else f"{family} saddr {cidr} "
        if proto in ("-1", "all"):
            body.append(f"    {source}accept")
        elif proto == "icmp":
            body.append(f"    {source}meta l4proto icmp accept")
        elif proto in ("tcp", "udp"):
            ports = f"{low}" if low == high else f"{low}-{high}"
            body.append(f"    {source}{proto} dport {ports} accept")
        elif proto.isdigit():
            body.append(f"    {source}meta l4proto {proto} accept")
        else:  # (a protocol with no rule: nothing is allowed for these sources)
            hosts.pop((proto, low, high), None)
    for (_, _, _), (addresses, at) in hosts.items():
        if len(addresses) > 1:
            first = next(iter(addresses))
            body[at] = body[at].replace(f"ip saddr {first}/32 ",
                                        f"ip saddr {{ {', '.join(addresses)} }} ", 1)
    body += ["  }", "}"]
    return body


class NamespaceDriver:
    """Guests as namespaced process trees; see the module docstring."""

    kind = "namespace"

    def __init__(self, state_dir: Path, hide: tuple[str, ...] = (),
                 ranges: tuple[str, ...] = (), cache_dir: Path | None = None) -> None:
        """``cache_dir``: where the C launch server is built (None: Python's is used)."""
        self.state_dir = state_dir
        self.ranges = ranges  # the ranges the default network may take (): hostnet's)
        self.guests_dir = state_dir / "guests"
        self.hide = hide
        self.cgroups = Cgroups()
        self._plan: NetworkPlan | None = None
        self._bridge: str | None = None
        self._bridge_seen = float("-inf")  # (when it was last seen: see ``prepare``)
        self._locks: dict[str, asyncio.Lock] = {}
        self._state_dir = str(state_dir)
        self._hide = [self._state_dir, *hide]  # (what each instance does not see)
        # id -> its launcher: (pid, start time, a pidfd of it or -1; see ``_remember``)
        self._pids: dict[str, tuple[int, str, int]] = {}
        self._seen: tuple[str, int, float] | None = None  # the launcher a launch just found
        # Guests whose launcher said it takes new rules on SIGHUP (its ``reloads``
        # file), as long as that launcher is known.
        self._reloading: set[str] = set()
        # id -> its rules file kept open for updates, and the length last
        # written to it (-1: not known), as long as its launcher is known.
        self._rules_files: dict[str, tuple[int, int]] = {}
        self._bridge_lock = asyncio.Lock()
        self.launches = LaunchServer(host_python(), GUEST_SCRIPT,
                                     title_room=len(str(self.guests_dir)) + 512,
                                     native_dir=cache_dir / "bin" if cache_dir else None)
        # Addresses placed on bridges by this process (-> their network's range).
        self._host_addresses: dict[str, str] = {}
        # Keeps guests' hosts files (``<id>/hosts``) current with gureum's names.
        self.guest_names: GuestNames | None = None
        # id(ingress) -> (that ingress, its plan, its nftables text, and the rules
        # file of an update as bytes): guests in the same groups are given the
        # same ingress tuple, rendered (and encoded) once.
        self._nft: dict[int, tuple[object, NetworkPlan, str, bytes]] = {}

    def _rendered(self, plan: NetworkPlan, spec: GuestSpec) -> tuple[object, NetworkPlan, str,
                                                                      bytes]:
        found = self._nft.get(id(spec.ingress))
        if found is not None and found[0] is spec.ingress and found[1] == plan:
            return found
        text = nft_rules(plan, spec)
        found = (spec.ingress, plan, text, ("flush ruleset\n" + text).encode())
        if spec.ingress is not None:
            if len(self._nft) >= 64:
                self._nft.clear()
            self._nft[id(spec.ingress)] = found
        return found

    def _rules_text(self, plan: NetworkPlan, spec: GuestSpec) -> str:
        return self._rendered(plan, spec)[2]

    def network(self) -> NetworkPlan:
        if self._plan is None:
            self._plan = hostnet.choose(self.state_dir, self.ranges)
        return self._plan

    async def prepare(self) -> None:
        # (each launch asks: once the bridge is there, one stat of it per
        # BRIDGE_FRESH, not one per launch of a burst; a launch that fails
        # has it looked for again)
        if self._bridge is not None:
            now = time.monotonic()
            if now - self._bridge_seen < BRIDGE_FRESH:
                return
            if os.path.exists(f"/sys/class/net/{self._bridge}"):
                self._bridge_seen = now
                return
        async with self._bridge_lock:
            self._bridge = await hostnet.ensure_bridge(self.network())
            self._bridge_seen = time.monotonic()

    async def add_host_address(self, address: str, network: NetworkPlan | None = None
                               ) -> None:
        own = network or self.network()
        bridge = hostnet.bridge_name(own.cidr)
        # (asked again and again by a loop: once placed, no command is run)
        if self._host_addresses.get(address) == own.cidr and hostnet.link_exists(bridge):
            return
        async with self._bridge_lock:
            if own.cidr == self.network().cidr:
                self._bridge = await hostnet.ensure_bridge(own)
            else:  # a VPC's network: made (and kept) as for its first guest
                reason = hostnet.conflict(own.cidr, self.state_dir, self.network())
                if reason is not None:
                    raise hostnet.CommandError(reason)
                hostnet.claim(own.cidr, self.state_dir)
                await hostnet.ensure_bridge(own)
            await hostnet.add_bridge_address(own, address)
            self._host_addresses[address] = own.cidr

    async def remove_host_address(self, address: str, network: NetworkPlan | None = None
                                  ) -> None:
        own = network or self.network()
        async with self._bridge_lock:
            self._host_addresses.pop(address, None)
            await hostnet.remove_bridge_address(own, address)
        if own.cidr != self.network().cidr:
            await self._release_networks()

    async def host_addresses(self, network: NetworkPlan | None = None) -> list[str]:
        return await hostnet.bridge_addresses(network or self.network())

    def _dir(self, id: str) -> Path:
        return self.guests_dir / id

    def _lock(self, id: str) -> asyncio.Lock:
        lock = self._locks.get(id)  # (not a new Lock made at each call, to be dropped)
        if lock is None:
            lock = self._locks[id] = asyncio.Lock()
        return lock

    def _remember(self, id: str, pid: int, start: str | None = None) -> None:
        """Know ``id``'s launcher by a pidfd (asking whether it still runs is then a
        poll of it, not a read of /proc/PID/stat, ~15 us), or by its start time
        where pidfds are not to be had."""
        self._forget(id)
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return  # (gone already)
        except (OSError, AttributeError):
            fd = -1
        if start is None and fd < 0:
            fields = _stat(pid)
            if fields is None or fields[0] == "Z":
                return
            start = fields[19]
        self._pids[id] = (pid, start or "", fd)

    def _forget(self, id: str) -> None:
        self._reloading.discard(id)
        kept = self._rules_files.pop(id, None)
        if kept is not None:
            os.close(kept[0])
        known = self._pids.pop(id, None)
        if known is not None and known[2] >= 0:
            os.close(known[2])

    def _alive(self, known: tuple[int, str, int]) -> bool:
        pid, start, fd = known
        if fd >= 0:  # (a pidfd is readable once its process has ended)
            return not select.select([fd], [], [], 0)[0]
        fields = _stat(pid)
        return fields is not None and fields[19] == start and fields[0] != "Z"

    def _launcher_pid(self, id: str) -> int | None:
        known = self._pids.get(id)
        if known is not None:  # the launcher found before, if the same process still runs
            if self._alive(known):
                return known[0]
            self._forget(id)
        d = f"{self.guests_dir}/{id}"
        try:
            with open(f"{d}/launcher.pid", "rb") as f:
                pid = int(f.read())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError):
            return None
        if b"guest.py" not in cmdline or d.encode() not in cmdline:
            return None
        fields = _stat(pid)
        if fields is None or fields[0] == "Z":
            return None
        self._remember(id, pid, fields[19])  # (its start time tells it from a later one)
        return pid

    def running(self, id: str) -> bool:
        return self._launcher_pid(id) is not None

    def booted(self, id: str) -> bool:
        # Asked right after ``launch`` found the launcher running: not looked for again.
        seen, self._seen = self._seen, None
        running = (seen is not None and seen[:2] == (id, self._pids.get(id, (0,))[0])
                   and time.monotonic() - seen[2] < SEEN_FRESH) or self.running(id)
        return running and os.path.exists(f"{self.guests_dir}/{id}/ready")

    async def launch(self, spec: GuestSpec) -> None:
        async with self._lock(spec.id):
            d = f"{self.guests_dir}/{spec.id}"  # (strings: a launch builds many paths)
            new = not os.path.exists(d)  # (a new guest has nothing on the host yet:
            if not new and self.running(spec.id):  # no launcher to look for)
                return
            if not new:
                await self._cleanup(spec.id)
                for name in ("ready", "launcher.pid", "reloads", "rules.nft"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{d}/{name}")
            plan = self.network()
            await self.prepare()
            if spec.layers and not os.path.exists(f"{d}/volume/upper"):
                # overlayfs refuses a lower layer inside another lower (/), so an image's
                # layer is copied into the new volume on first launch.
                os.makedirs(f"{d}/volume", exist_ok=True)
                await hostnet.run("cp", "-a", "--reflink=auto",
                                  str(self.state_dir / "layers" / spec.layers[0]),
                                  f"{d}/volume/upper")
            ns, veth = netns_name(spec.id), veth_name(spec.id)
            own = spec.network or plan
            prefix = own.cidr.split("/")[1]
            host_net = await self._attach(own, veth, ns, spec.address)
            cgroups = self.cgroups.plan(spec.id, spec.limits)
            # The files, directories and ``ip`` commands that follow from the
            # instance's directory and address are derived by its launcher
            # (``guest.expand``): not built and encoded here at each launch.
            config = {
                "id": spec.id,
                "dir": d,
                "cgroup_setup": cgroups,
                "wait_ready": READY_WAIT,
                "host_net": host_net,
                "cgroups": cgroups["procs"],
                "prefix": prefix,
                "gateway": own.gateway,
                "nft": self._rules_text(plan, spec),
                "address": spec.address,
                "hostname": spec.hostname,
                "fqdn": spec.fqdn,
                "from_image": bool(spec.layers),
                "hide": self._hide,
                "authorized_keys": spec.authorized_keys,
                "login_user": spec.login_user,
                "user_data_b64": (base64.b64encode(spec.user_data).decode()
                                  if spec.user_data else None),
            }
            names = generation = None
            if self.guest_names is not None:
                config["hosts"] = f"{d}/hosts"
                names = own_hosts(spec.address, spec.fqdn, spec.hostname)
                if new:  # (its launcher makes the file: creating one is the costly part)
                    config["hosts_text"], generation = self.guest_names.guest_text(names)
                else:
                    self.guest_names.write_guest(Path(d, "hosts"), names)
            try:
                pid = await self.launches.launch(f"{d}/config.json", config)
            except hostnet.CommandError:
                self._bridge_seen = float("-inf")  # (gone? the next launch looks)
                raise
            if generation is not None and self.guest_names is not None and names:
                self.guest_names.written(f"{d}/hosts", names, generation)
            if pid is not None:
                self._remember(spec.id, pid)  # (no pid file to read back)
                if spec.id in self._pids:
                    self._seen = (spec.id, pid, time.monotonic())  # (see ``booted``)

    async def _attach(self, own: NetworkPlan, veth: str, ns: str,
                      address: str) -> list[str] | None:
        """Make the guest's network namespace and its veth on its network's bridge.

        On the default network that is left to the launcher (``guest.attach``:
        no process for gureum to start, nor one for the launcher), which is
        given the veth, the bridge and the address; a VPC's bridge is made (if
        need be) and joined here, under the lock that keeps it from being
        released meanwhile. The host forgets the address's neighbour entry: an
        address given again soon after its instance ended would otherwise be
        sent to the old instance's MAC (the entry stays reachable for up to
        ~45 s) and the new instance would not answer the host for that long."""
        if own.cidr == self.network().cidr:
            return [veth, self._bridge or "", address]
        script = (f"netns add {ns}\nlink add {veth} type veth peer name eth0 netns {ns}\n"
                  f"link set {veth} master {{bridge}}\nlink set {veth} up\n"
                  f"neigh flush to {address}\n")
        async with self._bridge_lock:
            reason = hostnet.conflict(own.cidr, self.state_dir, self.network())
            if reason is not None:
                raise hostnet.CommandError(reason)
            hostnet.claim(own.cidr, self.state_dir)
            bridge = await hostnet.ensure_bridge(own)
            await hostnet.run("ip", "-batch", "-", input=script.format(bridge=bridge).encode())
        return None

    def network_conflict(self, cidr: str) -> str | None:
        return hostnet.conflict(cidr, self.state_dir, self.network())

    async def _release_networks(self, every: bool = False) -> None:
        """Remove the bridges (and claims) of non-default networks no guest uses
        and the host holds no address on."""
        default = self.network().cidr
        async with self._bridge_lock:
            held = set(self._host_addresses.values())
            for cidr in hostnet.claimed_by(self.state_dir):
                if cidr == default or (cidr in held and not every):
                    continue
                bridge = hostnet.bridge_name(cidr)
                if every or not hostnet.has_members(bridge):
                    await hostnet.run("ip", "link", "del", bridge, check=False)
                    hostnet.unclaim(cidr, self.state_dir)

    async def stop(self, id: str, timeout: float = 10.0) -> None:
        async with self._lock(id):
            pid = self._launcher_pid(id)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                while self._launcher_pid(id) is not None and loop.time() < deadline:
                    await asyncio.sleep(0.02)
            await self._cleanup(id)

    async def _cleanup(self, id: str) -> None:
        """Remove every host-side trace of a stopped guest (the volume stays)."""
        pid = self._launcher_pid(id)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            self.cgroups.kill(id)
            if self.cgroups.remove(id):
                break
            await asyncio.sleep(0.02)
        ns = netns_name(id)
        if Path("/run/netns", ns).exists():
            await hostnet.run("ip", "netns", "del", ns, check=False)
        if hostnet.link_exists(veth_name(id)):
            await hostnet.run("ip", "link", "del", veth_name(id), check=False)
        for name in ("ready", "launcher.pid", "reloads"):
            with contextlib.suppress(FileNotFoundError):
                (self._dir(id) / name).unlink()
        self._forget(id)
        await self._release_networks()

    async def destroy(self, id: str) -> None:
        await self.stop(id)
        await asyncio.to_thread(shutil.rmtree, self._dir(id), True)
        self._locks.pop(id, None)

    async def update_ingress(self, spec: GuestSpec) -> None:
        pid = self._launcher_pid(spec.id)
        if pid is None:
            return
        data = self._rendered(self.network(), spec)[3]
        d = f"{self.guests_dir}/{spec.id}"
        if spec.id in self._reloading or os.path.exists(f"{d}/reloads"):
            self._reloading.add(spec.id)  # (its launcher writes it once: not looked for again)
            # The launcher applies them (no process for gureum to start). Written over
            # the old ones in place, then cut to length if they were longer: renaming
            # over the file, or truncating it to nothing first, makes ext4 flush it at
            # close (~0.6-0.9 ms of CPU). The file is kept open while its launcher is
            # known (an open, write, truncate and close on ext4 was ~14 us, a write
            # at its start ~2). A launcher that reads a half-written file applies it
            # or fails, and reads again at the signal that follows the write, so the
            # last rules are always applied.
            fd, size = self._rules_files.get(spec.id, (-1, -1))
            if fd < 0:
                fd = os.open(f"{d}/rules.nft", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.pwrite(fd, data, 0)
                if size < 0 or len(data) < size:
                    os.ftruncate(fd, len(data))
            except OSError:
                self._rules_files.pop(spec.id, None)
                os.close(fd)
                raise
            self._rules_files[spec.id] = (fd, len(data))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)
            return
        await hostnet.run("ip", "netns", "exec", netns_name(spec.id), "nft", "-f", "-",
                          input=data)

    async def capture(self, id: str, layer: str) -> None:
        """Copy the guest's writable layer (whiteouts and xattrs kept) into ``layer``."""
        target = self.state_dir / "layers" / layer
        partial = target.with_name(layer + ".partial")
        if target.exists():
            return
        await asyncio.to_thread(shutil.rmtree, partial, True)
        partial.parent.mkdir(parents=True, exist_ok=True)
        await hostnet.run("cp", "-a", "--reflink=auto", str(self._dir(id) / "volume/upper"),
                          str(partial))
        partial.rename(target)

    async def drop_layer(self, layer: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.state_dir / "layers" / layer, True)

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
        used = self.cgroups.usage(id)
        if used is None:
            return None
        stats = Path("/sys/class/net", veth_name(id), "statistics")
        try:
            # The host end's transmit is what the guest received.
            counters = {name: int((stats / name).read_text())
                        for name in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")}
        except (OSError, ValueError):
            return used
        return dataclasses.replace(
            used, bytes_in=counters["tx_bytes"], bytes_out=counters["rx_bytes"],
            packets_in=counters["tx_packets"], packets_out=counters["rx_packets"])

    async def shutdown(self) -> None:
        ids = [i for i in self.guests() if self.running(i) or self.cgroups.exists(i)]
        await asyncio.gather(*(self.stop(i) for i in ids), return_exceptions=True)
        for id in [*self._pids, *self._rules_files]:
            self._forget(id)
        if self._plan is None and (self.state_dir / "network.json").exists():
            self.network()
        if self._plan is not None:
            await self._release_networks(every=True)
            await hostnet.remove_bridge(self._plan)
        self._bridge = None
        await self.launches.close()
        self.cgroups.remove_parent()
        self._host_addresses.clear()  # (they went with the bridge)
