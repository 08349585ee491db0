"""Names that ordinary clients on this machine resolve with no DNS setup: load
balancer DNS names, database and cache endpoints.

The real driver keeps a block of ``/etc/hosts`` lines tagged with its owner (one
gureum data dir); several gureums on one machine each keep their own block.
Edits are serialized with a lock file and written in place (``/etc/hosts`` is
often a bind mount that cannot be renamed over). The fake keeps a dict.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

HOSTS = Path("/etc/hosts")
LOCK = Path("/tmp/gureum-hosts.lock")


class NameRegistry(Protocol):
    def add(self, name: str, address: str) -> None:
        """Make ``name`` resolve to ``address`` (replaces an earlier address)."""

    def remove(self, name: str) -> None:
        """Forget ``name``; an unknown name is fine."""

    def names(self) -> dict[str, str]: ...

    def clear(self) -> None:
        """Forget every name of this registry."""


class MemoryNames:
    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def add(self, name: str, address: str) -> None:
        self._names[name.lower()] = address

    def remove(self, name: str) -> None:
        self._names.pop(name.lower(), None)

    def names(self) -> dict[str, str]:
        return dict(self._names)

    def clear(self) -> None:
        self._names.clear()


class HostsFile:
    """A tagged block of lines in a hosts file."""

    def __init__(self, tag: str, path: Path = HOSTS, lock: Path = LOCK) -> None:
        self.begin = f"# BEGIN gureum {tag} (managed by gureum; do not edit)"
        self.end = f"# END gureum {tag}"
        self.path = path
        self.lock = lock

    @staticmethod
    def usable(path: Path = HOSTS) -> bool:
        return os.access(path, os.W_OK)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _split(self, text: str) -> tuple[list[str], dict[str, str]]:
        others: list[str] = []
        mine: dict[str, str] = {}
        inside = False
        for line in text.splitlines():
            if line == self.begin:
                inside = True
            elif line == self.end:
                inside = False
            elif inside:
                parts = line.split()
                if len(parts) == 2:
                    mine[parts[1]] = parts[0]
            else:
                others.append(line)
        return others, mine

    def _write(self, others: list[str], mine: dict[str, str]) -> None:
        lines = list(others)
        if mine:
            lines.append(self.begin)
            lines += [f"{address} {name}" for name, address in sorted(mine.items())]
            lines.append(self.end)
        data = "\n".join(lines) + "\n"
        with open(self.path, "r+") as f:
            f.seek(0)
            f.write(data)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())

    def _edit(self, name: str, address: str | None) -> None:
        with self._locked():
            others, mine = self._split(self.path.read_text())
            if address is None:
                if mine.pop(name.lower(), None) is None:
                    return
            else:
                if mine.get(name.lower()) == address:
                    return
                mine[name.lower()] = address
            self._write(others, mine)

    def add(self, name: str, address: str) -> None:
        self._edit(name, address)

    def remove(self, name: str) -> None:
        self._edit(name, None)

    def names(self) -> dict[str, str]:
        return self._split(self.path.read_text())[1]

    def clear(self) -> None:
        with self._locked():
            others, mine = self._split(self.path.read_text())
            if mine:
                self._write(others, {})
