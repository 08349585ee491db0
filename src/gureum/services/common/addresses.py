"""Loopback addresses for endpoints (load balancers, databases, caches): each
owner gets its own 127.x.y.z, so many of them can listen on the same port.

Addresses come from this gureum's /16 of 127.0.0.0/8 (``Settings.
loopback_prefix``), are recorded in the store and survive restarts."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

KIND = "net:address"


class AddressPool:
    def __init__(self, store: Any, prefix: str) -> None:
        self.store = store
        self.prefix = prefix  # "127.150"

    def allocate(self, owner: str) -> str:
        """The address of ``owner`` (allocated once; the same one afterwards)."""
        with self.store.tx():
            for doc in self.store.resources.list(KIND, "", ""):
                if doc["Owner"] == owner:
                    return str(doc["Address"])
            used = {doc["Address"] for doc in self.store.resources.list(KIND, "", "")}
            for third in range(1, 255):
                for fourth in range(1, 255):
                    address = f"{self.prefix}.{third}.{fourth}"
                    if address not in used:
                        self.store.resources.put(
                            KIND, "", "", address, {"Address": address, "Owner": owner}
                        )
                        return address
        raise AWSError("InsufficientAddressCapacity", "No loopback address is free", 503)

    def release(self, owner: str) -> None:
        with self.store.tx():
            for doc in self.store.resources.list(KIND, "", ""):
                if doc["Owner"] == owner:
                    self.store.resources.delete(KIND, "", "", doc["Address"])
