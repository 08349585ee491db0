"""An in-process CloudWatch on a temporary store, driven by a fake clock.

    def test_x(tmp_path):
        async def scenario(h: Harness) -> None: ...
        run(tmp_path, scenario)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gureum.config import Settings
from gureum.control import FakeClock, LoopRunner
from gureum.services.base import Call, Env, Identity
from gureum.services.cloudwatch import CloudWatch
from gureum.store import Store

ACCOUNT = "000000000000"
REGION = "us-east-1"
START = 1_700_000_040.0  # a whole minute


@dataclass
class Harness:
    cw: CloudWatch
    env: Env
    clock: FakeClock
    loops: LoopRunner

    def call(self, operation: str = "") -> Call:
        return Call("cloudwatch", operation, ACCOUNT, REGION, Identity.root(ACCOUNT), "req")

    def op(self, name: str, **params: Any) -> dict[str, Any]:
        out: dict[str, Any] = getattr(self.cw, name)(self.call(name), params)
        return out

    async def advance(self, seconds: float) -> None:
        """Move time on and let every loop finish what came due."""
        await self.clock.advance(seconds)
        await self.loops.idle()


def run(tmp_path: Path, scenario: Callable[[Harness], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = FakeClock(start=START)
        store = Store.open(tmp_path / "gureum.db", now=clock.now)
        loops = LoopRunner()
        env = Env(settings=Settings.load(env={}, data_dir=tmp_path), store=store, clock=clock,
                  loops=loops)
        cw = CloudWatch(env)
        await cw.start()
        loops.start()
        try:
            await scenario(Harness(cw, env, clock, loops))
        finally:
            await loops.stop()
            store.close()

    asyncio.run(asyncio.wait_for(main(), timeout=30))
