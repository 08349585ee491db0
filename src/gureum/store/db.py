"""``Store``: the SQLite database in the data dir, its transactions and repositories.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``. A
transaction is committed once its frames are written to the WAL file, so a
commit survives the gureum process being killed (even ``kill -9``) at any
moment: the OS holds the written pages and SQLite replays the WAL on the next
open. An OS crash or power loss could still lose commits the disk has not yet
received, so whoever acknowledges a write to a client first awaits
``store.durable()``: it fdatasyncs the WAL and returns once every commit
made so far is on disk; concurrent waiters share one sync. The database is
never corrupted either way.

Where the sync runs: in the event loop's own thread while the disk answers
quickly (syncs under ``INLINE_SYNC_MAX``), as Redis's ``appendfsync always``
and SQLite's own commits sync in the thread that wrote, which saves the
hand-off to a thread and back (bench/README.md: 4 KiB PUTs ~4% cheaper in
CPU); once two syncs in a row take longer (a large upload's data ahead of
them in the disk's queue), the next ones run in the store's sync thread,
never blocking the loop, until none has been slow for ``SLOW_SYNC_BACKOFF``
seconds. So the loop is held up at most by the two slow syncs that showed
the disk slow.

One process: the database is opened in exclusive locking mode (another
process opening it while gureum runs waits ``BUSY_TIMEOUT_MS``, then fails).

Threading: one connection, used from the asyncio thread only. A transaction
(``with store.tx():``) must not span an ``await``; the store refuses to let a
second asyncio task enter a transaction another task holds open.

Group commit: ``store.tx(group=True)`` (many small writes, each acknowledged
only after ``durable()``) joins one SQLite transaction shared by every grouped
write made until the next WAL sync starts, each inside a savepoint of its own:
a request that fails undoes only its own writes. The group is committed once,
right before the sync that then covers all of it (or before any ungrouped
transaction, or when no sync is coming), saving a commit's WAL frames per
write. ``durable()`` in a task that joined a group waits for that group's
commit and sync; if the commit fails, every member's ``durable()`` raises
``StoreError`` and the writes are undone: ``rollbacks`` moves and whoever
registered with ``on_undo`` drops what it kept from reads made meanwhile
(reads outside a transaction see a pending group's writes, as they see a
commit not yet synced).

Commit delay (PostgreSQL's ``commit_delay`` idea): the front tells the store
of every request it starts handling (``request_began``, which numbers it) and
of every one that is done writing (``request_ended``, right before it awaits
``durable()``). A sync wanted while other requests are still being handled
waits for those to join it, ``SYNC_HOLD`` seconds at most: their writes then
share its group commit and its one fdatasync instead of needing the next.
Requests that begin while it waits join it too if they write in time, but it
does not wait for them: under a steady stream of requests the hold ends once
the ones it found have ended, not at ``SYNC_HOLD``. A lone client's write is
never held (no other request is in flight).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from gureum.store.errors import StoreError
from gureum.store.keys import AccessKey, AccessKeys
from gureum.store.migrations import Migration, applied_versions, apply_migrations
from gureum.store.repo import Resources

BUSY_TIMEOUT_MS = 5000
# Seconds a wanted WAL sync waits at most for the requests in flight to join it.
# 16 boto3 threads putting 4 KiB objects (bench/README.md, s3_pair.py): most
# of them are always between their headers and their body (the client's
# threads share one GIL), so a sync's hold mostly runs to its end: 5 ms
# gathered ~3.6 PUTs a sync, 20 ms ~8% less CPU a PUT (fewer syncs and
# commits, each costing the same). A fast client's requests end sooner and
# end the hold with them (see ``request_ended``), and a lone client's writes
# are never held.
SYNC_HOLD = 0.020
# Two syncs in a row slower than this send the next ones to the sync thread,
# until none has been for SLOW_SYNC_BACKOFF seconds. (The syncs of 4 KiB PUTs
# under load here: p50 ~0.5 ms, p99 ~3.5-4.6, one in several hundred over
# 10 ms: a lone slow one is the disk's hiccup, two in a row its queue.)
INLINE_SYNC_MAX = 0.010
SLOW_SYNC_BACKOFF = 1.0
MEMORY = Path(":memory:")


class _Group:
    """The transaction grouped writes share until it is committed."""

    __slots__ = ("error", "seq")

    def __init__(self, seq: int) -> None:
        self.seq = seq  # the commit number it gets when committed
        self.error: StoreError | None = None  # set if its commit failed


# The group the current task last wrote in (read and cleared by ``durable``).
_joined: contextvars.ContextVar[_Group | None] = contextvars.ContextVar(
    "gureum_store_group", default=None
)


class Store:
    """The store. Build it with ``Store.open(path)``."""

    def __init__(self, conn: sqlite3.Connection, path: Path, now: Callable[[], float]) -> None:
        self._conn = conn
        self.path = path
        self._memory = path == MEMORY  # (compared once: Path equality is Python code)
        self._now = now
        self._depth = 0
        self._owner: asyncio.Task[object] | None = None
        self._commits = 0  # transactions committed (outermost only)
        self._synced = 0  # ... of which are known to be on disk
        # Callers of ``durable`` not yet answered: (commits they wait for,
        # future, the group they wrote in if it is not committed yet).
        self._waiters: list[tuple[int, asyncio.Future[None], _Group | None]] = []
        self._group: _Group | None = None  # the open group transaction
        self._undo_watchers: list[Callable[[], None]] = []
        self._sync_asked = False  # a sync is scheduled or under way
        self._in_flight = 0  # requests being handled that may still write
        self._hold: asyncio.TimerHandle | None = None  # a sync waiting for them
        self._began = 0  # requests counted so far (the last one's number)
        self._hold_upto = 0  # the hold waits for requests numbered up to this...
        self._hold_waiting = 0  # ... of which this many have not ended yet
        self._syncer = _Syncer(path)
        self._off_loop_until = 0.0  # (monotonic) syncs go to the thread until then
        self._last_sync_slow = False
        self._closed = False
        # Transactions (or savepoints) rolled back so far: a cache kept in step with
        # the writes a service makes is stale once this changes.
        self.rollbacks = 0
        self.resources = Resources(conn, now)
        self.access_keys = AccessKeys(conn, now)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        migrations: Iterable[Migration] | None = None,
        now: Callable[[], float] = time.time,
    ) -> Store:
        """Open (creating if needed) the database at ``path`` and migrate it.

        ``migrations`` defaults to ``gureum.store.migrations.MIGRATIONS``.
        Raises ``StoreError`` when the path cannot hold a gureum database.
        """
        path = Path(path)
        conn: sqlite3.Connection | None = None
        try:
            if path != MEMORY:
                path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=0
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if path != MEMORY:
                # Set before WAL mode is entered: SQLite then keeps the WAL
                # index in this process's memory (no -shm file) and holds its
                # lock until closing, so no transaction takes and drops file
                # locks. A 4 KiB S3 PUT made 6 fcntl calls and a GET ~4.
                conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if path != MEMORY and str(mode).lower() != "wal":
                raise StoreError(f"cannot use the store at {path}: WAL mode unavailable ({mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            apply_migrations(conn, migrations, now)
        except StoreError as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open the store at {path}: {exc.message}") from exc
        except (OSError, sqlite3.Error) as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"cannot open the store at {path}: {exc}") from exc
        return cls(conn, path, now)

    def close(self) -> None:
        self._commit_group()
        self._closed = True
        self._syncer.close()
        self._conn.close()

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for repositories that services add."""
        return self._conn

    def schema_versions(self) -> list[int]:
        return applied_versions(self._conn)

    async def durable(self) -> None:
        """Return once every transaction committed so far is on disk.

        Commits reach the WAL file without an fsync (``synchronous=NORMAL``);
        this syncs it in the store's thread. A caller arriving while a sync is
        under way waits for it and, if its own commit came after that sync
        began, for one more, which then covers every caller waiting by then.
        Each caller waits on a future of its own, all settled by one callback
        when the sync ends (not a shielded shared future: that costs each
        caller one more hop through the loop); a caller cancelled leaves the
        others waiting.
        """
        target = self._commits
        group = _joined.get()
        if group is not None:
            _joined.set(None)
            if group.error is not None:
                raise group.error
            if group is self._group:
                target = group.seq
            else:
                group = None  # committed already
        if self._synced >= target or self._memory:
            return
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiters.append((target, waiter, group))
        if not self._sync_asked:
            self._sync_asked = True
            self._want_sync(loop)
        await waiter

    def request_began(self) -> int:
        """A request is being handled: a sync wanted meanwhile may wait for it.
        Returns its number, for ``request_ended``."""
        self._in_flight += 1
        self._began += 1
        return self._began

    def request_ended(self, number: int = 0) -> None:
        """The request ``request_began`` numbered ``number`` writes no more (it
        is about to await ``durable()``, or failed): a sync held for it starts
        once every request it waits for has ended (or none is in flight).
        Without its number a request counts as one the hold waits for."""
        self._in_flight -= 1
        if self._in_flight < 0:
            self._in_flight = 0
        hold = self._hold
        if hold is None:
            return
        if number <= self._hold_upto:
            self._hold_waiting -= 1
        if self._hold_waiting <= 0 or self._in_flight == 0:
            # At the loop's next pass: the request joins first.
            hold.cancel()
            self._hold = None
            loop = asyncio.get_running_loop()
            loop.call_soon(self._start_sync, loop)

    def _want_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a sync: at the loop's next pass, covering every commit made by
        then (requests whose bodies arrived in the same read commit meanwhile
        and share it), or, while other requests are in flight, once those have
        all ended or ``SYNC_HOLD`` has passed."""
        if self._in_flight > 0:
            self._hold_upto = self._began
            self._hold_waiting = self._in_flight
            self._hold = loop.call_later(SYNC_HOLD, self._held, loop)
        else:
            loop.call_soon(self._start_sync, loop)

    def _held(self, loop: asyncio.AbstractEventLoop) -> None:
        self._hold = None
        self._start_sync(loop)

    def _start_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        self._commit_group()
        upto = self._commits
        if self._closed:
            # Closed meanwhile: closing checkpointed the WAL into the synced
            # database; no sync thread is started again for it.
            self._settle(loop, upto, None)
            return
        now = time.monotonic()
        if now >= self._off_loop_until:
            error, took = self._syncer.sync_here()
            self._note_sync_time(now, took)
            self._settle(loop, upto, error)
            return

        def done(error: OSError | None, took: float) -> None:
            self._note_sync_time(time.monotonic(), took)
            self._settle(loop, upto, error)

        self._syncer.sync(loop, done)

    def _note_sync_time(self, now: float, took: float) -> None:
        slow = took > INLINE_SYNC_MAX
        if slow and (self._last_sync_slow or now < self._off_loop_until):
            self._off_loop_until = now + SLOW_SYNC_BACKOFF
        self._last_sync_slow = slow

    def _settle(self, loop: asyncio.AbstractEventLoop, upto: int, error: OSError | None) -> None:
        """A sync covering the first ``upto`` commits ended (``error``: it failed):
        answer its waiters, and start the next sync for those it did not cover."""
        if error is None:
            self._synced = max(self._synced, upto)
        waiting, self._waiters = self._waiters, []
        for target, waiter, group in waiting:
            if target > upto:
                self._waiters.append((target, waiter, group))
            elif not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)
        if self._waiters:
            self._want_sync(loop)
        else:
            self._sync_asked = False
            # Grouped writes whose writers have not asked for a sync yet: not
            # left uncommitted for as long as nobody does.
            self._commit_group()

    # -- group commit ---------------------------------------------------------

    def on_undo(self, watcher: Callable[[], None]) -> None:
        """Call ``watcher()`` whenever writes that reads outside a transaction
        may have seen are undone (a failed group commit): a cache of such reads
        is stale then, though ``total_changes`` did not move."""
        self._undo_watchers.append(watcher)

    def _group_due(self, group: _Group) -> None:
        """The loop pass after a group opened: commit it now unless a sync is
        asked for or under way (its start commits it)."""
        if group is self._group and not self._sync_asked:
            self._commit_group()

    def _commit_group(self) -> None:
        """Commit the open group, if any; if that fails, fail its writers."""
        group = self._group
        if group is None or self._depth:
            return
        self._group = None
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._fail_group(group, exc)
        else:
            self._commits += 1

    def _fail_group(self, group: _Group, exc: BaseException) -> None:
        """The group's writes are lost (its commit failed, or SQLite rolled the
        whole transaction back): undo them and fail every writer in it."""
        if self._group is group:
            self._group = None
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:  # pragma: no cover - the connection is unusable
                pass
        group.error = StoreError(f"the writes could not be committed: {exc}")
        self._undone()
        for watcher in self._undo_watchers:
            watcher()
        for _, waiter, member in self._waiters:
            if member is group and not waiter.done():
                waiter.set_exception(group.error)
        self._waiters = [w for w in self._waiters if w[2] is not group]

    def _undone(self) -> None:
        self.rollbacks += 1
        self.access_keys.invalidate()
        self.resources.invalidate()

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def tx(self, *, group: bool = False, savepoint: bool = True) -> _Tx:
        """A write transaction: ``BEGIN IMMEDIATE`` … ``COMMIT``, ``ROLLBACK`` on error.

        Nested use joins the outer transaction through a savepoint: an error
        escaping the inner block undoes only the inner block's writes if the
        outer block catches it, and everything otherwise.

        ``group``: the writer awaits ``durable()`` before anyone learns of the
        write; it joins the group transaction (see the module docstring) in a
        savepoint of its own, committed with the others before the next sync.

        ``savepoint=False`` (grouped only): a writer joining an open group opens
        no savepoint, two statements fewer (and no copies of the group's pages
        it changes kept to undo them). If it fails before its first change
        nothing is undone; if it fails after, its writes cannot be told from
        the group's: the whole group is undone and every writer in it fails
        (``durable()`` raises ``StoreError``), as when the group's commit fails.
        For blocks that fail after writing only when SQLite does.
        """
        return _Tx(self, group, savepoint)

    # -- meta -------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- access keys ------------------------------------------------------

    def put_access_key(
        self,
        access_key_id: str,
        secret_access_key: str,
        account_id: str,
        user_name: str | None = None,
        status: str = "Active",
    ) -> AccessKey:
        return self.access_keys.put(
            access_key_id, secret_access_key, account_id, user_name, status
        )

    def get_access_key(self, access_key_id: str) -> AccessKey | None:
        return self.access_keys.get(access_key_id)

    def list_access_keys(self, account_id: str, user_name: str | None = None) -> list[AccessKey]:
        return self.access_keys.list(account_id, user_name)

    def delete_access_key(self, access_key_id: str) -> bool:
        return self.access_keys.delete(access_key_id)


class _Tx:
    """``Store.tx``'s context manager (a class, not a generator: every write,
    each small PUT's among them, enters one)."""

    __slots__ = ("_begin", "_changes", "_commit", "_grouped", "_joined", "_rollback",
                 "_savepoint", "_store")

    def __init__(self, store: Store, group: bool, savepoint: bool = True) -> None:
        self._store = store
        self._grouped = group
        self._savepoint = savepoint
        self._joined: _Group | None = None
        self._changes = -1  # total changes at entry of a joiner without a savepoint

    def __enter__(self) -> sqlite3.Connection:
        store = self._store
        task = _current_task()
        if store._depth and task is not store._owner:
            raise StoreError("a transaction is open in another task (held across an await?)")
        joined: _Group | None = None
        if store._depth:
            name = f"sp{store._depth}"
            begin, commit = f"SAVEPOINT {name}", f"RELEASE {name}"
            rollback = f"ROLLBACK TO {name}; RELEASE {name}"
        elif (self._grouped and task is not None and not store._memory
              and not store._closed):
            joined = store._group
            if joined is None:
                # The first writer opens the group; a failure of its own then
                # rolls back the whole transaction (no savepoint needed).
                joined = store._group = _Group(store._commits + 1)
                task.get_loop().call_soon(store._group_due, joined)
                begin, commit, rollback = "BEGIN IMMEDIATE", "", "ROLLBACK"
            elif self._savepoint:
                begin, commit, rollback = "SAVEPOINT g", "RELEASE g", "ROLLBACK TO g; RELEASE g"
            else:
                begin = commit = rollback = ""
                self._changes = store._conn.total_changes
        else:
            store._commit_group()
            begin, commit, rollback = "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"
        try:
            if begin:
                store._conn.execute(begin)
        except BaseException:
            if joined is not None and begin == "BEGIN IMMEDIATE":
                store._group = None
            raise
        store._depth += 1
        store._owner = task
        self._joined, self._begin, self._commit, self._rollback = joined, begin, commit, rollback
        return store._conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        store = self._store
        joined = self._joined
        try:
            if exc is not None:
                store._depth -= 1
                if joined is not None and not store._conn.in_transaction:
                    # SQLite rolled back the whole group (a full disk, say).
                    store._fail_group(joined, exc)
                    return
                if self._changes >= 0 and joined is not None:
                    # A joiner without a savepoint: undone only with its group.
                    if store._conn.total_changes != self._changes:
                        store._fail_group(joined, exc)
                    return
                if store._conn.in_transaction:  # SQLite may have rolled back already
                    for statement in self._rollback.split("; "):
                        store._conn.execute(statement)
                if joined is not None and self._rollback == "ROLLBACK":
                    store._group = None  # it held only this writer's writes
                store._undone()
                return
            store._depth -= 1
            try:
                if self._commit:
                    store._conn.execute(self._commit)
            except sqlite3.Error as error:
                if joined is not None:
                    store._fail_group(joined, error)
                    raise
                if store._depth == 0 and store._conn.in_transaction:
                    store._conn.execute("ROLLBACK")
                store._undone()
                raise
            if joined is not None:
                _joined.set(joined)
            elif store._depth == 0:
                store._commits += 1
        finally:
            if store._depth == 0:
                store._owner = None


