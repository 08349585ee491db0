"""``FileBlobStore``: blobs as files under a root directory, written durably.

Layout: ``<root>/_<aa>/<key>`` where ``aa`` are the first hex digits of
md5(key): 256 directories, made once, so a write seldom pays for a new
directory and its syncs (blobs of the earlier two-level layout,
``<root>/<aa>/<bb>/<key>``, are still found there). A write
streams into ``.tmp-<key>-<random>`` in the final directory, hashing as it
goes, then fsyncs the file, renames it over the final name and fsyncs the
directory: after ``write`` returns the blob survives a crash, and before that
nobody can see it. Temp files left by a crash are removed by ``sweep_temp``.
A large blob's MD5 is computed in one worker thread, its other checksums (if
asked for) in a second, and it is written in a third, each fed
batches of about ``FLUSH_BYTES`` through a queue while the next ones arrive
(``pipeline.BatchWorker``); the kernel is asked to start writing each batch to
disk at once, so the final fdatasync has little left. A stream that offers a
``Receiver`` (a large request body of known length) is instead received by a
thread of the write's own straight into reused buffers (``receive.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import hashlib
import os
import secrets
import stat
import threading
from collections.abc import AsyncIterable, Callable, Collection
from concurrent.futures import Future
from functools import partial
from io import BufferedReader
from pathlib import Path

from gureum.drivers.blobs.base import (
    BlobInfo,
    BlobNotFound,
    BlobStream,
    Digests,
    Receiver,
    check_key,
    check_range,
)
from gureum.drivers.blobs.pipeline import BatchWorker
from gureum.drivers.blobs.receive import receive_file

FLUSH_BYTES = 1024 * 1024
_IOV_MAX = 512  # buffers per writev (Linux allows 1024)
TEMP_PREFIX = ".tmp-"


class FileBlobStore:
    """Blobs as files under ``root`` (created if missing)."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self._root_text = str(self.root)
        self._fsync = fsync
        self._dirs: set[Path] = set()  # fan-out directories known to exist
        self.root.mkdir(parents=True, exist_ok=True)

    def _file(self, key: str) -> Path:
        fan = hashlib.md5(check_key(key).encode(), usedforsecurity=False).hexdigest()
        return self.root / f"_{fan[:2]}" / key

    def _legacy(self, key: str) -> Path:
        """Where blobs written before the one-level layout live."""
        fan = hashlib.md5(check_key(key).encode(), usedforsecurity=False).hexdigest()
        return self.root / fan[:2] / fan[2:4] / key

    def _existing(self, key: str) -> Path | None:
        # Every GET asks: one md5 and one stat when the blob has the current layout.
        fan = hashlib.md5(check_key(key).encode(), usedforsecurity=False).hexdigest()
        name = os.path.join(self._root_text, f"_{fan[:2]}", key)
        try:
            if stat.S_ISREG(os.stat(name).st_mode):
                return Path(name)
        except (FileNotFoundError, NotADirectoryError):
            pass
        legacy = self._legacy(key)
        return legacy if legacy.is_file() else None

    async def write(
        self, key: str, chunks: AsyncIterable[bytes], *, checksums: Collection[str] = ()
    ) -> BlobInfo:
        final = self._file(key)
        digests = Digests(checksums)
        tmp = final.with_name(f"{TEMP_PREFIX}{key}-{secrets.token_hex(6)}")
        take = getattr(chunks, "receiver", None)
        receiver: Receiver | None = take() if take is not None else None
        if receiver is not None:
            try:
                await self._write_received(receiver, tmp, final, digests)
            finally:
                receiver.close()
            return digests.info(key)
        batch: list[bytes] = []
        batched = 0
        f: int | None = None  # the temp file's descriptor, once opened
        # A large blob's MD5, its other checksums and its writing each have a
        # worker thread (all let go of the GIL), fed batch after batch while the
        # next arrives: MD5 (the slowest stage) runs from the first batch to the
        # last without waiting for the others.
        workers: list[BatchWorker] = []
        try:
            async for chunk in chunks:
                batch.append(chunk)
                batched += len(chunk)
                if batched >= FLUSH_BYTES:
                    if not workers:
                        f = await asyncio.to_thread(self._open, tmp)
                        workers = [BatchWorker(partial(_md5_batch, digests), name="blob-md5"),
                                   BatchWorker(partial(self._write_and_flush, f),
                                               name="blob-write")]
                        if digests.has_checksums:  # beside MD5, not after it
                            workers.append(BatchWorker(partial(_checksum_batch, digests),
                                                       name="blob-checksums"))
                    for worker in workers:
                        worker.put(batch, batched)
                    batch, batched = [], 0
                    for worker in workers:
                        await worker.room()
            for worker in workers:
                await worker.finish()
            # A small blob costs one hand-off to a thread: open, write, sync, rename.
            # The descriptor goes with it: _finish closes it, whatever happens.
            owned, f = f, None
            await asyncio.to_thread(self._finish, owned, tmp, final, digests, batch)
        except BaseException as exc:
            for worker in workers:
                worker.stop()
            running = [w.done for w in workers if not w.done.done()]
            if running and isinstance(exc, Exception):
                # They end after their current batch: wait, then clean up here.
                with contextlib.suppress(BaseException):
                    await asyncio.wait([asyncio.wrap_future(d) for d in running])
                running = [d for d in running if not d.done()]
            if running:
                # Workers still hold the file: clean up once they let go.
                left = [len(running)]
                lock = threading.Lock()

                def release(_: object) -> None:
                    with lock:
                        left[0] -= 1
                        last = left[0] == 0
                    if last:
                        _discard(f, tmp)

                for done in running:
                    done.add_done_callback(release)
            else:
                _discard(f, tmp)
            raise
        return digests.info(key)

    async def _write_received(
        self, receiver: Receiver, tmp: Path, final: Path, digests: Digests
    ) -> None:
        """A body its ``receiver`` hands to a thread: received, hashed and
        written by threads of this write's own (not the shared pool's: they
        may wait on a slow client for long), then committed as ``_finish`` does."""
        done: Future[None] = Future()

        def run() -> None:
            try:
                self._receive(receiver, tmp, final, digests)
            except BaseException as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)

        threading.Thread(target=run, name="blob-receive", daemon=True).start()
        finished = asyncio.wrap_future(done)
        try:
            await asyncio.shield(finished)
        except asyncio.CancelledError:
            receiver.cancel()  # the thread gives up and removes its file
            with contextlib.suppress(BaseException):
                await finished
            raise

    def _receive(self, receiver: Receiver, tmp: Path, final: Path, digests: Digests) -> None:
        f: int | None = self._open(tmp)
        assert f is not None
        try:
            receive_file(f, receiver, digests, _start_writeback_range if self._fsync else None)
            receiver.verify()
            if self._fsync:
                os.fdatasync(f)
            os.close(f)
            f = None
            os.replace(tmp, final)
        except BaseException:
            _discard(f, tmp)
            raise
        self._fsync_dir(final.parent)

    def _write_and_flush(self, f: int, batch: list[bytes]) -> None:
        _write_chunks(f, batch)
        if self._fsync:
            # Start the disk writing now, so the final fdatasync has little left.
            start_writeback(f)

    def _open(self, tmp: Path) -> int:
        self._ensure_dir(tmp.parent)
        # A bare descriptor: Python's file objects cost three more syscalls per blob.
        return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)

    def _finish(
        self,
        f: int | None,
        tmp: Path,
        final: Path,
        digests: Digests,
        batch: list[bytes],
    ) -> None:
        """Write the last batch and commit; owns ``f`` (closed whatever happens)."""
        if f is None:
            f = self._open(tmp)
        try:
            _write_batch(f, digests, batch)
            if self._fsync:
                os.fdatasync(f)
        finally:
            os.close(f)
        os.replace(tmp, final)
        self._fsync_dir(final.parent)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> BlobStream:
        try:
            f: BufferedReader = await asyncio.to_thread(self._open_existing, key)
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        try:
            start, stop = check_range(os.fstat(f.fileno()).st_size, start, end)
            f.seek(start)
        except BaseException:
            f.close()
            raise

        async def read(n: int) -> bytes:
            return await asyncio.to_thread(f.read, n)

        return BlobStream(read, stop - start, f.close)

    def _open_existing(self, key: str) -> BufferedReader:
        try:
            return open(self._file(key), "rb")
        except FileNotFoundError:
            return open(self._legacy(key), "rb")

    def path(self, key: str) -> Path | None:
        return self._existing(key)

    async def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)
        self._legacy(key).unlink(missing_ok=True)

    async def exists(self, key: str) -> bool:
        return self._existing(key) is not None

    async def link(self, key: str, new: str) -> None:
        """Give the bytes of blob ``key`` a second name ``new`` without copying
        them: a hard link. A blob never changes once written and deleting one
        name leaves the other whole, so the two stay independent blobs."""

        def run() -> None:
            source = self._existing(key)
            if source is None:
                raise BlobNotFound(key)
            final = self._file(new)
            self._ensure_dir(final.parent)
            os.link(source, final)
            self._fsync_dir(final.parent)

        await asyncio.to_thread(run)

    async def size(self, key: str) -> int | None:
        file = self._existing(key)
        try:
            return None if file is None else file.stat().st_size
        except FileNotFoundError:
            return None

    def sweep_temp(self) -> int:
        """Remove temp files left by interrupted writes; call when no write runs."""
        removed = 0
        for pattern in (f"*/{TEMP_PREFIX}*", f"*/*/{TEMP_PREFIX}*"):
            for tmp in self.root.glob(pattern):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def _ensure_dir(self, directory: Path) -> None:
        if directory in self._dirs:
            return
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            self._fsync_dir(directory.parent)
        self._dirs.add(directory)

    def _fsync_dir(self, directory: Path) -> None:
        if not self._fsync:
            return
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _discard(f: int | None, tmp: Path) -> None:
    if f is not None:
        with contextlib.suppress(OSError):
            os.close(f)
    tmp.unlink(missing_ok=True)


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_SYNC_FILE_RANGE = _sync_file_range()
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing a file's dirty pages (not waiting for them)."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


def _start_writeback_range(fd: int, offset: int, length: int) -> None:
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _write_batch(f: int, digests: Digests, batch: list[bytes]) -> None:
    _hash_batch(digests, batch)
    _write_chunks(f, batch)


def _hash_batch(digests: Digests, batch: list[bytes]) -> None:
    for chunk in batch:
        digests.update(chunk)


def _md5_batch(digests: Digests, batch: list[bytes]) -> None:
    for chunk in batch:
        digests.update_md5(chunk)


def _checksum_batch(digests: Digests, batch: list[bytes]) -> None:
    for chunk in batch:
        digests.update_checksums(chunk)


def _write_chunks(f: int, batch: list[bytes]) -> None:
    for start in range(0, len(batch), _IOV_MAX):
        group = batch[start:start + _IOV_MAX]
        written = os.writev(f, group) if group else 0
        if written < sum(len(c) for c in group):  # a short write: finish it piece by piece
            view = memoryview(b"".join(group))[written:]
            while view:
                view = view[os.write(f, view):]

