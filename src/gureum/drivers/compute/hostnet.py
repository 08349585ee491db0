"""The host side of guest networking: choosing a private range, the bridge.

The range is chosen once per state directory and remembered there
(``network.json``): the first of 172.31.0.0/16, 172.30.0.0/16, ... that the
host does not already route and no other gureum on this host has claimed
(claims live in ``/run/gureum/networks``, naming the claimant's directory; a
claim whose directory is gone is free). The bridge gets the range's first
address; nothing is forwarded or NATed (``ip_forward`` is never touched), so
guests reach the host, each other and nothing else.

Guests of other networks (a VPC the user created: 10.0.0.0/16, ...) get a
bridge of their own (``gureumv`` and a hash of the range), claimed the same
way while guests use it. The host reaches every such network; since nothing
is forwarded, guests of one network cannot reach guests of another (only the
host's addresses, and the metadata service on the default network's gateway).
A range that overlaps one the host already routes, or one another gureum
claims, is refused.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import ipaddress
import json
import os
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .base import NetworkPlan, NoFreeNetwork

# Threads that wait for commands (a launch waits for its guest to boot): their
# own, so that they never hold up the default executor other code shares.
_commands = concurrent.futures.ThreadPoolExecutor(max_workers=32,
                                                  thread_name_prefix="gureum-hostnet")
CANDIDATES = [f"172.{n}.0.0/16" for n in range(31, 15, -1)]
CLAIMS = Path("/run/gureum/networks")


class CommandError(RuntimeError):
    pass


class NoFreeRange(CommandError, NoFreeNetwork):
    """Every candidate range is routed by the host or claimed by another gureum."""


async def run(*argv: str, input: bytes | None = None, check: bool = True) -> str:
    """Run a command and return its output, without blocking the event loop.

    The child is started by the standard library's ``subprocess`` (vfork) from a
    worker thread, not by the event loop: uvloop forks, which copies the page
    tables of the whole gureum process and cost ~6 ms of its CPU per command
    (~0.4 ms this way) -- most of a RunInstances call's server CPU."""
    def call() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(argv, input=input, capture_output=True, close_fds=True,
                              stdin=None if input is not None else subprocess.DEVNULL)

    proc = await asyncio.get_running_loop().run_in_executor(_commands, call)
    if check and proc.returncode != 0:
        raise CommandError(f"{' '.join(argv)}: {proc.stderr.decode(errors='replace').strip()}")
    out: str = proc.stdout.decode(errors="replace")
    return out