def _current_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


class _Syncer:
    """The WAL's syncs for ``Store.durable``: in the caller's thread
    (``sync_here``), or in a thread of its own woken through a queue (``sync``:
    a request costs about half the CPU of a hop through the loop's executor,
    ``asyncio.to_thread``'s context copy, work item and chained futures). One
    sync at a time (the store starts the next once the last has ended); the
    WAL's descriptor is kept from one to the next, whichever thread ran it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._requests: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, Callable[[OSError | None, float], None]] | None
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None  # the WAL, kept open from one sync to the next

    def sync_here(self) -> tuple[OSError | None, float]:
        """Sync the WAL now, in this thread: (the error, if it failed; seconds taken)."""
        began = time.monotonic()
        try:
            self._fd = _sync_wal(self.path, self._fd)
        except OSError as exc:  # (the descriptor is closed)
            self._fd = None
            return exc, time.monotonic() - began
        return None, time.monotonic() - began

    def sync(self, loop: asyncio.AbstractEventLoop,
             done: Callable[[OSError | None, float], None]) -> None:
        """Sync the WAL, as written now, in the sync thread, then call
        ``done(error, seconds taken)`` in ``loop``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="store-sync", daemon=True)
            self._thread.start()
        self._requests.put((loop, done))

    def close(self) -> None:
        if self._thread is not None:
            self._requests.put(None)  # the thread closes the descriptor
            self._thread = None
        else:
            fd, self._fd = self._fd, None
            _close(fd)

    def _run(self) -> None:
        try:
            while (request := self._requests.get()) is not None:
                loop, done = request
                error, took = self.sync_here()
                try:
                    loop.call_soon_threadsafe(done, error, took)
                except RuntimeError:  # that loop is closed: nobody waits
                    pass
        finally:
            fd, self._fd = self._fd, None
            _close(fd)


def _sync_wal(path: Path, fd: int | None) -> int | None:
    """Sync the database's WAL file (or the database itself where no WAL file
    is); return the WAL's descriptor, kept open for the next sync.

    ``fdatasync``, as SQLite syncs its WAL itself: the file's data and what
    reading it back needs (its size), not its times. Opening and closing the
    file around each sync cost more CPU than the sync (~100 us against ~70);
    a kept descriptor whose file was removed (SQLite removes the WAL when its
    last connection closes) is dropped and the file opened again. On an
    error ``fd`` is closed."""
    if fd is not None:
        try:
            if os.fstat(fd).st_nlink > 0:
                os.fdatasync(fd)
                return fd
        except OSError:
            os.close(fd)
            raise
        os.close(fd)
    try:
        wal = os.open(f"{path}-wal", os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        pass
    else:
        try:
            os.fdatasync(wal)
        except OSError:
            os.close(wal)
            raise
        return wal
    try:
        db = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        os.fdatasync(db)
    finally:
        os.close(db)
    return None


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)
