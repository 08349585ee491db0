"""What every group of S3 operations shares: the bucket lookup, the object
records, the blob store holding the bytes, and the write → commit → collect
cycle that makes a write visible only once its bytes are durable.

A write streams into a fresh blob (its key is entered in ``s3_garbage`` first,
so a crash mid-write leaves nothing behind after the next start), then one
transaction commits the record naming it and hands the blobs it replaced to
the collector, which deletes them a short grace period later (a GET that
has just been answered with a file path still finds its file). A small
object (``INLINE_MAX``) is read whole and its bytes are written by that same
transaction, in ``s3_inline``: nothing to reserve, nothing left by a crash.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Collection, Iterable
from typing import Any, ClassVar

from gureum.drivers.blobs import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    FileBlobStore,
    digest_whole,
)
from gureum.errors import AWSError
from gureum.store import StoreError

from ..base import Call, Env, Service
from . import access, acl
from .metering import note_bucket
from .records import SMALL_PREFIX, Records, is_inline

log = logging.getLogger("gureum.s3")

KIND = "s3:bucket"
GRACE_SECONDS = 5.0
RESERVE = 64  # blob keys entered in s3_garbage per transaction
INLINE_MAX = 64 * 1024
EXPECTED_OWNER = "x-amz-expected-bucket-owner"
SOURCE_EXPECTED_OWNER = "x-amz-source-expected-bucket-owner"

# Small objects' keys (``records.SMALL_PREFIX`` and their row's id): a random
# start drawn once per process, then a counter, not a random draw (a getrandom
# call) per PUT; rows of one process are appended at the table's right edge.
# Two processes' runs of ids meet with a chance of about one in 2**40.
_inline_keys = itertools.count(secrets.randbelow(1 << 62) + 1)


def _inline_key() -> str:
    return f"{SMALL_PREFIX}{next(_inline_keys)}"


def no_such_bucket(name: str) -> AWSError:
    return AWSError("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=name)


def access_denied() -> AWSError:
    return AWSError("AccessDenied", "Access Denied", 403)


def no_such_key(key: str) -> AWSError:
    return AWSError("NoSuchKey", "The specified key does not exist.", 404, Key=key)


class S3Core(Service):
    """State and helpers; the operations live in the mixins built on it."""

    name = "s3"
    kinds = (KIND,)
    grace: ClassVar[float] = GRACE_SECONDS
    # Objects of at most this many bytes (declared before the body arrives)
    # are kept in the database with their record: see ``records.SMALL_PREFIX``.
    inline_max: int = INLINE_MAX

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        blobs = env.extras.get("s3_blobs")
        self.blobs: BlobStore = (
            blobs if blobs is not None else FileBlobStore(env.settings.data_dir / "s3")
        )
        store = env.store
        self.records = Records(store.connection, lambda: store.in_transaction)
        self._conn = store.connection
        self._buckets: dict[str, dict[str, Any]] = {}  # see ``bucket``
        self._buckets_at = -1
        self._tasks: set[asyncio.Task[None]] = set()
        self._reserved: dict[str, list[str]] = {}
        store.on_undo(self._forget)

    def _forget(self) -> None:
        """Writes were undone though ``total_changes`` did not move (a failed
        group commit): nothing read since the last commit is kept."""
        self._buckets.clear()
        self._buckets_at = -1
        self.records.forget()

    # -- lifecycle ----------------------------------------------------------

    async def start(self) -> None:
        if isinstance(self.blobs, FileBlobStore):
            await asyncio.to_thread(self.blobs.sweep_temp)
        await self._delete_blobs(self.records.garbage())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def reset(self) -> None:
        store = self.env.store
        self._reserved.clear()
        with store.tx():
            doomed = self.records.all_blobs()
            doomed += [p.blob for u in self._all_uploads() for p in self.records.parts(u)]
            self.records.add_garbage(doomed, self.now())
            self.records.wipe()
            store.resources.delete_all(kind=KIND)
        await self._delete_blobs(self.records.garbage())

    def _all_uploads(self) -> list[str]:
        rows = self.env.store.connection.execute("SELECT upload_id FROM s3_uploads")
        return [str(r[0]) for r in rows]

    # -- lookups ------------------------------------------------------------

    def now(self) -> float:
        return float(self.env.clock.now())

    def bucket(self, name: str, *, shared: bool = False) -> dict[str, Any] | None:
        """The bucket's document. Outside a transaction it may be the one read
        before, while the database has not changed since (``total_changes``
        moves with every write, rolled back or not): most requests read their
        bucket and write nothing. Callers change a bucket only by reading it
        again inside a transaction (``update_bucket``). ``shared``: the caller
        only reads it, so inside a transaction that has written nothing yet the
        kept document serves too (what a transaction reads is never kept: it
        may roll back)."""
        conn = self._conn
        if self.env.store.in_transaction:
            if shared and conn.total_changes == self._buckets_at:
                kept = self._buckets.get(name)
                if kept is not None:
                    return kept
            found: dict[str, Any] | None = self.env.store.resources.get(KIND, "", "", name)
            return found
        changes = conn.total_changes
        if changes != self._buckets_at:
            self._buckets.clear()
            self._buckets_at = changes
        found = self._buckets.get(name)
        if found is None:
            found = self.env.store.resources.get(KIND, "", "", name)
            if found is not None and conn.total_changes == changes:
                self._buckets[name] = found
        return found

    def wrote_objects(self, before: int, keys: list[tuple[str, str]]) -> None:
        """After a transaction that wrote the objects ``keys`` and no bucket
        document, begun when ``total_changes`` was ``before``: what was kept
        then stays good but for those keys (a stream of PUTs reads its bucket
        document once, not once a PUT)."""
        after = self._conn.total_changes
        if self.env.store.in_transaction or after == before:
            return
        if self._buckets_at == before:
            self._buckets_at = after
        self.records.wrote(before, after, keys)

    def owned(
        self, call: Call, name: str, key: str | None = None,
        params: dict[str, Any] | None = None, action: str | None = None,
        expected_header: str = EXPECTED_OWNER,
    ) -> dict[str, Any]:
        """The bucket ``name`` if the caller may do ``call.operation`` (or
        ``action``) on it or on its object ``key``; else AccessDenied. A
        request naming the account it expects to own the bucket
        (``expected_header``: ``x-amz-expected-bucket-owner``, or
        ``x-amz-source-expected-bucket-owner`` for a copy's source) is
        denied when another account owns it, as S3 does."""
        bucket = self.bucket(name)
        if bucket is None:
            raise no_such_bucket(name)
        expected = call.headers.get(expected_header)
        if expected is not None and expected != bucket["Owner"]:
            raise access_denied()
        note_bucket(bucket)
        owner = bucket["Owner"] == call.account and not call.identity.anonymous
        if owner and not bucket.get("Policy"):
            return bucket  # the common case: the owner, no policy to consult
        if call.operation in access.OWNER_ONLY:
            if owner:
                return bucket
            raise access_denied()
        what = action or access.action_for(call.operation, params or {})
        object_grants = None
        if key is not None and not owner and what in acl.OBJECT_PERMISSION:
            record = self.records.get(name, key)
            object_grants = record.meta.get("acl") if record is not None else None
        if access.allowed(bucket, call, what, key, params or {}, object_grants):
            return bucket
        raise access_denied()

    # -- writing bytes --------------------------------------------------------

    async def write_blob(
        self, chunks: AsyncIterable[bytes], checksums: Collection[str] = (), prefix: str = "o"
    ) -> BlobInfo:
        """Stream ``chunks`` into a new durable blob, not yet referenced by any record."""
        key = self._reserve(prefix)
        try:
            return await self.blobs.write(key, chunks, checksums=checksums)
        except BaseException:
            self.collect([key], grace=0)
            raise

    async def read_small(
        self, chunks: AsyncIterable[bytes], checksums: Collection[str], limit: int
    ) -> tuple[BlobInfo, bytes]:
        """Read a body of at most ``limit`` bytes (more is read only to be
        counted) and digest it, for an object kept in the database."""
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size <= limit:
                parts.append(chunk)
        data = parts[0] if len(parts) == 1 and type(parts[0]) is bytes else b"".join(parts)
        return self.take_small(data, checksums, size)

    def take_small(
        self, data: bytes, checksums: Collection[str], size: int | None = None
    ) -> tuple[BlobInfo, bytes]:
        """Digest ``data``, a small body read whole (``read_small``, or handed
        over as bytes by the gateway), for an object kept in the database;
        ``size``: the body's length when more was read than kept."""
        info = digest_whole(_inline_key(), data, checksums)  # (one call per hash)
        if size is not None and size != info.size:
            # (what was read past the limit is counted, not kept)
            info = BlobInfo(info.key, size, info.md5, info.checksums)
        return info, data

    async def read_blob(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` of a blob, wherever it is kept."""
        if is_inline(key):
            data = self.records.inline(key)
            if data is None:
                raise BlobNotFound(key)
            if start < end:
                yield data[start:end]
            return
        async with await self.blobs.read(key, start, end) as stream:
            async for chunk in stream:
                yield chunk

    def _reserve(self, prefix: str) -> str:
        """A fresh blob key already entered in ``s3_garbage``: keys are entered
        ``RESERVE`` at a time, so a small PUT costs one transaction, not two
        (keys never used are deleted, as missing blobs, at the next start)."""
        pool = self._reserved.setdefault(prefix, [])
        if not pool:
            fresh = [f"{prefix}{secrets.token_hex(16)}" for _ in range(RESERVE)]
            before = self._conn.total_changes
            with self.env.store.tx():
                self.records.add_garbage(fresh, self.now())
            self.wrote_objects(before, [])
            pool.extend(fresh)
        return pool.pop()

    def unused_reserved(self) -> set[str]:
        """Reserved blob keys not yet handed out (listed in ``s3_garbage``)."""
        return {key for pool in self._reserved.values() for key in pool}

    def collect(self, blobs: Iterable[str], grace: float | None = None) -> None:
        """Delete ``blobs`` (already entered in ``s3_garbage``) after the grace period."""
        keys = list(blobs)
        if not keys:
            return
        delay = self.grace if grace is None else grace
        # (The task's context holds the group the caller wrote in, if any: see
        # ``_delete_later``.)
        task = asyncio.get_running_loop().create_task(
            self._delete_later(keys, delay, stale=grace is None)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _delete_later(self, keys: list[str], delay: float, stale: bool = False) -> None:
        if stale:
            # Made garbage by a grouped write: only once that write is
            # committed (if its group failed, they are still referenced).
            try:
                await self.env.store.durable()
            except StoreError:
                return
        if delay > 0:
            await asyncio.sleep(delay)
        await self._delete_blobs(keys)

    async def _delete_blobs(self, keys: list[str]) -> None:
        deleted: list[str] = []
        inline = [key for key in keys if is_inline(key)]
        if inline:
            before = self._conn.total_changes
            with self.env.store.tx():
                self.records.delete_inline(inline)
                self.records.keep(inline)
            self.wrote_objects(before, [])  # garbage only: what was kept stays good
            keys = [key for key in keys if not is_inline(key)]
        for key in keys:
            try:
                await self.blobs.delete(key)
            except OSError:
                log.warning("could not delete blob %s; it stays listed as garbage", key)
                continue
            deleted.append(key)
        if deleted:
            before = self._conn.total_changes
            with self.env.store.tx():
                self.records.keep(deleted)
            self.wrote_objects(before, [])
