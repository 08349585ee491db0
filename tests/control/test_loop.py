"""Loop and LoopRunner, driven by a FakeClock: no real sleeping."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

import pytest

from gureum.control import FakeClock, Loop, LoopRunner, SystemClock


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=10))


class Recorder:
    """A reconcile that records calls; behaviour per call is scripted."""

    def __init__(self, result: float | None = None) -> None:
        self.calls: list[str] = []
        self.result = result
        self.active: Counter[str] = Counter()
        self.max_active: Counter[str] = Counter()
        self.total_active = 0
        self.max_total = 0
        self.gate: asyncio.Event | None = None
        self.fail_times = 0

    async def __call__(self, key: str) -> float | None:
        self.calls.append(key)
        self.active[key] += 1
        self.total_active += 1
        self.max_active[key] = max(self.max_active[key], self.active[key])
        self.max_total = max(self.max_total, self.total_active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail_times > 0:
                self.fail_times -= 1
                raise RuntimeError(f"boom {key}")
            return self.result
        finally:
            self.active[key] -= 1
            self.total_active -= 1


def test_wake_dedups_queued_keys() -> None:
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder()
        loop = Loop("t", rec, clock=clock)
        for _ in range(3):
            loop.wake("a")
        loop.wake("b")
        loop.start()
        await loop.idle()
        assert sorted(rec.calls) == ["a", "b"]
        await loop.stop()

    run(main)


def test_key_woken_while_running_runs_once_more_never_concurrently() -> None:
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder()
        rec.gate = asyncio.Event()
        loop = Loop("t", rec, clock=clock, concurrency=4)
        loop.start()
        loop.wake("a")
        while rec.active["a"] == 0:
            await asyncio.sleep(0)
        for _ in range(5):
            loop.wake("a")
            await asyncio.sleep(0)
        assert rec.calls == ["a"]
        rec.gate.set()
        await loop.idle()
        assert rec.calls == ["a", "a"]
        assert rec.max_active["a"] == 1
        await loop.stop()

    run(main)


def test_concurrency_is_limited() -> None:
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder()
        rec.gate = asyncio.Event()
        loop = Loop("t", rec, clock=clock, concurrency=2)
        loop.start()
        for i in range(6):
            loop.wake(f"k{i}")
        for _ in range(50):
            await asyncio.sleep(0)
        assert rec.total_active == 2
        rec.gate.set()
        await loop.idle()
        assert sorted(rec.calls) == [f"k{i}" for i in range(6)]
        assert rec.max_total == 2
        await loop.stop()

    run(main)


def test_retry_with_exponential_backoff() -> None:
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder()
        rec.fail_times = 3
        loop = Loop("t", rec, clock=clock, backoff_base=1.0, backoff_max=3.0)
        loop.start()
        loop.wake("a")
        await loop.idle()
        assert rec.calls == ["a"] and loop.failures("a") == 1
        await clock.advance(0.9)
        await loop.idle()
        assert len(rec.calls) == 1
        await clock.advance(0.1)  # 1s after the first failure
        await loop.idle()
        assert len(rec.calls) == 2 and loop.failures("a") == 2
        await clock.advance(1.9)
        await loop.idle()
        assert len(rec.calls) == 2
        await clock.advance(0.1)  # 2s after the second
        await loop.idle()
        assert len(rec.calls) == 3 and loop.failures("a") == 3
        await clock.advance(2.9)  # 4s would be next, capped at 3s
        await loop.idle()
        assert len(rec.calls) == 3
        await clock.advance(0.1)
        await loop.idle()
        assert len(rec.calls) == 4 and loop.failures("a") == 0
        await clock.advance(100)
        await loop.idle()
        assert len(rec.calls) == 4  # success returned None: no more runs
        await loop.stop()

    run(main)


def test_wake_during_backoff_runs_now() -> None:
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder()
        rec.fail_times = 1
        loop = Loop("t", rec, clock=clock, backoff_base=60.0)
        loop.start()
        loop.wake("a")
        await loop.idle()
        loop.wake("a")
        await loop.idle()
        assert rec.calls == ["a", "a"]
        await clock.advance(120)
        await loop.idle()
        assert rec.calls == ["a", "a"]  # the pending retry was superseded
        await loop.stop()

    run(main)


def test_requeue_after_returned_delay() -> None:
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder(result=10.0)
        loop = Loop("t", rec, clock=clock)
        loop.start()
        loop.wake("a")
        await loop.idle()
        assert rec.calls == ["a"]
        await clock.advance(9.5)
        await loop.idle()
        assert rec.calls == ["a"]
        await clock.advance(0.5)
        await loop.idle()
        assert rec.calls == ["a", "a"]
        await clock.advance(30)
        await loop.idle()
        assert rec.calls == ["a"] * 5
        await loop.stop()

    run(main)


def test_wake_after_delay() -> None:
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder()
        loop = Loop("t", rec, clock=clock)
        loop.start()
        loop.wake("a", after=5)
        await loop.idle()
        assert rec.calls == []
        await clock.advance(5)
        await loop.idle()
        assert rec.calls == ["a"]
        await loop.stop()

    run(main)


def test_periodic_resync() -> None:
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder()
        keys = ["a", "b"]
        resyncs = 0

        async def resync() -> Iterable[str]:
            nonlocal resyncs
            resyncs += 1
            if resyncs == 2:
                raise RuntimeError("listing failed")
            return list(keys)

        loop = Loop("t", rec, clock=clock, resync=resync, resync_interval=60)
        loop.start()
        await loop.idle()
        assert sorted(rec.calls) == ["a", "b"] and resyncs == 1
        await clock.advance(59)
        await loop.idle()
        assert resyncs == 1
        await clock.advance(1)
        await loop.idle()
        assert resyncs == 2 and len(rec.calls) == 2  # a failed resync is logged, not fatal
        keys.append("c")
        await clock.advance(60)
        await loop.idle()
        assert resyncs == 3
        assert sorted(rec.calls) == ["a", "a", "b", "b", "c"]
        await loop.stop()

    run(main)


def test_stop_cancels_running_reconciles() -> None:
    async def main() -> None:
        clock = FakeClock()
        cancelled: list[str] = []
        started = asyncio.Event()

        async def forever(key: str) -> float | None:
            started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(key)
                raise
            return None

        loop = Loop("t", forever, clock=clock, resync=_no_keys, resync_interval=5)
        loop.start()
        loop.wake("a")
        await started.wait()
        await loop.stop()
        assert cancelled == ["a"]
        assert not loop.started
        assert clock.sleepers == 0
        with pytest.raises(RuntimeError, match="not started"):
            await loop.idle()  # "a" was queued again for the next start

    run(main)


async def _no_keys() -> Iterable[str]:
    return []


def test_runner_starts_stops_and_waits_for_all_loops() -> None:
    async def main() -> None:
        clock = FakeClock()
        runner = LoopRunner()
        second = Recorder()

        async def first(key: str) -> float | None:
            runner.wake("second", key + "!")
            return None

        runner.add(Loop("first", first, clock=clock))
        runner.add(Loop("second", second, clock=clock))
        with pytest.raises(ValueError):
            runner.add(Loop("first", first, clock=clock))
        assert "first" in runner and [lp.name for lp in runner] == ["first", "second"]
        runner.start()
        runner.wake("first", "x")
        await runner.idle()
        assert second.calls == ["x!"]
        late = runner.add(Loop("late", second, clock=clock))
        assert late.started
        await runner.stop()
        assert not any(lp.started for lp in runner)

    run(main)


def test_system_clock_deadlines_and_kicks_while_waiting() -> None:
    """On the real clock the dispatcher waits on a timer: a key due later runs
    when due (not before), and a wake while it waits runs at once."""
    async def main() -> None:
        clock = SystemClock()
        rec = Recorder()
        loop = Loop("t", rec, clock=clock)
        loop.start()
        start = clock.monotonic()
        loop.wake("later", after=0.3)
        await asyncio.sleep(0.05)
        loop.wake("now")  # while the dispatcher waits for "later"
        await asyncio.sleep(0.05)
        assert rec.calls == ["now"]
        while "later" not in rec.calls:
            await asyncio.sleep(0.01)
        assert clock.monotonic() - start >= 0.3
        await loop.stop()

    run(main)


def test_deadlines_fire_in_order_and_a_superseded_one_never_fires() -> None:
    """Deadlines come due earliest first; a key given an earlier deadline runs
    then, not again at the later one; a key woken before its deadline does not
    run again when that deadline passes."""
    async def main() -> None:
        clock = FakeClock()
        rec = Recorder()
        loop = Loop("t", rec, clock=clock)
        loop.start()
        for i, delay in enumerate([5.0, 3.0, 9.0, 1.0, 7.0]):
            loop.wake(f"k{i}", after=delay)
        loop.wake("k2", after=2.0)  # (earlier than its 9 s)
        loop.wake("k0", after=8.0)  # (later than its 5 s: the 5 s stands)
        await loop.idle()
        assert rec.calls == []
        for _ in range(10):
            await clock.advance(1.0)
            await loop.idle()
        assert rec.calls == ["k3", "k2", "k1", "k0", "k4"]
        loop.wake("late", after=5.0)
        loop.wake("late")  # (now: the 5 s deadline goes with this run)
        await loop.idle()
        await clock.advance(6.0)
        await loop.idle()
        assert rec.calls.count("late") == 1
        await loop.stop()

    run(main)
