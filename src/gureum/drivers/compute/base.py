"""The ``ComputeDriver`` protocol: isolated machines ("guests") on this host.

A guest is identified by a caller-chosen id. The driver knows nothing of AWS:
it is told an address, a hostname, limits and a first-boot script, and runs
a process tree under its own init with them.

- ``prepare()`` sets up the host side (the bridge) before anything listens on it.
- ``network()`` says which private range guests live in by default (chosen
  once per data dir, honestly: a range the host does not already route). A
  guest whose ``GuestSpec.network`` names another range (a VPC the user made)
  lives on a network of that range: reachable from the host, isolated from
  the other networks' guests. ``network_conflict(cidr)`` says why a range
  cannot be given to guests now (``None``: it can).
- ``launch(spec)`` boots the guest if it is not running (idempotent: a running
  guest, including one left running by a previous gureum process, is adopted
  as it is). Its writable root volume is created on first launch and kept.
- ``running(id)`` is True while the guest's init runs; ``booted(id)`` once its
  init has mounted its root and started its boot scripts.
- ``stop(id)`` asks the init to stop its processes and waits (then kills);
  the volume stays. Stopping a stopped guest succeeds.
- ``destroy(id)`` stops the guest and deletes its volume; destroying an
  unknown guest succeeds.
- ``capture(id, layer)`` copies the guest's root volume (its writable layer)
  into a named read-only layer; a guest launched with ``GuestSpec.layers``
  starts its volume from the top one (a copy: overlayfs will not stack a
  lower layer that lives inside the base system). ``drop_layer(layer)``
  deletes one (dropping an unknown layer succeeds).
- ``add_host_address(a, network)`` gives the host one more address (``a``,
  inside the range of ``network``, the default one if None) where guests
  reach it, for endpoints that live on the network (load balancers); the
  network is kept while the host holds an address there, even with no
  guest. ``remove_host_address(a, network)`` takes it back (both
  idempotent); ``host_addresses(network)`` lists those the host has now. A
  network that is not ``isolated`` (loopback) has none: adding is refused.
- ``shutdown()`` stops every guest (like the host shutting down) and removes
  what the driver set up on the host; volumes stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class NoFreeNetwork(RuntimeError):
    """``network()`` has no range to give guests on this host: every candidate
    is routed by the host or claimed by another gureum (say so, not crash)."""


@dataclass(frozen=True)
class NetworkPlan:
    """Where guests live: ``cidr`` (e.g. 172.31.0.0/16) and the host's address in it."""

    cidr: str
    gateway: str
    metadata_port: int = 80
    isolated: bool = True  # False for the loopback fallback


@dataclass(frozen=True)
class Limits:
    vcpus: float
    memory_mib: int
    pids: int = 4096


@dataclass(frozen=True)
class GuestSpec:
    id: str
    address: str
    hostname: str
    fqdn: str
    limits: Limits
    user_data: bytes | None = None
    # Ingress allowed: (protocol "tcp"/"udp"/"icmp"/"-1", from port, to port, source cidr).
    ingress: tuple[tuple[str, int, int, str], ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Layers (made by ``capture``, top first) the guest's new volume starts from.
    layers: tuple[str, ...] = ()
    # The guest's own network (cidr and the host's address in it); None: the default one.
    network: NetworkPlan | None = None
    # OpenSSH public keys for logins over ssh (where the host has sshd), and the
    # user who gets them besides root.
    authorized_keys: str | None = None
    login_user: str = "ec2-user"


@dataclass(frozen=True)
class Usage:
    """What a guest has used since it booted (counters) and holds now (memory).

    Network counters are from the guest's side: ``bytes_in`` is what it received.
    Disk counters are ``None`` where the host cannot measure them per guest."""

    cpu_seconds: float
    memory_bytes: int
    memory_limit: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    packets_in: int = 0
    packets_out: int = 0
    disk_read_bytes: int | None = None
    disk_write_bytes: int | None = None


class ComputeDriver(Protocol):
    kind: str

    def network(self) -> NetworkPlan: ...

    def network_conflict(self, cidr: str) -> str | None: ...

    async def prepare(self) -> None:
        """Set up the host side of the network (idempotent), so that services for
        guests (the metadata service) can listen on the gateway address."""
        ...

    async def launch(self, spec: GuestSpec) -> None: ...

    def running(self, id: str) -> bool: ...

    def booted(self, id: str) -> bool: ...

    async def stop(self, id: str, timeout: float = 10.0) -> None: ...

    async def destroy(self, id: str) -> None: ...

    async def update_ingress(self, spec: GuestSpec) -> None: ...

    async def add_host_address(self, address: str, network: NetworkPlan | None = None
                               ) -> None: ...

    async def remove_host_address(self, address: str, network: NetworkPlan | None = None
                                  ) -> None: ...

    async def host_addresses(self, network: NetworkPlan | None = None) -> list[str]: ...

    def guests(self) -> list[str]: ...

    async def capture(self, id: str, layer: str) -> None: ...

    async def drop_layer(self, layer: str) -> None: ...

    def console(self, id: str) -> bytes: ...

    def usage(self, id: str) -> Usage | None: ...

    async def shutdown(self) -> None: ...
