"""Receiving a large body straight into a file (``receive_file``), for a
``Receiver`` that hands its bytes to a thread.

One thread receives into a ring of reused buffers (``SLOT`` bytes each) and
writes each full buffer to the file, asking the kernel to start writing it to
disk at once; MD5 (the slowest, serial stage) runs in a second thread from the
first buffer to the last, and the other checksums with the sender's declared
hash (``Receiver.observe``) in a third. A buffer is reused once every stage is
done with it: memory stays at the ring's size whatever the body's, and no
bytes object is made per received piece. The last buffer is whatever is left,
so the answer waits only for the hashes of at most one buffer, and for the
disk writes not yet done.
"""

from __future__ import annotations

import mmap
import os
import queue
import threading
from collections.abc import Callable

from .base import Digests, Receiver

SLOT = 1024 * 1024
SLOTS = 16
# Bytes per write(2): a whole 1 MiB buffer written at a 1 MiB-aligned offset
# cost ~10x the kernel CPU of the same bytes in 256 KiB writes (perf, 256 MiB
# PUTs: copy_folio_from_iter_atomic 2,756 samples -> 222; the page cache then
# works in 1 MiB folios).
WRITE_PIECE = 256 * 1024
# MD5's thread runs at this nice (where gureum may raise a thread's priority):
# it is the serial stage every large PUT waits for, and at the default it took
# turns on the cores with the client's sending, the receiving and SHA-256, and
# ended 15-30 ms after the last byte. 64 MiB PUTs, bench/s3.py, 7 alternating
# rounds at load 2-4: 1.66x -> 1.86x moto (each round 2-25% faster); -20 gave
# the same as -10.
MD5_NICE = -10
_KEPT_RINGS = 2  # rings kept for the next bodies (their pages stay mapped)

_rings: list[mmap.mmap] = []
_rings_lock = threading.Lock()


def _take_ring() -> mmap.mmap:
    # Anonymous pages, page-aligned: the kernel's copies into and out of a
    # buffer whose start is not (a bytearray's is 16 bytes past a page) cost more.
    with _rings_lock:
        if _rings:
            return _rings.pop()
    return mmap.mmap(-1, SLOT * SLOTS)


def _give_ring(ring: mmap.mmap) -> None:
    with _rings_lock:
        if len(_rings) < _KEPT_RINGS:
            _rings.append(ring)


class _Stage:
    """One thread applying ``fn`` to each buffer it is handed, in order."""

    def __init__(self, fn: Callable[[memoryview], None], release: Callable[[int], None],
                 views: list[memoryview], name: str, nice: int = 0) -> None:
        self._fn = fn
        self._nice = nice
        self._release = release
        self._views = views
        self._queue: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, slot: int, size: int) -> None:
        self._queue.put((slot, size))

    def end(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        if self._nice:
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
            except OSError:  # not allowed (no CAP_SYS_NICE): it runs as the others
                pass
        while True:
            item = self._queue.get()
            if item is None:
                return
            slot, size = item
            if self.error is None:
                try:
                    self._fn(self._views[slot][:size])
                except BaseException as exc:  # raised by receive_file
                    self.error = exc
            self._release(slot)


def receive_file(f: int, receiver: Receiver, digests: Digests,
                 start_writeback: Callable[[int, int, int], None] | None) -> None:
    """Receive ``receiver.length`` bytes into the file ``f`` (at its start),
    feeding ``digests`` and ``receiver.observe``; blocking. Raises what the
    receiving, writing or a stage raised (the caller discards the file)."""
    ring = _take_ring()
    whole = memoryview(ring)
    views = [whole[i * SLOT:(i + 1) * SLOT] for i in range(SLOTS)]
    free: queue.SimpleQueue[int] = queue.SimpleQueue()
    for slot in range(SLOTS):
        free.put(slot)
    users = [0] * SLOTS
    lock = threading.Lock()

    def release(slot: int) -> None:
        with lock:
            users[slot] -= 1
            last = users[slot] == 0
        if last:
            free.put(slot)

    stages = [_Stage(digests.update_md5, release, views, "blob-md5", MD5_NICE)]
    if digests.has_checksums or receiver.observes:
        def check(view: memoryview) -> None:
            digests.update_checksums(view)
            receiver.observe(view)

        stages.append(_Stage(check, release, views, "blob-checksums"))
    try:
        offset = 0
        left = receiver.length
        while left > 0:
            slot = free.get()
            for stage in stages:
                if stage.error is not None:
                    raise stage.error
            view = views[slot]
            want = min(SLOT, left)
            got = 0
            while got < want:
                n = receiver.receive_into(view[got:want])
                if n <= 0:
                    raise ConnectionResetError("the body ended early")
                got += n
            # The hashes start on it at once; the file write goes on beside them.
            with lock:
                users[slot] = len(stages) + 1
            for stage in stages:
                stage.put(slot, got)
            for start in range(0, got, WRITE_PIECE):
                _write_all(f, view[start:min(got, start + WRITE_PIECE)])
            release(slot)
            if start_writeback is not None:
                start_writeback(f, offset, got)
            offset += got
            left -= got
    finally:
        for stage in stages:
            stage.end()
        del views, whole
        _give_ring(ring)
    for stage in stages:
        if stage.error is not None:
            raise stage.error


def _write_all(f: int, view: memoryview) -> None:
    while view:
        view = view[os.write(f, view):]
