"""Names that ordinary clients on this machine resolve with no DNS setup: load
balancer DNS names, database and cache endpoints.

The real driver keeps a block of ``/etc/hosts`` lines tagged with its owner (one
gureum data dir); several gureums on one machine each keep their own block.
Edits are serialized with a lock file and written in place (``/etc/hosts`` is
often a bind mount that cannot be renamed over). The fake keeps a dict.
``GuestNames`` wraps either and keeps instances' own hosts files current with
the names they can reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import ipaddress
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

HOSTS = Path("/etc/hosts")
LOCK = Path("/tmp/gureum-hosts.lock")

log = logging.getLogger("gureum.names")


class NameRegistry(Protocol):
    def add(self, name: str, address: str) -> None:
        """Make ``name`` resolve to ``address`` (replaces an earlier address)."""

    def remove(self, name: str) -> None:
        """Forget ``name``; an unknown name is fine."""

    def update(self, added: dict[str, str], removed: Iterable[str] = ()) -> None:
        """Many adds and removes made as one change (one write)."""

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

    def update(self, added: dict[str, str], removed: Iterable[str] = ()) -> None:
        for name in removed:
            self.remove(name)
        for name, address in added.items():
            self.add(name, address)

    def names(self) -> dict[str, str]:
        return dict(self._names)

    def clear(self) -> None:
        self._names.clear()


class HostsFile:
    """A tagged block of lines in a hosts file.

    The block's header names the owning process; blocks of processes that are
    gone (a gureum killed with SIGKILL) are dropped at the next edit, and the
    block being edited is put first among gureum's blocks, so the most recent
    gureum wins when two of them publish the same name."""

    def __init__(
        self, tag: str, path: Path = HOSTS, lock: Path = LOCK, pid: int | None = None
    ) -> None:
        self.tag = tag
        self.pid = os.getpid() if pid is None else pid
        self.path = path
        self.lock = lock

    @property
    def begin(self) -> str:
        return f"# BEGIN gureum {self.tag} pid {self.pid} (managed by gureum; do not edit)"

    @property
    def end(self) -> str:
        return f"# END gureum {self.tag}"

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

    def _split(self, text: str) -> tuple[list[str], dict[str, str], list[list[str]]]:
        """(lines that are not gureum's, this tag's names, other live blocks)."""
        others: list[str] = []
        mine: dict[str, str] = {}
        blocks: list[list[str]] = []
        block: list[str] | None = None
        owner = ""
        for line in text.splitlines():
            if line.startswith("# BEGIN gureum "):
                block = [line]
                owner = line.split()[3]
            elif line.startswith("# END gureum ") and block is not None:
                block.append(line)
                if owner != self.tag and _alive(block[0]):
                    blocks.append(block)
                block = None
            elif block is not None:
                block.append(line)
                parts = line.split()
                if owner == self.tag and len(parts) == 2:
                    mine[parts[1]] = parts[0]
            else:
                others.append(line)
        return others, mine, blocks

    def _write(self, others: list[str], mine: dict[str, str], blocks: list[list[str]]) -> None:
        lines = list(others)
        if mine:
            lines.append(self.begin)
            lines += [f"{address} {name}" for name, address in sorted(mine.items())]
            lines.append(self.end)
        for block in blocks:
            lines += block
        data = "\n".join(lines) + "\n"
        with open(self.path, "r+") as f:
            f.seek(0)
            f.write(data)
            f.truncate()
            f.flush()
            os.fsync(f.fileno())

    def update(self, added: dict[str, str], removed: Iterable[str] = ()) -> None:
        with self._locked():
            others, mine, blocks = self._split(self.path.read_text())
            for name in removed:
                mine.pop(name.lower(), None)
            for name, address in added.items():
                mine[name.lower()] = address
            self._write(others, mine, blocks)

    def add(self, name: str, address: str) -> None:
        self.update({name: address})

    def remove(self, name: str) -> None:
        self.update({}, (name,))

    def names(self) -> dict[str, str]:
        return self._split(self.path.read_text())[1]

    def clear(self) -> None:
        with self._locked():
            others, _, blocks = self._split(self.path.read_text())
            self._write(others, {}, blocks)


def _alive(header: str) -> bool:
    """Whether the process named in a block header still runs (a header with
    no pid is from an older gureum, which is gone)."""
    parts = header.split()
    if len(parts) < 6 or parts[4] != "pid" or not parts[5].isdigit():
        return False
    try:
        os.kill(int(parts[5]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- names inside instances ---------------------------------------------------

GUEST_BEGIN = "# BEGIN gureum names (managed by gureum; do not edit)"
GUEST_END = "# END gureum names"


@functools.lru_cache(maxsize=4096)
def reachable(address: str) -> bool:
    """Whether an instance reaches ``address`` as the host does: not a loopback
    address (inside an instance's network namespace 127.x is its own)."""
    try:
        return not ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def own_hosts(address: str, fqdn: str, hostname: str) -> str:
    """An instance's own lines of its hosts file."""
    return (f"127.0.0.1 localhost\n{address} {fqdn} {hostname}\n"
            "::1 localhost ip6-localhost ip6-loopback\n")


def guest_hosts(own: str, names: dict[str, str]) -> str:
    """An instance's hosts file: its own lines, then gureum's names it can reach."""
    return _own_part(own) + guest_block(names)


def _own_part(own: str) -> str:
    if own.endswith("\n") and "\n\n" not in own and own[:1] not in ("\n", "") and "\r" not in own:
        return own  # (as ``own_hosts`` makes them: no line to drop)
    lines = [line for line in own.splitlines() if line]
    return "\n".join(lines) + "\n" if lines else ""


def guest_block(names: dict[str, str]) -> str:
    """gureum's block of an instance's hosts file: the names it can reach."""
    lines = [GUEST_BEGIN]
    lines += [f"{address} {name}" for name, address in sorted(names.items())
              if reachable(address)]
    lines.append(GUEST_END)
    return "\n".join(lines) + "\n"


def own_lines(text: str) -> str:
    """The lines of a hosts file outside gureum's block."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if line == GUEST_BEGIN:
            inside = True
        elif line == GUEST_END:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept) + "\n"


def _rewrite(path: Path | str, data: str, create: bool = False) -> None:
    """In place (same inode): the file is bind-mounted as an instance's /etc/hosts.
    Written over, then cut to length (never truncated to nothing first: ext4
    would flush it at close)."""
    raw = data.encode()
    fd = os.open(path, os.O_WRONLY | (os.O_CREAT if create else 0), 0o644)
    try:
        os.write(fd, raw)
        os.ftruncate(fd, len(raw))
    finally:
        os.close(fd)


class GuestNames:
    """A names registry that also keeps instances' hosts files current.

    Each instance has ``<guests dir>/<id>/hosts`` (its own lines, then gureum's
    names), bind-mounted by its init as its /etc/hosts. Every change of names
    rewrites the files in place: those found in the watched guest directories
    (instances that were there before this gureum started, re-adopted) and
    those made since. Each file's own lines are kept in memory, so a change
    writes each file once and reads none."""

    def __init__(self, inner: NameRegistry) -> None:
        self.inner = inner
        self.directories: list[Path] = []
        self._lock = threading.Lock()
        # The inner registry's names as this object last made them (every change
        # goes through it), and gureum's block of the hosts files they give: not
        # read back and rendered again per launch or per change. ``generation``
        # counts the changes.
        self._names: dict[str, str] | None = None
        self._block: str | None = None
        self.generation = 0
        # The files kept current (path -> their own lines), and the block they
        # all show since the last refresh.
        self._files: dict[str, str] = {}
        self._shown: str | None = None

    def _current(self) -> dict[str, str]:
        if self._names is None:
            self._names = self.inner.names()
        return self._names

    def _changed(self, names: dict[str, str] | None) -> None:
        self._names, self._block = names, None
        self.generation += 1

    def _guest_block(self) -> str:
        if self._block is None:
            self._block = guest_block(self._current())
        return self._block

    def watch(self, directory: Path) -> None:
        """Keep the hosts files already in ``directory``'s guest directories current."""
        with self._lock:
            if directory not in self.directories:
                self.directories.append(directory)
            block = self._guest_block()
            for path in directory.glob("*/hosts"):
                try:
                    text = path.read_text()
                    own = _own_part(own_lines(text))
                    if own + block != text:
                        _rewrite(path, own + block)
                except OSError:  # (an instance being removed)
                    continue
                self._files[str(path)] = own
        self.refresh()

    def write_guest(self, path: Path, own: str) -> None:
        """Make (or remake) one instance's hosts file before it boots."""
        with self._lock:
            own = _own_part(own)
            path.parent.mkdir(parents=True, exist_ok=True)
            _rewrite(path, own + self._guest_block(), create=True)
            self._files[str(path)] = own

    def guest_text(self, own: str) -> tuple[str, int]:
        """A new instance's hosts file as of now, and the generation of names it
        shows (for its launcher to write: see ``written``)."""
        with self._lock:
            return _own_part(own) + self._guest_block(), self.generation

    def written(self, path: Path | str, own: str, generation: int) -> None:
        """A hosts file made from ``guest_text`` at ``generation`` is there: write
        it again if the names changed since (a refresh made before it existed
        could not). (Its directory is there: no mkdir.)"""
        with self._lock:
            own = _own_part(own)
            self._files[str(path)] = own
            if generation != self.generation:
                _rewrite(path, own + self._guest_block(), create=True)

    def refresh(self) -> None:
        """Bring every file kept to the current names (a no-op if they show them)."""
        with self._lock:
            block = self._guest_block()
            if block == self._shown:  # (a name put again as it was writes nothing)
                return
            for path, own in list(self._files.items()):
                try:
                    _rewrite(Path(path), own + block)
                except FileNotFoundError:  # (its instance was removed)
                    del self._files[path]
                except OSError:
                    continue
            self._shown = block

    def add(self, name: str, address: str) -> None:
        self.update({name: address})

    def remove(self, name: str) -> None:
        self.update({}, (name,))

    def update(self, added: dict[str, str], removed: Iterable[str] = ()) -> None:
        with self._lock:
            before = self._current()
            gone = [n for n in removed if n.lower() in before]
            new = {n: a for n, a in added.items() if before.get(n.lower()) != a}
            if not gone and not new:
                return
            after: dict[str, str] | None = None
            try:
                self.inner.update(new, gone)
                after = dict(before)
                for name in gone:
                    after.pop(name.lower(), None)
                after.update((name.lower(), address) for name, address in new.items())
            finally:
                self._changed(after)  # (None, read again, if the update failed)
        self.refresh()

    def names(self) -> dict[str, str]:
        with self._lock:
            return dict(self._current())

    def clear(self) -> None:
        with self._lock:
            cleared: dict[str, str] | None = None
            try:
                self.inner.clear()
                cleared = {}
            finally:
                self._changed(cleared)
        self.refresh()


# -- names published from a control loop ----------------------------------------

FLUSH_DELAY = 0.05
FLUSH_LONGEST = 0.5


class Publisher:
    """Names owned by keys (an instance's private DNS name by its id), changed
    from a control loop and written in batches: changes made within
    ``FLUSH_DELAY`` of each other (for ``FLUSH_LONGEST`` at most: launches
    called one after another) become one ``update`` of the registry, made
    in a worker thread (a rewrite of /etc/hosts with an fsync and of every
    instance's hosts file), never on the event loop. A key put again as it
    was changes nothing."""

    def __init__(self, registry: NameRegistry | None, delay: float = FLUSH_DELAY,
                 longest: float = FLUSH_LONGEST) -> None:
        self.registry = registry
        self.delay = delay
        self.longest = longest
        self._names: dict[str, tuple[str, str]] = {}  # key -> (name, address) published
        self._added: dict[str, str] = {}
        self._removed: set[str] = set()
        self._flushing: asyncio.Task[None] | None = None
        self._changes = 0

    def put(self, key: str, name: str | None, address: str | None) -> None:
        if self.registry is None or not name or not address:
            return
        if self._names.get(key) == (name, address):
            return
        old = self._names.get(key)
        if old is not None and old[0] != name:
            self._queue_remove(old[0])
        self._names[key] = (name, address)
        self._removed.discard(name.lower())
        self._added[name.lower()] = address
        self._schedule()

    def drop(self, key: str) -> None:
        old = self._names.pop(key, None)
        if old is not None:
            self._queue_remove(old[0])
            self._schedule()

    def drop_all(self) -> None:
        for key in list(self._names):
            self.drop(key)

    def _queue_remove(self, name: str) -> None:
        self._added.pop(name.lower(), None)
        self._removed.add(name.lower())

    def _schedule(self) -> None:
        self._changes += 1
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._added or self._removed:
            # The rest of a burst joins this write: it waits until no change
            # came for ``delay``, or ``longest`` at most.
            seen, waited = -1, 0.0
            while seen != self._changes and waited < self.longest:
                seen = self._changes
                await asyncio.sleep(self.delay)
                waited += self.delay
            added, removed = self._added, self._removed
            self._added, self._removed = {}, set()
            assert self.registry is not None
            try:
                await asyncio.to_thread(self.registry.update, added, removed)
            except Exception:
                log.exception("could not publish names")

    async def flushed(self) -> None:
        """Wait until every change made so far is written."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.wait({self._flushing})  # (an error was logged by the flush)
