"""What a service is given and what an operation sees.

An operation is a method named after the AWS operation in snake case
(``run_instances``) taking ``(call, params)`` and returning the output dict,
sync or async. It validates, writes desired state in one transaction, wakes a
loop, and returns; it never starts or kills processes.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from gureum.config import Settings


@dataclass(frozen=True)
class Identity:
    """Who is calling. IAM users and roles will fill the optional parts."""

    account_id: str
    arn: str
    user_id: str
    access_key: str | None = None
    kind: str = "root"  # root | user | assumed-role | anonymous
    user_name: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    @classmethod
    def root(cls, account_id: str, access_key: str | None = None) -> Identity:
        return cls(account_id, f"arn:aws:iam::{account_id}:root", account_id, access_key)

    @classmethod
    def nobody(cls) -> Identity:
        return cls("", "*", "anonymous", None, "anonymous")


@dataclass
class Call:
    """One API call, as an operation sees it."""

    service: str
    operation: str
    account: str
    region: str
    identity: Identity
    request_id: str
    source_ip: str = "127.0.0.1"
    secure: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileBody:
    """A response body that is (part of) a file: sent with sendfile."""

    path: Path
    offset: int = 0
    length: int | None = None


StreamBody = AsyncIterable[bytes]


@dataclass
class Env:
    """What every service is built with. ``store``, ``loops`` and ``clock`` are
    the control-plane objects; services keep to their public methods."""

    settings: Settings
    store: Any
    clock: Any
    loops: Any
    # Names that clients on this machine resolve (gureum.drivers.names), and
    # loopback addresses for endpoints (common.addresses.AddressPool).
    names: Any = None
    addresses: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def name_salt(self) -> str:
        """What makes this gureum's endpoint names its own: two gureums on one
        host (their own data directories) never publish the same name for
        their own database or cache of the same account, region and id."""
        return str(self.settings.data_dir.resolve())


Operation = Callable[[Call, dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]


class Service:
    """Base of every service: its name, lifecycle hooks and state reset."""

    name: ClassVar[str]
    # The store kinds this service owns ("s3:bucket", ...): what a reset wipes.
    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, env: Env) -> None:
        self.env = env

    async def start(self) -> None:
        """Register loops, recover state after a restart."""

    def warm(self) -> None:
        """Load what the first call would otherwise load (runs in a thread after
        start, so that the first call to the service is fast)."""

    async def stop(self) -> None:
        """Stop loops; data planes are left to their drivers' shutdown."""

    async def reset(self) -> None:
        """Forget every resource of this service (stop what it started)."""
        with self.env.store.tx():
            for kind in self.kinds:
                self.env.store.resources.delete_all(kind=kind)
