"""An in-memory compute driver with the real one's semantics, for unit tests.

Guests "run" as records: ``launch`` boots at once (``booted`` is True) and
records that the user data ran at first boot only; ``crash(id)`` makes a
guest's init exit as if its processes died.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .base import GuestSpec, NetworkPlan, Usage


@dataclass
class FakeGuest:
    spec: GuestSpec
    running: bool = False
    boots: int = 0
    user_data_runs: int = 0
    volume: dict[str, bytes] = field(default_factory=dict)
    console: list[str] = field(default_factory=list)


class FakeComputeDriver:
    kind = "fake"

    def __init__(self, plan: NetworkPlan | None = None) -> None:
        # Nothing listens on a fake network: no metadata site is started for it.
        self.plan = plan or NetworkPlan("172.31.0.0/16", "172.31.0.1", 0, isolated=False)
        self.guests_: dict[str, FakeGuest] = {}
        self.launches = 0
        self.shut_down = False
        self.layers: dict[str, dict[str, bytes]] = {}
        self.addresses: set[str] = set()  # the host's extra addresses on the networks
        self.address_networks: dict[str, str] = {}  # address -> its network's range

    def network(self) -> NetworkPlan:
        return self.plan

    def network_conflict(self, cidr: str) -> str | None:
        return None

    async def prepare(self) -> None:
        self.shut_down = False

    async def add_host_address(self, address: str, network: NetworkPlan | None = None
                               ) -> None:
        if not self.plan.isolated:
            raise RuntimeError("a loopback network has no host addresses to add")
        self.addresses.add(address)
        self.address_networks[address] = (network or self.plan).cidr

    async def remove_host_address(self, address: str, network: NetworkPlan | None = None
                                  ) -> None:
        self.addresses.discard(address)
        self.address_networks.pop(address, None)

    async def host_addresses(self, network: NetworkPlan | None = None) -> list[str]:
        cidr = (network or self.plan).cidr
        return sorted(a for a in self.addresses if self.address_networks.get(a) == cidr)

    async def launch(self, spec: GuestSpec) -> None:
        guest = self.guests_.get(spec.id)
        if guest is None:
            guest = self.guests_[spec.id] = FakeGuest(spec)
            for layer in reversed(spec.layers):
                guest.volume.update(self.layers.get(layer, {}))
        if guest.running:
            return
        guest.spec = spec
        guest.running = True
        guest.boots += 1
        self.launches += 1
        guest.console.append(f"booting {spec.id} as {spec.hostname} ({spec.address})")
        if spec.user_data and f"user-data.done:{spec.id}" not in guest.volume:
            guest.volume[f"user-data.done:{spec.id}"] = b"1"
            guest.user_data_runs += 1
            guest.console.append("running user data")

    def running(self, id: str) -> bool:
        guest = self.guests_.get(id)
        return guest is not None and guest.running

    def booted(self, id: str) -> bool:
        return self.running(id)

    async def stop(self, id: str, timeout: float = 10.0) -> None:
        guest = self.guests_.get(id)
        if guest is not None and guest.running:
            guest.running = False
            guest.console.append("stopped")

    async def destroy(self, id: str) -> None:
        await self.stop(id)
        self.guests_.pop(id, None)

    async def update_ingress(self, spec: GuestSpec) -> None:
        guest = self.guests_.get(spec.id)
        if guest is not None:
            guest.spec = spec

    async def capture(self, id: str, layer: str) -> None:
        self.layers.setdefault(layer, dict(self.guests_[id].volume))

    async def drop_layer(self, layer: str) -> None:
        self.layers.pop(layer, None)

    def guests(self) -> list[str]:
        return sorted(self.guests_)

    def console(self, id: str) -> bytes:
        guest = self.guests_.get(id)
        return b"" if guest is None else ("\n".join(guest.console) + "\n").encode()

    def usage(self, id: str) -> Usage | None:
        guest = self.guests_.get(id)
        return None if guest is None or not guest.running else Usage(0.0, 0)

    async def shutdown(self) -> None:
        for guest in self.guests_.values():
            guest.running = False
        self.addresses.clear()  # (the host's bridge goes, and its addresses with it)
        self.address_networks.clear()
        self.shut_down = True

    def crash(self, id: str) -> None:
        self.guests_[id].running = False
