"""Where S3 keeps its object records: the ``s3_objects``, ``s3_uploads``,
``s3_parts`` and ``s3_garbage`` tables, and small typed views of their rows.

An object row names the blobs that hold its bytes, in order (one blob for a
single PUT, the part blobs for a completed multipart upload), so completing
an upload never copies the data. ``(bucket, key)`` is the primary key of a
``WITHOUT ROWID`` table: a listing page is an indexed range scan, in the
BINARY (memcmp, i.e. UTF-8 byte) order S3 lists keys in.

``s3_garbage`` lists blobs that no record references (or may not yet): a blob
is entered there before its bytes are written and taken out in the
transaction that commits the record naming it; a replaced or deleted
object's blobs go in with the transaction that unlinks them. Whatever a
crash leaves behind is therefore found and removed at the next start.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from gureum.store import register_migration
from gureum.store.repo import c_encoder

register_migration(
    3000,
    "s3_objects",
    """
    CREATE TABLE s3_objects (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        modified REAL NOT NULL,
        blobs TEXT NOT NULL,
        meta TEXT NOT NULL,
        PRIMARY KEY (bucket, key)
    ) WITHOUT ROWID;
    CREATE TABLE s3_uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        initiated REAL NOT NULL,
        meta TEXT NOT NULL
    );
    CREATE INDEX s3_uploads_by_key ON s3_uploads (bucket, key, initiated);
    CREATE TABLE s3_parts (
        upload_id TEXT NOT NULL,
        part INTEGER NOT NULL,
        blob TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        modified REAL NOT NULL,
        checksums TEXT NOT NULL,
        PRIMARY KEY (upload_id, part)
    ) WITHOUT ROWID;
    CREATE TABLE s3_garbage (blob TEXT PRIMARY KEY, since REAL NOT NULL);
    """,
)

register_migration(
    3001,
    "s3_versions",
    """
    CREATE TABLE s3_versions (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        version TEXT NOT NULL,
        size INTEGER NOT NULL,
        etag TEXT NOT NULL,
        modified REAL NOT NULL,
        blobs TEXT NOT NULL,
        meta TEXT NOT NULL,
        PRIMARY KEY (bucket, key, seq)
    ) WITHOUT ROWID;
    CREATE INDEX s3_versions_by_id ON s3_versions (bucket, key, version);
    """,
)

# Small objects' bytes, kept in the database itself: they become durable with
# the transaction that commits their record (one WAL fsync shared by every
# request committing meanwhile), not with a file of their own, its fsync,
# its rename and its directory's fsync. Their blob keys start with "i".
register_migration(
    3002,
    "s3_inline",
    "CREATE TABLE s3_inline (blob TEXT PRIMARY KEY, data BLOB NOT NULL);",
)

# Small objects written since keep their bytes in a rowid table without a
# separate index: a commit then writes one b-tree leaf fewer (the text key's
# index leaf), one WAL frame of the ~6 a 4 KiB PUT wrote. Their blob keys are
# ``i.<rowid>``; older keys (``i`` and 32 hex digits) stay in ``s3_inline``.
register_migration(
    3003,
    "s3_small",
    "CREATE TABLE s3_small (id INTEGER PRIMARY KEY, data BLOB NOT NULL);",
)

INLINE_PREFIX = "i"
SMALL_PREFIX = "i."

# ``json.dumps(value, separators=(",", ":"))``, the same text: one encoder made
# once, not one per call (dumps makes a new one whenever an option is given).
_encode = json.JSONEncoder(separators=(",", ":")).encode


# The same for a dict (an object's metadata), by json's C encoder made once
# with ``_encode``'s settings (``encode`` makes that C encoder at every call).
_ENCODER = c_encoder(json.JSONEncoder().default, sort_keys=False)


def _compact(value: Any) -> str:
    if _ENCODER is None or type(value) is not dict:
        return _encode(value)
    return "".join(_ENCODER(value, 0))


def is_inline(blob: str) -> bool:
    return blob.startswith(INLINE_PREFIX)


@dataclass
class ObjectRecord:
    """One object: its bytes are ``blobs`` ([blob key, size] in order) read in sequence."""

    bucket: str
    key: str
    size: int
    etag: str  # quoted, as S3 answers it
    modified: float
    blobs: list[tuple[str, int]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """The version id; ``"null"`` for objects written while versioning was off."""
        return str(self.meta.get("version") or "null")

    @property
    def marker(self) -> bool:
        """A delete marker (kept only among the versions)."""
        return bool(self.meta.get("marker"))

    @property
    def parts_count(self) -> int | None:
        count = self.meta.get("parts")
        return int(count) if count is not None else None


# A listed object: key, size, ETag, modified, checksums (see ``Records.scan_listed``).
Listed = tuple[str, int, str, float, str | None]


@dataclass
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: dict[str, Any]


@dataclass
class Part:
    upload_id: str
    number: int
    blob: str
    size: int
    etag: str
    modified: float
    checksums: dict[str, str]


SHARED_RECORDS = 256  # decoded current objects kept for GET/HEAD
SHARED_BYTES = 4 << 20  # small objects' bytes kept for GET
_OBJECT_COLUMNS = "bucket, key, size, etag, modified, blobs, meta"
_INSERT_NEW = (f"INSERT INTO s3_objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
               " ON CONFLICT (bucket, key) DO NOTHING")
_REPLACE = f"INSERT OR REPLACE INTO s3_objects ({_OBJECT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_GET = f"SELECT {_OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ?"
# ``_GET`` and, for an object whose one blob is a small object's row (its
# blobs text, as ``_blobs_text`` writes it, begins ``[["i.<id>", ``), that
# row's bytes: a GET's record and body in one statement.
_GET_SMALL = (
    f"SELECT {_OBJECT_COLUMNS}, (SELECT data FROM s3_small WHERE id = CASE"
    f" WHEN substr(blobs, 1, 5) = '[[\"{SMALL_PREFIX}'"
    " THEN CAST(substr(blobs, 6, instr(blobs, '\", ') - 6) AS INTEGER) END)"
    " FROM s3_objects WHERE bucket = ? AND key = ?"
)


def _blobs_text(blobs: list[tuple[str, int]]) -> str:
    """``json.dumps(blobs)``, the same text; one blob (most objects) without the
    encoder when its key holds no character JSON escapes (gureum's never do)."""
    if len(blobs) == 1:
        key, size = blobs[0]
        if (type(size) is int and key.isascii() and key.isprintable()
                and '"' not in key and "\\" not in key):
            return f'[["{key}", {size}]]'
    return json.dumps(blobs)


def _blobs_of(text: str) -> list[tuple[str, int]]:
    """The blobs of ``_blobs_text``: one blob whose key needs no escape (the
    text ``_blobs_text`` writes without the encoder) read without the decoder."""
    if text.startswith('[["') and text.count('"') == 2 and "\\" not in text:
        key, sep, size = text[3:-2].partition('", ')
        if sep and text.endswith("]]") and size.isdigit() and size.isascii():
            return [(key, int(size))]
    return [(str(b), int(s)) for b, s in json.loads(text)]


# json's C scanner, called without ``json.loads``'s Python layers around it
# (its type checks, ``decode``'s two whitespace matches, ``raw_decode``).
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _loads(text: str) -> Any:
    """``json.loads(text)``, the same value: a text with nothing around its one
    value (every text ``_compact`` writes) is read by the scanner alone."""
    if type(text) is str:
        try:
            value, end = _scan(text, 0)
        except StopIteration:
            pass
        else:
            if end == len(text):
                return value
    return json.loads(text)


def _object(row: tuple[Any, ...]) -> ObjectRecord:
    return ObjectRecord(row[0], row[1], row[2], row[3], row[4], _blobs_of(row[5]),
                        _loads(row[6]))


def _upload(row: tuple[Any, ...]) -> Upload:
    return Upload(row[0], row[1], row[2], row[3], json.loads(row[4]))


class Records:
    """Queries on the S3 tables; writes must run inside ``store.tx()``."""

    def __init__(self, conn: sqlite3.Connection,
                 in_transaction: Callable[[], bool] | None = None) -> None:
        self._conn = conn
        # Whether a write transaction is open (the store's, not the
        # connection's: grouped writes keep one open between requests).
        self._in_transaction: Callable[[], bool] = (
            in_transaction if in_transaction is not None else lambda: conn.in_transaction
        )
        # Current objects decoded by ``shared`` reads (None: no such key), most
        # recently used last; valid while ``total_changes`` is ``_cached_at``.
        self._cached: dict[tuple[str, str], ObjectRecord | None] = {}
        self._cached_at = -1
        self._bytes: dict[str, bytes] = {}  # see ``inline``
        self._bytes_total = 0

    # -- objects ----------------------------------------------------------

    def get(self, bucket: str, key: str, *, small: bool = False) -> ObjectRecord | None:
        """The current object; ``small``: if its one blob is a small object's
        row, that row's bytes are read with it and kept for ``inline`` (as it
        keeps what it reads)."""
        if not small:
            row = self._conn.execute(_GET, (bucket, key)).fetchone()
            return None if row is None else _object(row)
        row = self._conn.execute(_GET_SMALL, (bucket, key)).fetchone()
        if row is None:
            return None
        record = _object(row)
        data = row[7]
        if data is not None and not self._in_transaction():
            blob = record.blobs[0][0]
            if blob[len(SMALL_PREFIX):].isdigit() and blob not in self._bytes:
                self._keep(blob, bytes(data))
        return record

    def shared(self, bucket: str, key: str, *, small: bool = False) -> ObjectRecord | None:
        """``get``, but outside a transaction it may answer with the record it
        decoded before, while the database has not changed since
        (``total_changes`` moves with every write, rolled back or not): a GET or
        HEAD repeated on a key reads and decodes nothing. The caller must not
        change what it returns. ``small``: see ``get``."""
        conn = self._conn
        if self._in_transaction():
            return self.get(bucket, key)
        changes = conn.total_changes
        cached = self._cached
        if changes != self._cached_at:
            cached.clear()
            self._cached_at = changes
        name = (bucket, key)
        if name in cached:
            found = cached.pop(name)
            cached[name] = found
            return found
        found = self.get(bucket, key, small=small)
        if conn.total_changes == changes:
            if len(cached) >= SHARED_RECORDS:
                del cached[next(iter(cached))]
            cached[name] = found
        return found

    def forget(self) -> None:
        """Drop every record and byte kept (writes they may show were undone)."""
        self._cached.clear()
        self._cached_at = -1
        self._bytes.clear()
        self._bytes_total = 0

    def wrote(self, before: int, after: int, keys: list[tuple[str, str]]) -> None:
        """A transaction moved ``total_changes`` from ``before`` to ``after``
        writing no current object but ``keys``: the others kept stay good."""
        if self._cached_at != before:
            return
        for name in keys:
            self._cached.pop(name, None)
        self._cached_at = after

    def put(self, record: ObjectRecord) -> ObjectRecord | None:
        """Insert or replace; return the record replaced (its blobs become garbage).

        A new key (most PUTs) costs one statement: the insert is tried first,
        and only a key already there is read and replaced."""
        row = (
            record.bucket, record.key, record.size, record.etag, record.modified,
            _blobs_text(record.blobs), _compact(record.meta),
        )
        if self._conn.execute(_INSERT_NEW, row).rowcount == 1:
            return None
        old = self.get(record.bucket, record.key)
        self._conn.execute(_REPLACE, row)
        return old

    def delete(self, bucket: str, key: str) -> ObjectRecord | None:
        old = self.get(bucket, key)
        if old is not None:
            self._conn.execute(
                "DELETE FROM s3_objects WHERE bucket = ? AND key = ?", (bucket, key)
            )
        return old

    def any_object(self, bucket: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM s3_objects WHERE bucket = ? UNION ALL"
            " SELECT 1 FROM s3_versions WHERE bucket = ? LIMIT 1", (bucket, bucket)
        ).fetchone()
        return row is not None

    # -- versions (every version but the current one, and delete markers) ----

    def push_version(self, record: ObjectRecord) -> None:
        """Keep ``record`` as the newest of the non-current versions of its key."""
        row = self._conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM s3_versions WHERE bucket = ? AND key = ?",
            (record.bucket, record.key),
        ).fetchone()
        self._conn.execute(
            "INSERT INTO s3_versions (bucket, key, seq, version, size, etag, modified, blobs,"
            " meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.bucket, record.key, int(row[0]) + 1, record.version, record.size,
             record.etag, record.modified, _blobs_text(record.blobs),
             _compact(record.meta)),
        )

    def newest_version(self, bucket: str, key: str) -> ObjectRecord | None:
        row = self._conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM s3_versions WHERE bucket = ? AND key = ?"
            " ORDER BY seq DESC LIMIT 1",
            (bucket, key),
        ).fetchone()
        return None if row is None else _object(row)

    def get_version(self, bucket: str, key: str, version: str) -> ObjectRecord | None:
        row = self._conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM s3_versions WHERE bucket = ? AND key = ?"
            " AND version = ?",
            (bucket, key, version),
        ).fetchone()
        return None if row is None else _object(row)

    def remove_version(self, bucket: str, key: str, version: str) -> ObjectRecord | None:
        old = self.get_version(bucket, key, version)
        if old is not None:
            self._conn.execute(
                "DELETE FROM s3_versions WHERE bucket = ? AND key = ? AND version = ?",
                (bucket, key, version),
            )
        return old

    def find_version(self, bucket: str, key: str, version: str | None, *,
                     shared: bool = False, small: bool = False) -> ObjectRecord | None:
        """The current object (``version`` None), or the version named, current
        or not; ``shared``: a record the caller only reads (see ``shared``);
        ``small``: a small object's bytes read with it (see ``get``)."""
        current = (self.shared(bucket, key, small=small) if shared
                   else self.get(bucket, key, small=small))
        if version is None or (current is not None and current.version == version):
            return current
        return self.get_version(bucket, key, version)

    def update_meta(self, record: ObjectRecord) -> None:
        """Store ``record.meta`` (tags, ACL) on whichever row holds that version."""
        meta = _compact(record.meta)
        current = self.get(record.bucket, record.key)
        if current is not None and current.version == record.version:
            self._conn.execute("UPDATE s3_objects SET meta = ? WHERE bucket = ? AND key = ?",
                               (meta, record.bucket, record.key))
        else:
            self._conn.execute(
                "UPDATE s3_versions SET meta = ? WHERE bucket = ? AND key = ? AND version = ?",
                (meta, record.bucket, record.key, record.version),
            )

    def scan_versions(
        self, bucket: str, start: str
    ) -> Generator[tuple[ObjectRecord, bool], None, None]:
        """(version, is latest) of every key from ``start`` on: keys in order, newest first."""
        cur = self._conn.execute(
            f"SELECT {_OBJECT_COLUMNS}, 9223372036854775807 AS seq FROM s3_objects"
            " WHERE bucket = ? AND key >= ?"
            f" UNION ALL SELECT {_OBJECT_COLUMNS}, seq FROM s3_versions"
            " WHERE bucket = ? AND key >= ? ORDER BY key, seq DESC",
            (bucket, start, bucket, start),
        )
        last_key: str | None = None
        try:
            while True:
                rows = cur.fetchmany(256)
                if not rows:
                    return
                for row in rows:
                    record = _object(row)
                    yield record, record.key != last_key
                    last_key = record.key
        finally:
            cur.close()

    def scan(self, bucket: str, start: str, inclusive: bool) -> Generator[ObjectRecord, None, None]:
        """Objects of ``bucket`` from ``start`` on, in key order, read lazily."""
        op = ">=" if inclusive else ">"
        cur = self._conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ? AND key {op} ?"
            " ORDER BY key",
            (bucket, start),
        )
        try:
            while True:
                rows = cur.fetchmany(256)
                if not rows:
                    return
                for row in rows:
                    yield _object(row)
        finally:
            cur.close()

    def scan_listed(
        self, bucket: str, start: str, inclusive: bool
    ) -> Generator[Listed, None, None]:
        """Like :meth:`scan`, but only what a listing shows, as plain rows:
        ``(key, size, etag, modified, checksums)``, where ``checksums`` is None
        or the JSON text ``[{algorithm: value}, checksum type]``. SQLite reads
        them out of the metadata, and only for objects that have checksums:
        the compact text ``"checksums":{"`` can only be a non-empty top-level
        member (every other member's values are strings, lists or ACL grants,
        and quotes inside strings are escaped), so one ``instr`` decides."""
        op = ">=" if inclusive else ">"
        cur = self._conn.execute(
            "SELECT key, size, etag, modified, CASE WHEN instr(meta, '\"checksums\":{\"')"
            " THEN json_extract(meta, '$.checksums', '$.checksum_type') END"
            f" FROM s3_objects WHERE bucket = ? AND key {op} ? ORDER BY key",
            (bucket, start),
        )
        try:
            while True:
                rows = cur.fetchmany(256)
                if not rows:
                    return
                yield from rows
        finally:
            cur.close()

    def all_blobs(self, bucket: str | None = None) -> list[str]:
        out: list[str] = []
        for table in ("s3_objects", "s3_versions"):
            sql = f"SELECT blobs FROM {table}" + (" WHERE bucket = ?" if bucket else "")
            for (blobs,) in self._conn.execute(sql, (bucket,) if bucket else ()):
                out.extend(str(b) for b, _ in json.loads(blobs))
        return out

    # -- uploads and parts --------------------------------------------------

    def add_upload(self, upload: Upload) -> None:
        self._conn.execute(
            "INSERT INTO s3_uploads (upload_id, bucket, key, initiated, meta)"
            " VALUES (?, ?, ?, ?, ?)",
            (upload.upload_id, upload.bucket, upload.key, upload.initiated,
             json.dumps(upload.meta)),
        )

    def upload(self, upload_id: str) -> Upload | None:
        row = self._conn.execute(
            "SELECT upload_id, bucket, key, initiated, meta FROM s3_uploads WHERE upload_id = ?",
            (upload_id,),
        ).fetchone()
        return None if row is None else _upload(row)

    def uploads(self, bucket: str, key_from: str = "") -> list[Upload]:
        rows = self._conn.execute(
            "SELECT upload_id, bucket, key, initiated, meta FROM s3_uploads"
            " WHERE bucket = ? AND key >= ? ORDER BY key, initiated, upload_id",
            (bucket, key_from),
        ).fetchall()
        return [_upload(r) for r in rows]

    def delete_upload(self, upload_id: str) -> list[Part]:
        """Forget an upload and its parts; return the parts (their blobs are the caller's)."""
        parts = self.parts(upload_id)
        self._conn.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
        self._conn.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))
        return parts

    def put_part(self, part: Part) -> Part | None:
        old = self._conn.execute(
            "SELECT blob FROM s3_parts WHERE upload_id = ? AND part = ?",
            (part.upload_id, part.number),
        ).fetchone()
        self._conn.execute(
            "INSERT OR REPLACE INTO s3_parts"
            " (upload_id, part, blob, size, etag, modified, checksums)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (part.upload_id, part.number, part.blob, part.size, part.etag, part.modified,
             json.dumps(part.checksums)),
        )
        if old is None:
            return None
        return Part(part.upload_id, part.number, str(old[0]), 0, "", 0.0, {})

    def parts(self, upload_id: str, after: int = 0) -> list[Part]:
        rows = self._conn.execute(
            "SELECT upload_id, part, blob, size, etag, modified, checksums FROM s3_parts"
            " WHERE upload_id = ? AND part > ? ORDER BY part",
            (upload_id, after),
        ).fetchall()
        return [
            Part(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows
        ]

    # -- small objects' bytes ------------------------------------------------

    def put_inline(self, blob: str, data: bytes) -> None:
        if blob.startswith(SMALL_PREFIX):
            self._conn.execute("INSERT INTO s3_small (id, data) VALUES (?, ?)",
                               (int(blob[2:]), data))
        else:
            self._conn.execute("INSERT INTO s3_inline (blob, data) VALUES (?, ?)", (blob, data))

    def inline(self, blob: str) -> bytes | None:
        """A small object's bytes. A blob's bytes never change (a write makes a
        new blob), so those read outside a transaction are kept until the blob
        is deleted (``SHARED_BYTES`` at most, most recently read last)."""
        kept = self._bytes.pop(blob, None)
        if kept is not None:
            self._bytes[blob] = kept
            return kept
        if blob.startswith(SMALL_PREFIX):
            row = self._conn.execute(
                "SELECT data FROM s3_small WHERE id = ?", (int(blob[2:]),)
            ).fetchone()
        else:
            row = self._conn.execute(
                "SELECT data FROM s3_inline WHERE blob = ?", (blob,)
            ).fetchone()
        if row is None:
            return None
        data = bytes(row[0])
        if not self._in_transaction():
            self._keep(blob, data)
        return data

    def _keep(self, blob: str, data: bytes) -> None:
        """Keep a blob's bytes read outside a transaction (see ``inline``)."""
        if len(data) <= SHARED_BYTES // 16:
            self._bytes[blob] = data
            self._bytes_total += len(data)
            while self._bytes_total > SHARED_BYTES:
                self._bytes_total -= len(self._bytes.pop(next(iter(self._bytes))))

    def delete_inline(self, blobs: list[str]) -> None:
        for blob in blobs:
            dropped = self._bytes.pop(blob, None)
            if dropped is not None:
                self._bytes_total -= len(dropped)
        small = [(int(b[2:]),) for b in blobs if b.startswith(SMALL_PREFIX)]
        if small:
            self._conn.executemany("DELETE FROM s3_small WHERE id = ?", small)
        if len(small) < len(blobs):
            self._conn.executemany(
                "DELETE FROM s3_inline WHERE blob = ?",
                [(b,) for b in blobs if not b.startswith(SMALL_PREFIX)],
            )

    # -- garbage ------------------------------------------------------------

    def add_garbage(self, blobs: list[str], now: float) -> None:
        self._conn.executemany(
            "INSERT OR IGNORE INTO s3_garbage (blob, since) VALUES (?, ?)",
            [(b, now) for b in blobs],
        )

    def keep(self, blobs: list[str]) -> None:
        """The blobs are now referenced by a committed record: not garbage."""
        self._conn.executemany("DELETE FROM s3_garbage WHERE blob = ?", [(b,) for b in blobs])

    def garbage(self) -> list[str]:
        return [str(r[0]) for r in self._conn.execute("SELECT blob FROM s3_garbage")]

    def wipe(self) -> None:
        self._bytes.clear()
        self._bytes_total = 0
        self._cached.clear()
        for table in ("s3_objects", "s3_versions", "s3_parts", "s3_uploads", "s3_inline",
                      "s3_small"):
            self._conn.execute(f"DELETE FROM {table}")
