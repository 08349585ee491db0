"""Time, injected: the ``Clock`` protocol, the system clock and a fake for tests.

Control loops take a clock instead of calling ``time`` and ``asyncio.sleep``,
so tests move time forward with ``FakeClock.advance`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time, epoch seconds."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; use it for deadlines."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to.

    ``sleep`` parks the caller until ``advance`` moves time past its deadline.
    ``advance`` steps through the deadlines in order, and after each wake-up
    yields to the event loop a few times so woken tasks run before time moves
    on. To wait for work that those tasks start, use ``Loop.idle``.
    """

    YIELDS = 20

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._wall = start
        self._mono = 0.0
        self._seq = itertools.count()
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._wall + self._mono

    def monotonic(self) -> float:
        return self._mono

    def set(self, t: float) -> None:
        """Step the wall clock to ``t`` (like an NTP jump); monotonic time and sleepers stay."""
        self._wall = t - self._mono

    @property
    def sleepers(self) -> int:
        """How many sleeps are pending."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    def next_deadline(self) -> float | None:
        """Monotonic time of the earliest pending sleep, if any."""
        self._drop_done()
        return self._sleepers[0][0] if self._sleepers else None

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers deadline by deadline."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._mono + seconds
        await self._yield()
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > target:
                break
            self._mono = max(self._mono, deadline)
            while self._sleepers and self._sleepers[0][0] <= self._mono:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await self._yield()
        self._mono = target
        await self._yield()

    def _drop_done(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)

    async def _yield(self) -> None:
        for _ in range(self.YIELDS):
            await asyncio.sleep(0)
