"""Streamed S3 request bodies: raw, aws-chunked (signed or with trailers), and a
declared SHA-256 checked as the bytes go by; and file response bodies sent
with the kernel's sendfile.

Every stream is a ``RequestBody``: an async iterator of the decoded payload
whose ``trailers`` (lowercase header name -> value) holds, once the payload
has been read to its end, the trailing headers of an aws-chunked body — its
``x-amz-checksum-*`` values already verified against the bytes where gureum
can compute them. Operations read it by duck typing (``getattr(body,
"trailers", {})``), so services need not import the gateway. A raw body
(``PlainBody``) that has all arrived by the time it is read may also be taken
whole, as bytes, in one step (``whole()``), its declared SHA-256 checked then.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from functools import partial
from typing import Any, Protocol, cast

from gureum.drivers.blobs.pipeline import BatchWorker
from gureum.errors import AWSError

from .chunked import ChunkedDecoder, is_streaming
from .request import GatewayRequest
from .sendfile import FileSender, send
from .sigv4 import signing_key


class RequestBody:
    """The payload of one request, read once."""

    def __init__(self, chunks: AsyncIterator[bytes], decoder: ChunkedDecoder | None = None):
        self._chunks = chunks
        self._decoder = decoder

    @property
    def trailers(self) -> dict[str, str]:
        return dict(self._decoder.trailers) if self._decoder is not None else {}

    def __aiter__(self) -> RequestBody:
        return self

    async def __anext__(self) -> bytes:
        return await self._chunks.__anext__()


class PlainBody(RequestBody):
    """A raw body, its declared SHA-256 (if any) checked: iterated as it
    arrives, or, when it has all arrived and nothing of it was read yet, taken
    whole (``whole()``) with no stream between the front and the reader."""

    def __init__(self, request: GatewayRequest, declared: str | None) -> None:
        self._request = request
        self._declared = declared
        self._decoder = None
        self._started = False  # read (iterated or taken whole): ``_chunks`` is set

    async def __anext__(self) -> bytes:
        if not self._started:
            self._started = True
            declared = self._declared
            self._chunks = _checked(self._request, declared) if declared \
                else _raw(self._request)
        return await self._chunks.__anext__()

    def whole(self) -> bytes | None:
        """All the body's bytes, if they are all here and none was read yet
        (then the body is read: iterating it gives nothing more), else
        ``None``: iterate it. A declared SHA-256 that does not match raises
        ``XAmzContentSHA256Mismatch``, as iterating it to its end would."""
        if self._started:
            return None
        data = whole_body(self._request)
        if data is None:
            return None
        self._started = True
        self._chunks = _ENDED
        declared = self._declared
        if declared:
            _check_sha256(hashlib.sha256(data), declared)
        return data


class _Ended:
    """An async iterator with nothing (more) in it."""

    def __aiter__(self) -> _Ended:
        return self

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration


_ENDED = _Ended()


def whole_body(request: GatewayRequest) -> bytes | None:
    """``request``'s body as bytes when it has all arrived and none of it was
    read, else ``None``. The lean front says so itself (``whole_body()``); any
    other request's reader is at its end only once all has arrived (and it is
    read only by the body's one reader, which has not started)."""
    whole = getattr(request, "whole_body", None)
    if whole is not None:
        return cast(bytes | None, whole())
    content = request.content
    if not content.is_eof() or content.exception() is not None:
        return None
    return content.read_nowait(-1)


DIRECT_MIN = 1024 * 1024  # a body this large may be received by the blob store's thread


class ReceivableBody(RequestBody):
    """A raw body of known length that a blob store may take from the
    connection and receive in a thread of its own (``receiver()``) instead of
    iterating it; its declared SHA-256, if any, is checked either way."""

    def __init__(self, request: GatewayRequest, declared: str | None) -> None:
        super().__init__(_checked(request, declared) if declared else _raw(request))
        self._request = request
        self._declared = declared
        self._taken = False

    async def __anext__(self) -> bytes:
        self._taken = True
        return await self._chunks.__anext__()

    def receiver(self) -> BodyReceiver | None:
        """The body for a thread to receive (on the event loop, before any
        byte is read), or ``None``: iterate it as usual."""
        if self._taken:
            return None
        take = getattr(self._request, "take_body", None)
        direct = take() if take is not None else None
        if direct is None:
            return None
        self._taken = True
        return BodyReceiver(direct, self._declared)


class DirectSource(Protocol):
    """What the HTTP front hands over for a body's bytes to be read by a thread."""

    length: int

    def receive_into(self, view: memoryview) -> int: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...


class BodyReceiver:
    """A body received by the blob store's thread (``drivers.blobs.base.Receiver``):
    the bytes from the front's ``DirectSource``, the declared SHA-256 computed
    over them (``observe``) and checked by ``verify`` before anything is kept."""

    def __init__(self, direct: DirectSource, declared: str | None) -> None:
        self._direct = direct
        self.length = direct.length
        self._declared = declared
        self._digest = hashlib.sha256() if declared else None
        self.observes = self._digest is not None

    def receive_into(self, view: memoryview) -> int:
        return self._direct.receive_into(view)

    def observe(self, view: memoryview) -> None:
        if self._digest is not None:
            self._digest.update(view)

    def verify(self) -> None:
        if self._digest is not None and self._declared is not None:
            _check_sha256(self._digest, self._declared)

    def cancel(self) -> None:
        self._direct.cancel()

    def close(self) -> None:
        self._direct.close()


