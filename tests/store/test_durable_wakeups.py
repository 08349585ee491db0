"""Store.durable under concurrent writers woken from elsewhere (a timer, the
network): a writer that reaches ``durable`` in the loop pass where a sync has
just finished, before that sync's callback ran, must neither spin nor hang."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import uvloop

from gureum.store import Store


async def writers(store: Store, tasks: int = 16, writes: int = 150) -> int:
    store.connection.execute("CREATE TABLE IF NOT EXISTS t (x)")
    done = 0

    async def writer(i: int) -> None:
        nonlocal done
        for j in range(writes):
            if (i + j) % 3 == 0:  # woken by a timer, not by the sync
                await asyncio.sleep(0.0001 * (i % 4))
            with store.tx():
                store.connection.execute("INSERT INTO t VALUES (?)", (j,))
            await store.durable()
            done += 1

    await asyncio.gather(*[writer(i) for i in range(tasks)])
    return done


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_concurrent_writers_all_return(tmp_path: Path, loop: str) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    result: list[int] = []

    def run() -> None:  # a spinning loop never yields to a timeout: watch it from a thread
        runner = uvloop.run if loop == "uvloop" else asyncio.run
        result.append(runner(writers(store)))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    try:
        assert not thread.is_alive(), "Store.durable spins or hangs"
        assert result == [16 * 150]
        assert store.connection.execute("SELECT count(*) FROM t").fetchone()[0] == 16 * 150
    finally:
        if not thread.is_alive():
            store.close()
