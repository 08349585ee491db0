"""``Loop``: runs one reconciler over keys; ``LoopRunner``: starts and stops many loops.

A loop holds a per-key work queue. ``wake(key)`` (sync, cheap, callable from
API handlers) queues a key; a key queued twice runs once; a key woken while
its reconcile runs is run once more afterwards, never concurrently with
itself. ``reconcile(key)`` returns the seconds after which it wants to run
again for that key (``None``: only when woken). An exception is logged and
retried with exponential backoff. An optional ``resync()`` lists every key
that should be looked at, every ``resync_interval`` seconds (and at start),
so nothing is forgotten after a crash or a lost wake-up.

All waiting goes through the injected clock, so tests drive a loop with a
``FakeClock`` and ``await loop.idle()`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator

from gureum.control.clock import Clock, SystemClock

log = logging.getLogger("gureum.control")

Reconcile = Callable[[str], Awaitable[float | None]]
Resync = Callable[[], Awaitable[Iterable[str]]]


class Loop:
    """A reconciler runner for one kind of resource."""

    def __init__(
        self,
        name: str,
        reconcile: Reconcile,
        *,
        clock: Clock,
        resync: Resync | None = None,
        resync_interval: float = 300.0,
        concurrency: int = 4,
        backoff_base: float = 1.0,
        backoff_max: float = 300.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.name = name
        self._reconcile = reconcile
        self._clock = clock
        self._resync = resync
        self.resync_interval = resync_interval
        self.concurrency = concurrency
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._ready: dict[str, None] = {}  # an ordered set: FIFO without duplicates
        self._due: dict[str, float] = {}  # key -> monotonic deadline
        # (deadline, key) for every deadline set, earliest first; an entry whose
        # key's deadline is no longer that one is stale, dropped when met.
        self._heap: list[tuple[float, str]] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        self._failures: dict[str, int] = {}
        self._kick = asyncio.Event()
        self._waiters: list[asyncio.Future[None]] = []
        self._dispatcher: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._next_resync: float | None = None

    # -- operations -------------------------------------------------------

    def wake(self, key: str, *, after: float = 0.0) -> None:
        """Queue ``key`` to be reconciled now (or in ``after`` seconds)."""
        if after > 0:
            self._schedule(key, after)
        elif key in self._running:
            self._dirty.add(key)
        else:
            self._ready[key] = None
        self._kick.set()

    def failures(self, key: str) -> int:
        """Consecutive failed reconciles of ``key`` (0 once one succeeds)."""
        return self._failures.get(key, 0)

    @property
    def started(self) -> bool:
        return self._dispatcher is not None

    def start(self) -> None:
        """Start dispatching (from inside the running event loop)."""
        if self._dispatcher is not None:
            return
        if self._resync is not None:
            self._next_resync = self._clock.monotonic()
        self._dispatcher = asyncio.get_running_loop().create_task(
            self._dispatch(), name=f"loop:{self.name}"
        )

    async def stop(self) -> None:
        """Cancel the dispatcher, the resync and every running reconcile.

        Keys whose reconcile was cancelled are queued again, so a later
        ``start`` picks them up (reconciles are idempotent).
        """
        tasks = [t for t in (self._dispatcher, self._resync_task) if t is not None]
        tasks += self._running.values()
        self._ready.update(dict.fromkeys(self._running))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()
        self._dirty.clear()
        self._dispatcher = self._resync_task = None
        self._next_resync = None
        self._notify()

    def is_idle(self) -> bool:
        """Nothing queued, running, or due now (deadlines in the future are fine)."""
        now = self._clock.monotonic()
        return (
            not self._ready
            and not self._running
            and not self._dirty
            and self._resync_task is None
            and (self._next_resync is None or self._next_resync > now)
            and all(deadline > now for deadline in self._due.values())
        )

    async def idle(self) -> None:
        """Wait until ``is_idle()``; for tests and orderly shutdown."""
        while not self.is_idle():
            if self._dispatcher is None:
                raise RuntimeError(f"loop {self.name} has work but is not started")
            if self._dispatcher.done():
                raise RuntimeError(f"loop {self.name} dispatcher died") from (
                    None if self._dispatcher.cancelled() else self._dispatcher.exception()
                )
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut

    # -- internals --------------------------------------------------------

    def _schedule(self, key: str, delay: float) -> None:
        deadline = self._clock.monotonic() + max(0.0, delay)
        current = self._due.get(key)
        if current is not None and current <= deadline:
            return
        self._due[key] = deadline
        heapq.heappush(self._heap, (deadline, key))
        if len(self._heap) > 2 * len(self._due) + 64:  # (mostly stale: start again)
            self._heap = [(d, k) for k, d in self._due.items()]
            heapq.heapify(self._heap)

    def _pop_due(self, now: float) -> list[str]:
        """The keys whose deadline has come, taken off ``_due``."""
        out = []
        heap, due = self._heap, self._due
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if due.get(key) == deadline:
                del due[key]
                out.append(key)
        return out

    def _earliest(self) -> float | None:
        heap, due = self._heap, self._due
        while heap and due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # (stale)
        return heap[0][0] if heap else None

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def _dispatch(self) -> None:
        while True:
            self._kick.clear()
            now = self._clock.monotonic()
            for key in self._pop_due(now):
                self.wake(key)
            resync_due = self._next_resync is not None and self._next_resync <= now
            if self._resync_task is None and resync_due:
                self._resync_task = asyncio.create_task(self._do_resync())
            while self._ready and len(self._running) < self.concurrency:
                key = next(iter(self._ready))
                del self._ready[key]
                self._due.pop(key, None)  # this run supersedes any pending retry
                self._running[key] = asyncio.create_task(self._run(key))
            self._notify()
            await self._wait(self._next_wakeup(now))

    def _next_wakeup(self, now: float) -> float | None:
        earliest = self._earliest()
        if self._resync_task is None and self._next_resync is not None:
            earliest = (self._next_resync if earliest is None
                        else min(earliest, self._next_resync))
        return earliest - now if earliest is not None else None

    async def _wait(self, timeout: float | None) -> None:
        if timeout is None:
            await self._kick.wait()
            return
        if timeout <= 0 or self._kick.is_set():
            await asyncio.sleep(0)
            return
        if type(self._clock) is SystemClock:
            # A timer that kicks (a spurious kick only makes the dispatcher look at
            # its deadlines again): no two tasks to make and cancel at every wait.
            timer = asyncio.get_running_loop().call_later(timeout, self._kick.set)
            try:
                await self._kick.wait()
            finally:
                timer.cancel()
            return
        kick = asyncio.ensure_future(self._kick.wait())
        sleep = asyncio.ensure_future(self._clock.sleep(timeout))
        try:
            await asyncio.wait({kick, sleep}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            kick.cancel()
            sleep.cancel()
            await asyncio.gather(kick, sleep, return_exceptions=True)

    async def _run(self, key: str) -> None:
        delay: float | None
        try:
            delay = await self._reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            n = self._failures[key] = self._failures.get(key, 0) + 1
            delay = min(self.backoff_max, self.backoff_base * 2 ** (n - 1))
            log.warning(
                "loop %s: reconcile of %r failed (attempt %d), retrying in %.1fs",
                self.name, key, n, delay, exc_info=True,
            )
        else:
            self._failures.pop(key, None)
        del self._running[key]
        if key in self._dirty:
            self._dirty.discard(key)
            self._ready[key] = None
        elif delay is not None:
            self._schedule(key, delay)
        self._kick.set()
        self._notify()

    async def _do_resync(self) -> None:
        assert self._resync is not None
        try:
            for key in await self._resync():
                self.wake(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("loop %s: resync failed", self.name, exc_info=True)
        self._next_resync = self._clock.monotonic() + self.resync_interval
        self._resync_task = None
        self._kick.set()
        self._notify()


class LoopRunner:
    """A registry of loops started and stopped together."""

    def __init__(self) -> None:
        self._loops: dict[str, Loop] = {}
        self._started = False

    def add(self, loop: Loop) -> Loop:
        if loop.name in self._loops:
            raise ValueError(f"a loop named {loop.name!r} is already registered")
        self._loops[loop.name] = loop
        if self._started:
            loop.start()
        return loop

    def __getitem__(self, name: str) -> Loop:
        return self._loops[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loops

    def __iter__(self) -> Iterator[Loop]:
        return iter(list(self._loops.values()))

    def wake(self, name: str, key: str, *, after: float = 0.0) -> None:
        self._loops[name].wake(key, after=after)

    def start(self) -> None:
        self._started = True
        for loop in self._loops.values():
            loop.start()

    async def stop(self) -> None:
        self._started = False
        await asyncio.gather(*(loop.stop() for loop in self._loops.values()))

    def is_idle(self) -> bool:
        return all(loop.is_idle() for loop in self._loops.values())

    async def idle(self) -> None:
        """Wait until every loop is idle at once (loops may wake each other)."""
        while not self.is_idle():
            for loop in list(self._loops.values()):
                await loop.idle()
