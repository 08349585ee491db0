"""Incremental decoder for S3's ``aws-chunked`` request bodies.

Three framings reach gureum, told apart by ``x-amz-content-sha256``:

* ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` - every chunk carries a signature
  chained from the request's (seed) signature;
* ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`` - the same, followed by
  trailing headers signed with an ``AWS4-HMAC-SHA256-TRAILER`` string to sign;
* ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` - plain ``size CRLF data CRLF``
  chunks and trailing headers (what boto3 sends by default over HTTPS for
  ``put_object``/``upload_part``, with an ``x-amz-checksum-crc32`` trailer).

:class:`ChunkedDecoder` reads from anything with ``readexactly``/``readline``
(aiohttp's and asyncio's ``StreamReader``) and yields the decoded payload in
pieces of bounded size, never holding the whole body. It raises
:class:`~gureum.errors.AWSError` with S3's codes for bad chunk signatures,
broken framing, a length that differs from ``x-amz-decoded-content-length``
and a trailing checksum that does not match the data.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol

from awscrt import checksums as crt

from gureum.errors import AWSError

__all__ = [
    "SIGNED_PAYLOAD",
    "SIGNED_PAYLOAD_TRAILER",
    "UNSIGNED_PAYLOAD_TRAILER",
    "ChunkReader",
    "ChunkedDecoder",
    "is_streaming",
]

SIGNED_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_PAYLOAD_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_MODES = {
    SIGNED_PAYLOAD: (True, False),
    SIGNED_PAYLOAD_TRAILER: (True, True),
    UNSIGNED_PAYLOAD_TRAILER: (False, True),
}

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PIECE_SIZE = 1024 * 1024  # largest piece yielded at once (bounds memory per chunk)
MAX_LINE = 4096  # a chunk header or trailer line longer than this is malformed
MAX_TRAILER_LINES = 64

_CHECKSUM_NAMES = {
    "x-amz-checksum-crc32": "CRC32",
    "x-amz-checksum-crc32c": "CRC32C",
    "x-amz-checksum-crc64nvme": "CRC64NVME",
    "x-amz-checksum-sha1": "SHA1",
    "x-amz-checksum-sha256": "SHA256",
}


def is_streaming(content_sha256: str | None) -> bool:
    """True when ``x-amz-content-sha256`` announces an ``aws-chunked`` body."""
    return content_sha256 in _MODES


class ChunkReader(Protocol):
    """What the decoder reads from (aiohttp/asyncio ``StreamReader``)."""

    async def readexactly(self, n: int) -> bytes: ...

    async def readline(self) -> bytes: ...


# --------------------------------------------------------------------------- checksums


class _Checksum(Protocol):
    def update(self, data: bytes) -> None: ...

    def b64digest(self) -> str: ...


class _Crc32:
    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def b64digest(self) -> str:
        return base64.b64encode(self._value.to_bytes(4, "big")).decode("ascii")


class _CrcFunc:
    """A CRC computed by ``fn(data, previous) -> int`` (awscrt's CRC32C and CRC64NVME)."""

    def __init__(self, fn: Callable[[bytes, int], int], width: int) -> None:
        self._fn = fn
        self._width = width
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._fn(data, self._value)

    def b64digest(self) -> str:
        return base64.b64encode(self._value.to_bytes(self._width, "big")).decode("ascii")


class _Hash:
    def __init__(self, name: str) -> None:
        self._h = hashlib.new(name)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def b64digest(self) -> str:
        return base64.b64encode(self._h.digest()).decode("ascii")


def _new_checksum(header: str) -> _Checksum | None:
    """A running checksum for a trailer header name, or None if gureum cannot compute it."""
    if header == "x-amz-checksum-crc32":
        return _Crc32()
    if header == "x-amz-checksum-crc32c":
        return _CrcFunc(crt.crc32c, 4)
    if header == "x-amz-checksum-crc64nvme":
        return _CrcFunc(crt.crc64nvme, 8)
    if header == "x-amz-checksum-sha1":
        return _Hash("sha1")
    if header == "x-amz-checksum-sha256":
        return _Hash("sha256")
    return None


def _same_size(value: str, computed: str) -> bool:
    """Whether a sent checksum is base64 of a digest as long as the computed one."""
    try:
        return len(base64.b64decode(value, validate=True)) == len(base64.b64decode(computed))
    except (ValueError, binascii.Error):
        return False


# --------------------------------------------------------------------------- errors


def _incomplete() -> AWSError:
    return AWSError(
        "IncompleteBody",
        "The request body terminated unexpectedly",
        400,
    )


def _length_mismatch() -> AWSError:
    return AWSError(
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        400,
    )


def _bad_framing(detail: str) -> AWSError:
    return AWSError("InvalidRequest", f"Invalid aws-chunked encoding: {detail}", 400)


def _bad_signature() -> AWSError:
    return AWSError(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        403,
    )


def _malformed_trailer() -> AWSError:
    return AWSError(
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed or did not conform "
        "to our published schema.",
        400,
    )


# --------------------------------------------------------------------------- decoder


class ChunkedDecoder:
    """Decodes one ``aws-chunked`` body incrementally.

    ``signed`` selects per-chunk signatures (then ``seed_signature`` - the
    request's own signature - ``signing_key``, ``amz_date`` and ``scope``
    (``date/region/s3/aws4_request``) are required); ``trailer`` says trailing
    headers follow the last chunk. ``decoded_length`` is
    ``x-amz-decoded-content-length`` when sent; ``trailer_header`` is the
    ``x-amz-trailer`` header naming the checksum that will trail the data.

    After :meth:`chunks` is exhausted: ``trailers`` holds the trailing headers
    (signature excluded), ``checksums`` the checksums gureum computed (header
    name -> base64), ``unverified`` the checksum headers gureum could not
    compute (no library for that algorithm) and so took on trust, and
    ``length`` the number of payload bytes.
    """

    def __init__(
        self,
        reader: ChunkReader,
        *,
        signed: bool,
        seed_signature: str | None = None,
        signing_key: bytes | None = None,
        amz_date: str = "",
        scope: str = "",
        trailer: bool = False,
        decoded_length: int | None = None,
        trailer_header: str | None = None,
        piece_size: int = PIECE_SIZE,
    ) -> None:
        if signed and (seed_signature is None or signing_key is None or not amz_date or not scope):
            raise ValueError("signed aws-chunked decoding needs seed, key, date and scope")
        self._reader = reader
        self._signed = signed
        self._previous = seed_signature or ""
        self._key = signing_key or b""
        self._prefix = f"\n{amz_date}\n{scope}\n"
        self._trailer = trailer
        self._decoded_length = decoded_length
        self._piece = max(1, piece_size)
        self.trailers: dict[str, str] = {}
        self.checksums: dict[str, str] = {}
        self.unverified: list[str] = []
        self.length = 0
        self._announced: list[str] = []
        self._running: dict[str, _Checksum] = {}
        if trailer and trailer_header:
            for name in trailer_header.split(","):
                name = name.strip().lower()
                if not name:
                    continue
                self._announced.append(name)
                checksum = _new_checksum(name)
                if checksum is not None:
                    self._running[name] = checksum
        self._started = False

    @classmethod
    def from_headers(
        cls,
        reader: ChunkReader,
        headers: Mapping[str, str],
        *,
        seed_signature: str | None = None,
        signing_key: bytes | None = None,
        amz_date: str = "",
        scope: str = "",
    ) -> ChunkedDecoder:
        """A decoder set up from the request headers (case-insensitive mapping).

        ``x-amz-content-sha256`` picks the framing; ``x-amz-decoded-content-length``
        and ``x-amz-trailer`` are honoured when present.
        """
        mode = headers.get("x-amz-content-sha256") or headers.get("X-Amz-Content-SHA256")
        if mode not in _MODES:
            raise ValueError(f"not an aws-chunked payload: {mode!r}")
        signed, trailer = _MODES[mode]
        raw_length = headers.get("x-amz-decoded-content-length")
        decoded_length: int | None = None
        if raw_length is not None:
            try:
                decoded_length = int(raw_length)
            except ValueError:
                raise AWSError(
                    "InvalidArgument", "x-amz-decoded-content-length is not a number", 400
                ) from None
            if decoded_length < 0:
                raise AWSError(
                    "InvalidArgument", "x-amz-decoded-content-length must be non-negative", 400
                )
        return cls(
            reader,
            signed=signed,
            seed_signature=seed_signature,
            signing_key=signing_key,
            amz_date=amz_date,
            scope=scope,
            trailer=trailer,
            decoded_length=decoded_length,
            trailer_header=headers.get("x-amz-trailer"),
        )

    # ------------------------------------------------------------------ reading

    async def _readline(self) -> bytes:
        try:
            line = await self._reader.readline()
        except ValueError:  # longer than the reader's line limit
            raise _bad_framing("header line too long") from None
        if not line.endswith(b"\n"):
            raise _incomplete()
        if len(line) > MAX_LINE:
            raise _bad_framing("header line too long")
        return line

    async def _readexactly(self, n: int) -> bytes:
        try:
            return await self._reader.readexactly(n)
        except asyncio.IncompleteReadError:
            raise _incomplete() from None

    def _chunk_signature_ok(self, provided: str | None, data_hash: str) -> bool:
        if provided is None or not provided.isascii():
            return False
        string_to_sign = (
            "AWS4-HMAC-SHA256-PAYLOAD"
            + self._prefix
            + self._previous
            + "\n"
            + EMPTY_SHA256
            + "\n"
            + data_hash
        )
        expected = hmac.digest(self._key, string_to_sign.encode("ascii"), "sha256").hex()
        if not hmac.compare_digest(expected, provided):
            return False
        self._previous = provided
        return True

    def _parse_header(self, line: bytes) -> tuple[int, str | None]:
        text = line.rstrip(b"\r\n")
        size_part, _, ext = text.partition(b";")
        size_text = size_part.strip()
        if not size_text or len(size_text) > 16:
            raise _bad_framing("bad chunk size")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _bad_framing("bad chunk size") from None
        if size_text[:1] in (b"+", b"-") or b"_" in size_text or size_text[:2].lower() == b"0x":
            raise _bad_framing("bad chunk size")
        signature: str | None = None
        if ext:
            for item in ext.split(b";"):
                key, eq, value = item.strip().partition(b"=")
                if eq and key == b"chunk-signature":
                    signature = value.strip().decode("latin-1")
        return size, signature

    # ------------------------------------------------------------------ decoding

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the decoded payload; raise AWSError when the body is not valid."""
        if self._started:
            raise RuntimeError("an aws-chunked body can be decoded only once")
        self._started = True
        running = list(self._running.values())
        limit = self._decoded_length
        while True:
            size, signature = self._parse_header(await self._readline())
            if self._signed and signature is None:
                raise _bad_signature()
            if size == 0:
                if self._signed and not self._chunk_signature_ok(signature, EMPTY_SHA256):
                    raise _bad_signature()
                break
            if limit is not None and self.length + size > limit:
                raise _length_mismatch()
            hasher = hashlib.sha256() if self._signed else None
            remaining = size
            held: bytes | None = None
            while remaining:
                data = await self._readexactly(min(remaining, self._piece))
                remaining -= len(data)
                if hasher is not None:
                    hasher.update(data)
                for checksum in running:
                    checksum.update(data)
                if held is not None:
                    yield held
                held = data
            if await self._readexactly(2) != b"\r\n":
                raise _bad_framing("chunk data not followed by CRLF")
            if hasher is not None and not self._chunk_signature_ok(signature, hasher.hexdigest()):
                raise _bad_signature()
            self.length += size
            assert held is not None
            yield held
        if self._trailer:
            await self._read_trailers()
        else:
            await self._read_final_crlf()
        if limit is not None and self.length != limit:
            raise _length_mismatch()
        self._check_checksums()

    async def _read_final_crlf(self) -> None:
        try:
            line = await self._reader.readline()
        except ValueError:
            raise _bad_framing("data after the final chunk") from None
        if line not in (b"", b"\r\n", b"\n"):
            raise _bad_framing("data after the final chunk")

    async def _read_trailers(self) -> None:
        lines: list[tuple[str, str]] = []
        trailer_signature: str | None = None
        while True:
            try:
                raw = await self._reader.readline()
            except ValueError:
                raise _malformed_trailer() from None
            if not raw:  # EOF where the closing empty line was due: accept
                break
            if not raw.endswith(b"\n"):
                raise _incomplete()
            if len(raw) > MAX_LINE:
                raise _malformed_trailer()
            text = raw.rstrip(b"\r\n")
            if not text:
                break
            if len(lines) >= MAX_TRAILER_LINES:
                raise _malformed_trailer()
            name, colon, value = text.decode("latin-1").partition(":")
            if not colon or not name.strip():
                raise _malformed_trailer()
            name = name.strip().lower()
            value = value.strip()
            if name == "x-amz-trailer-signature":
                trailer_signature = value
                continue
            lines.append((name, value))
        if self._signed:
            canonical = "".join(f"{name}:{value}\n" for name, value in lines)
            string_to_sign = (
                "AWS4-HMAC-SHA256-TRAILER"
                + self._prefix
                + self._previous
                + "\n"
                + hashlib.sha256(canonical.encode("latin-1")).hexdigest()
            )
            expected = hmac.digest(self._key, string_to_sign.encode("latin-1"), "sha256").hex()
            if (
                trailer_signature is None
                or not trailer_signature.isascii()
                or not hmac.compare_digest(expected, trailer_signature)
            ):
                raise _bad_signature()
            self._previous = trailer_signature
        self.trailers = dict(lines)

    def _check_checksums(self) -> None:
        for name in self._announced:
            if name not in self.trailers:
                raise _malformed_trailer()
        for name, value in self.trailers.items():
            if not name.startswith("x-amz-checksum-"):
                continue
            checksum = self._running.get(name)
            if checksum is None:
                if name not in self._announced:
                    # Not announced in x-amz-trailer, so nothing was computed.
                    raise _malformed_trailer()
                self.unverified.append(name)
                continue
            computed = checksum.b64digest()
            self.checksums[name] = computed
            if not _same_size(value, computed):
                raise AWSError("InvalidRequest", f"Value for {name} trailing header is invalid.",
                               400)
            if not hmac.compare_digest(computed.encode("ascii"), value.encode("latin-1")):
                algorithm = _CHECKSUM_NAMES.get(name, name[len("x-amz-checksum-") :].upper())
                raise AWSError(
                    "BadDigest",
                    f"The {algorithm} you specified did not match the calculated checksum.",
                    400,
                )
