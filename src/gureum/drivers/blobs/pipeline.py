"""``BatchWorker``: one thread that applies a function to batches of bytes in
the order they are handed to it, while the event loop goes on receiving.

A large upload is received by the event loop and hashed, written and checked
by threads (hashlib and file writes let go of the GIL). Each stage has its
own long-lived worker with a queue, so a stage starts on the first batch and
never waits for a slower one: MD5, the slowest (and serial) stage, runs from
the first bytes to the last without pause, and the answer waits only for the
batches still queued when the last byte arrives. The loop is held back only
when a worker has more than ``limit`` bytes queued, which bounds memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

Batch = list[bytes]

IN_FLIGHT = 16 * 1024 * 1024  # bytes a worker may have queued before the loop waits


class BatchWorker:
    """Applies ``fn`` to each batch ``put``, in order, in one thread of its own.

    ``finish()`` waits for the queued batches and raises the first error of
    ``fn`` (once ``fn`` has failed, later batches are dropped). ``stop()``
    drops what is queued; ``done`` resolves when the thread has ended, which
    is when the resources ``fn`` uses may be released.
    """

    def __init__(self, fn: Callable[[Batch], None], limit: int = IN_FLIGHT,
                 name: str = "blob-worker") -> None:
        self._fn = fn
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._queue: queue.SimpleQueue[tuple[Batch, int] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0
        self._room: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._stopped = False
        self.done: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, batch: Batch, size: int) -> None:
        with self._lock:
            self._queued += size
        self._queue.put((batch, size))

    async def room(self) -> None:
        """Wait while more than ``limit`` bytes are queued (or raise ``fn``'s error)."""
        while True:
            with self._lock:
                if self._error is not None or self._queued <= self._limit:
                    break
                waiter = self._room = self._loop.create_future()
            await waiter
        if self._error is not None:
            raise self._error

    async def finish(self) -> None:
        self._queue.put(None)
        await asyncio.wrap_future(self.done)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Drop the queued batches and end the thread after the current one."""
        self._stopped = True
        self._queue.put(None)

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    break
                batch, size = item
                if not self._stopped and self._error is None:
                    try:
                        self._fn(batch)
                    except BaseException as exc:  # handed to the loop by room()/finish()
                        self._error = exc
                del batch, item
                with self._lock:
                    self._queued -= size
                    waiter = self._room if self._queued <= self._limit or self._error else None
                    if waiter is not None:
                        self._room = None
                if waiter is not None:
                    with contextlib.suppress(RuntimeError):  # the loop has closed
                        self._loop.call_soon_threadsafe(_wake, waiter)
        finally:
            self.done.set_result(None)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