def routed_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host routes (from /proc/net/route)."""
    nets = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            dest = socket.inet_ntoa(int(fields[1], 16).to_bytes(4, "little"))
            mask = socket.inet_ntoa(int(fields[7], 16).to_bytes(4, "little"))
            if dest == "0.0.0.0" and mask == "0.0.0.0":
                continue  # the default route overlaps everything and routes nothing of ours
            nets.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    return nets


def bridge_name(cidr: str) -> str:
    if cidr in CANDIDATES:
        return f"gureum{CANDIDATES.index(cidr)}"
    return "gureumv" + hashlib.sha256(cidr.encode()).hexdigest()[:8]


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _claimed_by_other(cidr: str, state_dir: Path) -> bool:
    claim = CLAIMS / cidr.replace("/", "_")
    try:
        owner = claim.read_text().strip()
    except OSError:
        return False
    if not Path(owner).is_dir():
        with contextlib.suppress(OSError):
            claim.unlink()  # its state directory is gone: the claim is stale
        return False
    return owner != str(state_dir)


def _drop_orphan_bridges() -> None:
    """Delete gureum bridges that nobody claims and no instance uses: a gureum
    killed with SIGKILL whose data directory was then deleted left them."""
    claimed = set()
    with contextlib.suppress(OSError):
        for claim in CLAIMS.iterdir():
            cidr = claim.name.replace("_", "/")
            if _claim_owner(cidr) is not None:
                claimed.add(bridge_name(cidr))
    names = {bridge_name(c) for c in CANDIDATES}
    with contextlib.suppress(OSError):
        names |= {n for n in os.listdir("/sys/class/net") if n.startswith("gureumv")}
    for name in sorted(names):
        if not link_exists(name) or name in claimed or has_members(name):
            continue
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def has_members(bridge: str) -> bool:
    with contextlib.suppress(OSError):
        return any(Path("/sys/class/net", bridge, "brif").iterdir())
    return False


def conflict(cidr: str, state_dir: Path, default: NetworkPlan) -> str | None:
    """Why guests of ``cidr`` cannot live on this host now (None: they can)."""
    net = ipaddress.IPv4Network(cidr)
    if net.overlaps(ipaddress.IPv4Network(default.cidr)):
        return f"{cidr} overlaps {default.cidr}, the default VPC's range on this host"
    owner = _claim_owner(cidr)
    if owner is not None and owner != str(state_dir):
        return f"{cidr} is used by another gureum on this host ({owner})"
    ours = owner is not None and link_exists(bridge_name(cidr))
    for routed in routed_networks():
        if net.overlaps(routed) and not (ours and routed == net):
            return f"{cidr} overlaps {routed}, which this host already routes"
    return None


def claim(cidr: str, state_dir: Path) -> None:
    CLAIMS.mkdir(parents=True, exist_ok=True)
    (CLAIMS / cidr.replace("/", "_")).write_text(str(state_dir))


def unclaim(cidr: str, state_dir: Path) -> None:
    if _claim_owner(cidr) == str(state_dir):
        with contextlib.suppress(OSError):
            (CLAIMS / cidr.replace("/", "_")).unlink()


def claimed_by(state_dir: Path) -> list[str]:
    """The ranges ``state_dir`` claims (its default network's and its VPCs')."""
    out = []
    with contextlib.suppress(OSError):
        for entry in CLAIMS.iterdir():
            cidr = entry.name.replace("_", "/")
            if _claim_owner(cidr) == str(state_dir):
                out.append(cidr)
    return sorted(out)


def _claim_owner(cidr: str) -> str | None:
    """The live state directory claiming ``cidr``, if any (stale claims removed)."""
    claim = CLAIMS / cidr.replace("/", "_")
    try:
        owner = claim.read_text().strip()
    except OSError:
        return None
    if not Path(owner).is_dir():
        with contextlib.suppress(OSError):
            claim.unlink()
        return None
    return owner


def choose(state_dir: Path, candidates: Sequence[str] = ()) -> NetworkPlan:
    """This state directory's range: remembered, or the first free one of
    ``candidates`` (by default ``CANDIDATES``); ``NoFreeRange`` if none is."""
    state_dir.mkdir(parents=True, exist_ok=True)
    remembered = state_dir / "network.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        data = json.loads(remembered.read_text())
        return NetworkPlan(data["cidr"], data["gateway"], int(data["metadata_port"]))
    _drop_orphan_bridges()
    routed = routed_networks()
    candidates = list(candidates or CANDIDATES)
    for cidr in candidates:
        net = ipaddress.IPv4Network(cidr)
        if any(net.overlaps(r) for r in routed) or link_exists(bridge_name(cidr)):
            continue
        if _claimed_by_other(cidr, state_dir):
            continue
        break
    else:
        raise NoFreeRange(
            f"no free private range for instances on this host: each of {', '.join(candidates)}"
            f" is routed by the host or claimed by another gureum (claims: {CLAIMS})")
    claim(cidr, state_dir)
    plan = NetworkPlan(cidr, str(next(net.hosts())), 80)
    remembered.write_text(
        json.dumps({"cidr": plan.cidr, "gateway": plan.gateway, "metadata_port": 80})
    )
    return plan


def drop_unused_bridges(state_dir: Path) -> None:
    """Delete the bridges of the ranges ``state_dir`` claims that no guest uses
    (a gureum killed with SIGKILL left them, with the addresses the host held
    there for load balancers)."""
    for cidr in claimed_by(state_dir):
        name = bridge_name(cidr)
        if link_exists(name) and not has_members(name):
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def release(state_dir: Path, plan: NetworkPlan) -> None:
    """Forget the claim (when the state directory is being deleted)."""
    with contextlib.suppress(OSError):
        (CLAIMS / plan.cidr.replace("/", "_")).unlink()
    with contextlib.suppress(OSError):
        (state_dir / "network.json").unlink()


def bridge_mac(cidr: str) -> str:
    """The bridge's own MAC: fixed (locally administered, from the range).

    A bridge whose address was never set takes the lowest MAC of its ports and
    changes it as guests' veths come and go; a running guest keeps the old one
    in its ARP cache for up to a minute and answers the host into the void (a
    guest adopted after a restart, whose neighbour was stopped, timed out)."""
    digest = hashlib.sha256(cidr.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


_pinned: set[str] = set()  # bridges seen with their address set (checked once)


def _address_pinned(name: str) -> bool:
    if name in _pinned:
        return True
    try:  # NET_ADDR_SET: the address was set, the bridge keeps it
        pinned = Path("/sys/class/net", name, "addr_assign_type").read_text().strip() == "3"
    except OSError:
        return True  # (gone, or no such attribute: nothing to do)
    if pinned:
        _pinned.add(name)
    return pinned


async def ensure_bridge(plan: NetworkPlan) -> str:
    name = bridge_name(plan.cidr)
    prefix = plan.cidr.split("/")[1]
    if link_exists(name) and not _address_pinned(name):
        # Made by an older gureum: keep the address its guests know, and keep it from now on.
        with contextlib.suppress(OSError):
            current = Path("/sys/class/net", name, "address").read_text().strip()
            await run("ip", "link", "set", name, "address", current, check=False)
    if not link_exists(name):
        script = (
            f"link add {name} address {bridge_mac(plan.cidr)} type bridge\n"
            f"link set {name} type bridge stp_state 0 forward_delay 0\n"
            f"addr add {plan.gateway}/{prefix} dev {name}\n"
            f"link set {name} up\n"
        )
        try:
            await run("ip", "-batch", "-", input=script.encode())
        except CommandError:
            if not link_exists(name):  # else: a concurrent launch made it first
                raise
    return name


async def bridge_addresses(plan: NetworkPlan) -> list[str]:
    """The host's single addresses (/32) on ``plan``'s bridge inside its range:
    endpoints (load balancers) that live on the network, besides the gateway."""
    name = bridge_name(plan.cidr)
    if not link_exists(name):
        return []
    out = await run("ip", "-4", "-o", "addr", "show", "dev", name, check=False)
    net = ipaddress.IPv4Network(plan.cidr)
    found = []
    for line in out.splitlines():
        fields = line.split()
        if "inet" not in fields:
            continue
        address, _, prefix = fields[fields.index("inet") + 1].partition("/")
        if prefix == "32" and ipaddress.IPv4Address(address) in net:
            found.append(address)
    return sorted(found)


async def add_bridge_address(plan: NetworkPlan, address: str) -> None:
    """Give the host ``address`` (/32) on ``plan``'s bridge; already there is fine.

    A /32 does not change which source address the host picks for the range
    (the gateway's, whose route it is): only what binds to it uses it."""
    name = bridge_name(plan.cidr)
    await run("ip", "addr", "add", f"{address}/32", "dev", name, check=False)
    if address not in await bridge_addresses(plan):
        raise CommandError(f"could not add {address} to {name}")


async def remove_bridge_address(plan: NetworkPlan, address: str) -> None:
    """Take ``address`` off ``plan``'s bridge; already gone is fine."""
    name = bridge_name(plan.cidr)
    if link_exists(name):
        await run("ip", "addr", "del", f"{address}/32", "dev", name, check=False)


async def remove_bridge(plan: NetworkPlan) -> None:
    name = bridge_name(plan.cidr)
    if link_exists(name):
        await run("ip", "link", "del", name, check=False)
