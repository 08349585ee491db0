"""FakeClock: sleepers wake when time is advanced past their deadline, in order."""

from __future__ import annotations

import asyncio

from gureum.control import FakeClock, SystemClock


def test_fake_clock_advance_wakes_sleepers_in_order() -> None:
    async def main() -> None:
        clock = FakeClock(start=1000.0)
        woke: list[tuple[str, float]] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append((name, clock.monotonic()))

        tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("b", 5), ("a", 2), ("c", 9)]]
        await clock.advance(1)
        assert woke == []
        await clock.advance(4)
        assert woke == [("a", 2.0), ("b", 5.0)]
        assert clock.now() == 1005.0 and clock.monotonic() == 5.0
        assert clock.sleepers == 1
        await clock.advance(10)
        assert woke[-1] == ("c", 9.0)
        await asyncio.gather(*tasks)

    asyncio.run(main())


def test_fake_clock_repeated_sleeps_fire_each_step() -> None:
    async def main() -> None:
        clock = FakeClock()
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                await clock.sleep(1)
                ticks.append(clock.monotonic())

        task = asyncio.create_task(ticker())
        await clock.advance(3.5)
        assert ticks == [1.0, 2.0, 3.0]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert clock.sleepers == 0

    asyncio.run(main())


def test_fake_clock_set_moves_wall_time_only() -> None:
    clock = FakeClock(start=50.0)
    clock.set(2_000_000_000.0)
    assert clock.now() == 2_000_000_000.0
    assert clock.monotonic() == 0.0


def test_system_clock() -> None:
    clock = SystemClock()
    assert clock.now() > 1_600_000_000
    a = clock.monotonic()
    asyncio.run(clock.sleep(0))
    assert clock.monotonic() >= a
