"""An S3 service on an in-memory store and the MemoryBlobStore fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.config import Settings
from gureum.control.clock import FakeClock
from gureum.drivers.blobs import MemoryBlobStore
from gureum.services.base import Call, Env, Identity
from gureum.services.s3 import S3
from gureum.store import Store
from gureum.store.db import MEMORY


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.blobs = MemoryBlobStore()
        self.clock = FakeClock()
        self.store = Store.open(MEMORY)
        env = Env(settings=Settings(data_dir=tmp), store=self.store, clock=self.clock,
                  loops=None, extras={"s3_blobs": self.blobs})
        self.s3 = S3(env)
        self.s3.grace = 0.0
        self.loop = asyncio.new_event_loop()

    def call(self, operation: str, account: str = "000000000000", **headers: str) -> Call:
        return Call("s3", operation, account, "us-east-1", Identity.root(account), "req",
                    headers=headers)

    def run(self, operation: str, **params: Any) -> Any:
        method = getattr(self.s3, operation)

        async def invoke() -> Any:  # operations run on the event loop, as in the gateway
            result = method(self.call(operation), params)
            return await result if asyncio.iscoroutine(result) else result

        try:
            return self.loop.run_until_complete(invoke())
        finally:
            self.settle()

    def run_with(self, operation: str, headers: dict[str, str] | None = None,
                 account: str = "000000000000", **params: Any) -> Any:
        """``run`` as ``account`` with request ``headers``, the call named as the
        gateway names it (``put_object`` -> ``PutObject``)."""
        name = "".join(p.title() for p in operation.split("_"))
        call = Call("s3", name, account, "us-east-1", Identity.root(account), "req",
                    headers=headers or {})
        method = getattr(self.s3, operation)

        async def invoke() -> Any:
            result = method(call, params)
            return await result if asyncio.iscoroutine(result) else result

        try:
            return self.loop.run_until_complete(invoke())
        finally:
            self.settle()

    def settle(self) -> None:
        """Let scheduled blob collection run."""
        async def drain() -> None:
            for _ in range(5):
                await asyncio.sleep(0)
                tasks = list(self.s3._tasks)
                if tasks:
                    await asyncio.gather(*tasks)
        self.loop.run_until_complete(drain())

    def read(self, body: Any) -> bytes:
        async def collect(stream: AsyncIterator[bytes]) -> bytes:
            return b"".join([chunk async for chunk in stream])
        return self.loop.run_until_complete(collect(body))

    def blob_keys(self) -> set[str]:
        return set(self.blobs._blobs)


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.run("create_bucket", Bucket="bkt")
    yield harness
    harness.loop.close()
    harness.store.close()