def request_body_stream(request: GatewayRequest, signed: Any, secret: str | None) -> RequestBody:
    declared = request.headers.get("x-amz-content-sha256", "")
    if is_streaming(declared):
        return open_chunked(request, signed, secret)
    checked = len(declared) == 64 and signed is not None
    length = request.headers.get("Content-Length", "")
    if length.isdigit() and int(length) >= DIRECT_MIN \
            and "Transfer-Encoding" not in request.headers:
        return ReceivableBody(request, declared if checked else None)
    return PlainBody(request, declared if checked else None)


def open_chunked(request: GatewayRequest, signed: Any, secret: str | None) -> RequestBody:
    """An aws-chunked body; chunk signatures are checked when the secret is known."""
    verify = signed is not None and secret is not None and not declared_unsigned(request)
    if verify:
        cred = signed.credential
        decoder = ChunkedDecoder.from_headers(
            request.content,
            request.headers,
            seed_signature=signed.signature,
            signing_key=signing_key(secret, cred.date, cred.region, cred.service),
            amz_date=signed.amz_date,
            scope=cred.scope,
        )
    else:
        # An unknown key (accepted by convention) cannot verify chunk
        # signatures; the framing, length and checksums are still checked.
        decoder = ChunkedDecoder.from_headers(
            request.content, {**_lower(request.headers), "x-amz-content-sha256": _unsigned_mode()}
        )
    return RequestBody(decoder.chunks(), decoder)


def declared_unsigned(request: GatewayRequest) -> bool:
    return request.headers.get("x-amz-content-sha256", "").startswith("STREAMING-UNSIGNED")


def _unsigned_mode() -> str:
    from .chunked import UNSIGNED_PAYLOAD_TRAILER

    return UNSIGNED_PAYLOAD_TRAILER


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


async def _raw(request: GatewayRequest) -> AsyncIterator[bytes]:
    async for chunk in _received(request):
        yield chunk


async def _received(request: GatewayRequest) -> AsyncIterator[bytes]:
    """The body's bytes as they were received, each piece as the socket gave
    it: asking for pieces of a fixed size made the reader cut a received piece
    and join the cut with the next, two copies of most bytes of a large body."""
    content = request.content
    while True:
        chunk = await content.readany()
        if not chunk:
            return
        yield chunk


HASH_BATCH = 1024 * 1024  # bytes of a large body handed to the hashing thread at once


async def _checked(request: GatewayRequest, declared: str) -> AsyncIterator[bytes]:
    """The body, its SHA-256 checked at the end. A large body is hashed by a
    worker thread of its own, fed batch after batch while the next arrives
    (hashlib lets go of the GIL), so the event loop only receives and the
    hash never waits for the loop to hand it its next batch."""
    digest = hashlib.sha256()
    batch: list[bytes] = []
    batched = 0
    worker: BatchWorker | None = None
    try:
        async for chunk in _received(request):
            batch.append(chunk)
            batched += len(chunk)
            if batched >= HASH_BATCH:
                if worker is None:
                    worker = BatchWorker(partial(_update, digest), name="sha256")
                worker.put(batch, batched)
                batch, batched = [], 0
                await worker.room()
            yield chunk
        if worker is not None:
            await worker.finish()
            worker = None
    finally:
        if worker is not None:
            worker.stop()
    _update(digest, batch)
    _check_sha256(digest, declared)


def _check_sha256(digest: Any, declared: str) -> None:
    if digest.hexdigest() != declared:
        raise AWSError(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
            ClientComputedContentSHA256=declared,
            S3ComputedContentSHA256=digest.hexdigest(),
        )


def _update(digest: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        digest.update(chunk)


class Drains(Protocol):
    """A response being written whose buffered bytes can be waited out."""

    async def drain(self) -> None: ...


async def send_file(
    request: GatewayRequest, stream: Drains, f: Any, offset: int, length: int
) -> bool:
    """Send ``length`` bytes of file ``f`` from ``offset`` after ``stream``'s
    headers with sendfile(2): the event loop's own when it has one, else by a
    thread of its own on duplicates of the socket's and the file's descriptors
    (uvloop has none; see ``sendfile.FileSender``). False when neither can be
    used; the caller then copies the bytes itself."""
    await stream.drain()
    transport = request.transport
    if transport is None or transport.get_write_buffer_size():
        return False
    loop = asyncio.get_running_loop()
    try:
        await loop.sendfile(transport, f, offset, length, fallback=False)
        return True
    except NotImplementedError:
        pass
    except RuntimeError:
        return False
    sock = transport.get_extra_info("socket")
    if sock is None or not hasattr(os, "sendfile"):
        return False
    await send(FileSender(os.dup(sock.fileno()), os.dup(f.fileno()), offset, length))
    return True
