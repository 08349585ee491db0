"""One client connection of the lean front: httptools parses, requests are
answered in order by the gateway, answers are written to the socket, and a
request that is not an API call hands the connection to aiohttp."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Generator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from gureum.gateway.body import send_file
from gureum.gateway.protocols.base import HttpResponse
from gureum.gateway.sendfile import SEND_BUFFER, FileSender, local_peer, send
from gureum.services.base import FileBody

from .direct import DirectBody
from .request import READ_LIMIT, Body, LeanRequest, http_date

if TYPE_CHECKING:
    from .site import Front

log = logging.getLogger("gureum.http")

MAX_HEAD = 256 * 1024  # bytes of a request line and headers
KEEPALIVE = 75.0  # seconds an idle keep-alive connection is kept (as aiohttp)
SMALL_FILE = 256 * 1024  # file bodies up to this size leave with their headers
# ``Expect: 100-continue`` with a body up to this size is answered as soon as the
# headers are read, not when the body is first awaited: the client sends its
# body while the request is authenticated and parsed, and the body is mostly
# there by the time it is read (one wait for the socket fewer; bench/s3's 4 KiB
# PUT ~6% less server CPU). A request refused meanwhile costs at most this many
# bytes read and dropped; larger bodies still wait until they are asked for.
EARLY_CONTINUE = 64 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
FILE_CHUNK = 1 << 20
# Seconds a connection closed on a refused request still reads, and drops, what
# the client sends: closing with input unread makes the kernel reset the
# connection, and a reset throws away the answer waiting in the client's buffer.
LINGER = 2.0

_REASONS = {s.value: s.phrase for s in HTTPStatus}

Answer = Callable[[LeanRequest], Awaitable[HttpResponse]]


class _Handover(Exception):
    """Raised in a parser callback to stop parsing: aiohttp takes the connection."""


class LeanProtocol(asyncio.Protocol):
    """One client connection, served by the lean front until (maybe) handed over."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.loop = front.loop
        self.transport: asyncio.Transport | None = None
        self.remote: str | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._queue: deque[LeanRequest | None] = deque()  # None: a malformed request
        self._task: asyncio.Task[None] | None = None  # serving, suspended in an await
        self._serving = False  # requests are being answered (or are about to be)
        self._feeding = False  # in data_received: serving starts once the chunk is parsed
        self._due = False  # serving is to start when the parser is done with the chunk
        self._current: LeanRequest | None = None  # the request being answered
        self._parsing: LeanRequest | None = None  # the request whose body arrives
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._chunk = b""
        self._head_chunks: list[bytes] = []
        self._in_head = False
        self._begin_mid = False
        self._completed_in_chunk = 0
        self._handover_bytes: bytes | None = None
        self._broken = False  # a malformed request was read: nothing more is parsed
        self._lingering = False  # answered and shut for writing: input is dropped
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._small_sndbuf = False  # SO_SNDBUF set for large answers (FileSender)
        self._discarding: LeanRequest | None = None  # answered; the rest of its body is dropped
        self._direct: LeanRequest | None = None  # its body is read by a thread: socket left alone
        self._cut_short: LeanRequest | None = None  # its body was left part read by a thread
        self._closing = False  # shutting down: close after the answer in flight
        self._peer_done = False  # the client shut its side: close once all is answered
        self._idle_since = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr = cast(asyncio.Transport, transport)
        self.transport = tr
        sock = tr.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        peer = tr.get_extra_info("peername")
        if isinstance(peer, tuple | list) and peer:
            self.remote = str(peer[0])
        self.front.connections.add(self)
        self._idle_since = self.loop.time()
        self._idle_timer = self.loop.call_later(self.front.keepalive, self._idle_check)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.front.connections.discard(self)
        self.transport = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        lost = ConnectionResetError("the client closed the connection")
        for request in (self._parsing, self._current):
            if request is not None and request.body_exists and not request.complete:
                request.fail(lost)
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            self._drain_waiter = None
            waiter.set_exception(lost)
        for request in (self._current, *self._queue):
            if request is not None and request.counted:
                self._end_count(request)  # never answered: its count ends here
        self._queue.clear()

    def _end_count(self, request: LeanRequest) -> None:
        """End the count of ``request`` in flight that the front took at its head."""
        number, request.counted = request.counted, 0
        if self.front.in_flight is not None:
            self.front.in_flight.request_ended(number)

    def data_received(self, data: bytes) -> None:
        self._feeding = True
        try:
            self._feed(data)
        finally:
            self._feeding = False
        if self._due:
            self._due = False
            self._drive()

    def _feed(self, data: bytes) -> None:
        if self._broken:
            return
        self._chunk = data
        if self._in_head:
            self._head_chunks.append(data)
        self._completed_in_chunk = 0
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if self._handover_bytes is None:
                log.exception("HTTP front: a parser callback failed")
                self._bad_request()
                return
            self._pause()
            if not self._serving:
                self._hand_over()
        except httptools.HttpParserUpgrade:
            self._bad_request()  # upgrades are handed over at their head
        except httptools.HttpParserError:
            self._bad_request()
            return
        if self._in_head and sum(map(len, self._head_chunks)) > MAX_HEAD:
            self._head_chunks = []
            self._bad_request()  # a head this long is no client's

    def eof_received(self) -> bool | None:
        if self._lingering:
            return None  # the client has read the answer and closed: close too
        request = self._parsing
        if request is not None and request.body_exists and not request.complete:
            # The body can never be complete: nothing more is answered.
            request.fail(ConnectionResetError("the body ended early"))
            return None
        if self._serving or self._queue:
            self._peer_done = True  # the client has sent all: answer, then close
            return True
        return None  # close the transport

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- flow control, as aiohttp's StreamReader asks for it --

    @property
    def connected(self) -> bool:
        return self.transport is not None

    def pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self._pause()

    def resume_reading(self, resume_parser: bool = True) -> None:
        if self._reading_paused and self._direct is None:
            self._reading_paused = False
            if self.transport is not None and self._handover_bytes is None and not self._broken:
                try:
                    self.transport.resume_reading()
                except (AttributeError, NotImplementedError, RuntimeError):
                    pass

    def _pause(self) -> None:
        if self.transport is not None:
            try:
                self.transport.pause_reading()
            except (AttributeError, NotImplementedError, RuntimeError):
                pass

    async def drain(self) -> None:
        if self.transport is None or self.transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        if self._write_paused:
            waiter = self._drain_waiter = self.loop.create_future()
            await waiter

    # -- a large body read by a thread (``DirectBody``) --

    def take_body(self, request: LeanRequest) -> DirectBody | None:
        """The rest of ``request``'s body for a thread to read from the socket,
        or ``None`` when it cannot be (no length, already read, not the body
        arriving now): then it is read as a stream."""
        body = request._body
        transport = self.transport
        if (body is None or request.complete or request is not self._parsing
                or transport is None or self._broken or self._handover_bytes is not None
                or self._direct is not None or body.exception() is not None
                or "Transfer-Encoding" in request.headers):
            return None
        length = request.content_length
        sock = transport.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
        if length is None or fd < 0 or body.total_bytes > length:
            return None
        on_wait = body.on_wait
        if on_wait is not None:  # the client waits for 100 Continue before sending
            body.on_wait = None
            on_wait()
        self._direct = request
        self._pause()
        prefix = body.read_nowait(-1)
        return DirectBody(self, request, os.dup(fd), prefix, length - body.total_bytes)

    def end_direct(self, request: LeanRequest, received_all: bool) -> None:
        """The thread is done with the socket: a body read to its end completes
        the request (a fresh parser reads what follows); one left part way
        leaves the stream at an unknown place, so no further request is read."""
        if self._direct is not request:
            return
        self._direct = None
        body = request._body
        if not received_all:
            request.keep_alive = False
            self._broken = True
            self._cut_short = request  # answered, then closed lingering (see _after)
            if body is not None and not request.complete:
                body.set_exception(ConnectionResetError("the body was not read to its end"))
            return
        request.complete = True
        if self._parsing is request:
            self._parsing = None
        self._parser = httptools.HttpRequestParser(self)
        if body is not None:
            body.feed_eof()
        self._reading_paused = False
        if self.transport is not None and not self._broken:
            try:
                self.transport.resume_reading()
            except (AttributeError, NotImplementedError, RuntimeError):
                pass

    # -- parser callbacks --

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_chunks = [self._chunk]
        self._begin_mid = self._completed_in_chunk > 0
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        self._in_head = False
        parser = self._parser
        method = parser.get_method().decode("ascii", "surrogateescape")
        target = self._url.decode("utf-8", "surrogateescape")
        headers = CIMultiDictProxy(CIMultiDict(self._headers))
        if _for_aiohttp(method, target, headers, parser.should_upgrade()):
            self._handover_bytes = self._raw_from_begin(method)
            raise _Handover
        self._head_chunks = []
        request = LeanRequest(self, method, target, headers, parser.get_http_version(),
                              parser.should_keep_alive())
        small = False
        if "Transfer-Encoding" in headers or headers.get("Content-Length", "0") != "0":
            length = request.content_length
            small = (length is not None and length <= EARLY_CONTINUE
                     and "Transfer-Encoding" not in headers)
            expect = headers.get("Expect", "").lower() == "100-continue"
            if small and (self.transport or not expect):
                # Kept as received, handed over whole (``LeanRequest.whole_body``)
                # or, if read as a stream, fed to a reader built then.
                request._parts = []
                if expect and self.transport:
                    self.transport.write(CONTINUE)
            else:
                small = False
                body = request._body = Body(self, READ_LIMIT, self.loop)
                if expect:
                    request.expect_continue = True
                    body.on_wait = lambda: self._continue(request)
        self._parsing = request
        self._queue.append(request)
        if not self._serving:
            if small:
                # A small body is answered once it is all here (on_message_complete):
                # started now, the answer would wait for it in a task of its own,
                # one suspension and wake-up more per request. Meanwhile it counts
                # as in flight, as it would while answered, so a WAL sync may wait
                # for its writes (the store's commit delay).
                self._idle_since = 0.0
                if self.front.in_flight is not None:
                    # (The gateway takes the count over.)
                    request.counted = self.front.in_flight.request_began()
            else:
                self._start()

    def on_body(self, body: bytes) -> None:
        request = self._parsing
        if request is None or request is self._discarding:
            return
        request.receive(body)

    def on_message_complete(self) -> None:
        self._completed_in_chunk += 1
        request = self._parsing
        if request is not None:
            request.received_all()
            if request is self._discarding:
                self._discarding = None
        self._parsing = None
        if self._queue and not self._serving:
            self._start()  # a small body's request, held until its body was read

    # -- serving --

    def _start(self) -> None:
        self._idle_since = 0.0
        self._serving = True
        if self._feeding:
            self._due = True  # (answered once the chunk is parsed: see _drive)
        else:
            self._task = self.loop.create_task(self._serve())

    def _drive(self) -> None:
        """Answer the queued requests, after the chunk that completed the first
        was parsed, as a task would a loop pass later. A request without a body
        is answered right here, with no task of its own, until it awaits
        something (a WAL sync, say): then a task carries on from that await.
        One with a body starts as a task (its writes join the store's group
        commit, which a task's identity marks)."""
        first = self._queue[0] if self._queue else None
        if first is not None and first.body_exists:
            self._task = self.loop.create_task(self._serve())
            return
        context = contextvars.copy_context()
        coro = self._serve()
        try:
            awaited = context.run(coro.send, None)
        except StopIteration:
            return
        self._task = self.loop.create_task(_carry_on(coro, awaited), context=context)

    async def _serve(self) -> None:
        try:
            while self._queue and self.transport is not None:
                request = self._queue.popleft()
                if request is None:
                    self._write_error(400)
                    return
                self._current = request
                try:
                    try:
                        response = await self.front.answer(request)
                    finally:
                        if request.counted:
                            # Answered without the gateway's count (not an API
                            # call, say): the front's ends with the answer.
                            self._end_count(request)
                    await self.write_response(request, response)
                except (ConnectionError, asyncio.CancelledError):
                    self._abort()
                    return
                except Exception:
                    log.exception("HTTP front: answering %s %s failed",
                                  request.method, request.raw_path)
                    self._write_error(500)
                    return
                if not self._after(request):
                    return
        finally:
            self._task = None
            self._serving = False
            self._current = None
        if self.transport is None or self.transport.is_closing() or self._lingering:
            return
        if self._handover_bytes is not None:
            self._hand_over()
        elif self._closing or self._peer_done:
            self.transport.close()
        else:
            self._idle_since = self.loop.time()

    def _after(self, request: LeanRequest) -> bool:
        """After an answer: whether the connection serves its next request."""
        transport = self.transport
        if transport is None:
            return False
        if request is self._cut_short:
            # The client may still be sending the body: closing now would reset
            # the connection and lose the answer in its buffer.
            self._close_lingering()
            return False
        if not request.keep_alive or self._closing:
            transport.close()
            return False
        if not request.complete:
            if _unasked_body(request):
                # Answered before asking for the body: the client sends none.
                transport.close()
                return False
            # The rest of the body arrives and is dropped before the next request.
            self._discarding = request
            if self._reading_paused:
                self.resume_reading()
        return True

    def _continue(self, request: LeanRequest) -> None:
        if self.transport is not None and not request.complete:
            self.transport.write(CONTINUE)

    def _bad_request(self) -> None:
        self._broken = True
        self._pause()
        if self._parsing is not None and self._parsing.body_exists \
                and not self._parsing.complete:
            self._parsing.fail(ConnectionResetError("malformed request"))
        self._queue.append(None)
        if not self._serving:
            self._start()

    def _write_error(self, status: int) -> None:
        transport = self.transport
        if transport is None:
            return
        reason = _REASONS.get(status, "Error")
        body = f"{status} {reason}".encode()
        transport.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nDate: {http_date()}\r\nConnection: close\r\n\r\n"
            .encode() + body
        )
        self._close_lingering()

    def _close_lingering(self) -> None:
        """Close after the answer has gone, reading and dropping input meanwhile.

        The write side is shut (the client reads the answer, then its end), and
        the socket is read until the client closes or ``LINGER`` seconds pass,
        so that no unread input makes the kernel reset the connection."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._broken = True
        self._lingering = True
        try:
            transport.write_eof()
            transport.resume_reading()
        except (OSError, RuntimeError, NotImplementedError, AttributeError):
            transport.close()
            return
        self.loop.call_later(LINGER, self._end_linger)

    def _end_linger(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self.transport is None:
            return
        since = self._idle_since
        keepalive = self.front.keepalive
        if since and not self._serving and self.loop.time() - since >= keepalive:
            self.transport.close()
            return
        delay = keepalive if not since else keepalive - (self.loop.time() - since)
        delay = max(delay, keepalive / 75)
        self._idle_timer = self.loop.call_later(delay, self._idle_check)

    def close_when_idle(self) -> None:
        """Graceful shutdown: close now if idle, else after the answer in flight."""
        self._closing = True
        if not self._serving and not self._queue and self.transport is not None:
            self.transport.close()

    # -- handing the connection to aiohttp --

    def _raw_from_begin(self, method: str) -> bytes:
        """The bytes received from the first byte of the request being parsed
        on (with everything received after it)."""
        raw = b"".join(self._head_chunks)
        self._head_chunks = []
        if not self._begin_mid:
            return raw
        # Pipelined behind other requests in one read: find its request line.
        needle = method.encode() + b" " + self._url + b" "
        start = raw.find(needle)
        return raw[start:] if start >= 0 else raw

    def _hand_over(self) -> None:
        transport = self.transport
        data = self._handover_bytes
        if transport is None or data is None:
            return
        self._handover_bytes = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self.front.connections.discard(self)
        handler = self.front.aiohttp_handler()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        try:
            transport.resume_reading()
        except (AttributeError, NotImplementedError, RuntimeError):
            pass
        if data:
            handler.data_received(data)

    # -- writing answers --

    async def write_response(self, request: LeanRequest, response: HttpResponse) -> None:
        transport = self.transport
        if transport is None:
            raise ConnectionResetError("the client closed the connection")
        body = response.body
        head_only = request.method == "HEAD"
        headers = response.headers
        status = response.status
        if isinstance(body, bytes | bytearray):
            length = None if head_only and "Content-Length" in headers else len(body)
            head = self._head(request, status, headers, length, False)
            if head_only or not body or status in (204, 304):
                transport.write(head)
            else:
                transport.write(head + body)
            return
        if isinstance(body, FileBody):
            await self._write_file(request, response, body)
            return
        if isinstance(body, AsyncIterable):
            await self._write_stream(request, status, headers, body, head_only)
            return
        raise TypeError(f"unsupported response body: {type(body).__name__}")

    def _head(self, request: LeanRequest, status: int, headers: dict[str, str],
              length: int | None, chunked: bool) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n"]
        for name, value in headers.items():
            low = name.lower()
            if low in _FRAMING:
                if low == "content-length" and length is None and not chunked:
                    lines.append(f"{name}: {value}\r\n")
                continue
            lines.append(f"{name}: {value}\r\n")
        if length is not None and status not in (204, 304) and status >= 200:
            lines.append(f"Content-Length: {length}\r\n")
        if chunked:
            lines.append("Transfer-Encoding: chunked\r\n")
        if "Date" not in headers:
            lines.append(f"Date: {http_date()}\r\n")
        if not request.keep_alive or self._closing or (
                not request.complete and _unasked_body(request)):
            # (closed after this answer: said, so no client sends its next
            # request on it; botocore would read that request's answer with
            # the status of this early one)
            lines.append("Connection: close\r\n")
        elif request.version == "1.0":
            lines.append("Connection: keep-alive\r\n")
        lines.append("\r\n")
        text = "".join(lines)
        if text.count("\n") != len(lines):
            raise ValueError("a response header holds a line break")
        return text.encode("utf-8", "surrogateescape")

    async def _write_stream(self, request: LeanRequest, status: int, headers: dict[str, str],
                            body: AsyncIterable[bytes], head_only: bool) -> None:
        transport = self.transport
        assert transport is not None
        known = "Content-Length" in headers
        chunked = not known and not head_only and request.version != "1.0"
        if not known and not chunked and not head_only:
            request.keep_alive = False  # the end of the body is the end of the connection
        transport.write(self._head(request, status, headers, None, chunked))
        if head_only:
            return
        async for chunk in body:
            if not chunk:
                continue
            if self.transport is None or transport.is_closing():
                raise ConnectionResetError("the client closed the connection")
            if chunked:
                transport.writelines((f"{len(chunk):x}\r\n".encode(), chunk, b"\r\n"))
            else:
                transport.write(chunk)
            if self._write_paused:
                await self.drain()
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def _write_file(self, request: LeanRequest, response: HttpResponse,
                          body: FileBody) -> None:
        transport = self.transport
        assert transport is not None
        length = body.length if body.length is not None else body.path.stat().st_size - body.offset
        head_only = request.method == "HEAD"
        if length <= SMALL_FILE and not head_only:
            with body.path.open("rb") as f:
                f.seek(body.offset)
                data = f.read(length)
            transport.write(self._head(request, response.status, response.headers,
                                       len(data), False) + data)
            return
        transport.write(self._head(request, response.status, response.headers, length, False))
        if head_only:
            return
        with body.path.open("rb") as f:
            if await self._send_direct(f, body.offset, length):
                return
            if await send_file(request, self, f, body.offset, length):
                return
            f.seek(body.offset)
            left = length
            while left > 0:
                chunk = f.read(min(left, FILE_CHUNK))
                if not chunk:
                    break
                left -= len(chunk)
                if self.transport is None or transport.is_closing():
                    raise ConnectionResetError("the client closed the connection")
                transport.write(chunk)
                if self._write_paused:
                    await self.drain()

    async def _send_direct(self, f: Any, offset: int, length: int) -> bool:
        """Send a large file answer's bytes from a worker thread (``FileSender``,
        which says why); False when the socket cannot be had."""
        await self.drain()
        transport = self.transport
        if transport is None or transport.get_write_buffer_size():
            return False
        sock = transport.get_extra_info("socket")
        if sock is None or sock.fileno() < 0:
            return False
        if not self._small_sndbuf and local_peer(sock):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
            self._small_sndbuf = True
        await send(FileSender(os.dup(sock.fileno()), os.dup(f.fileno()), offset, length))
        return True


async def _carry_on(coro: Coroutine[Any, Any, None], awaited: Any) -> None:
    """The rest of a coroutine that was stepped by hand until it awaited
    ``awaited``, run by the task this is (cancelling the task cancels it)."""
    await _Resumed(coro, awaited)


class _Resumed:
    """Hands a suspended coroutine's awaits to the task awaiting this."""

    __slots__ = ("_awaited", "_coro")

    def __init__(self, coro: Coroutine[Any, Any, None], awaited: Any) -> None:
        self._coro = coro
        self._awaited = awaited

    def __await__(self) -> Generator[Any, None, None]:
        coro = self._coro
        value = self._awaited
        self._awaited = None
        while True:
            try:
                yield value
            except BaseException as exc:  # thrown in by the task (a cancellation)
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(None)
                except StopIteration:
                    return


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})


def _for_aiohttp(method: str, target: str, headers: CIMultiDictProxy[str],
                 upgrade: bool) -> bool:
    """Whether aiohttp's application answers this request (not the gateway)."""
    if target.startswith("/_gureum") or not target.startswith("/"):
        return True
    if upgrade or "Upgrade" in headers or method == "CONNECT":
        return True
    if method == "POST" and "?" not in target and "Authorization" not in headers:
        ctype = headers.get("Content-Type", "")
        return ctype.partition(";")[0].strip().lower() == "multipart/form-data"
    return False


def _unasked_body(request: LeanRequest) -> bool:
    """Whether the client still holds back the body (``Expect: 100-continue``)
    and was never asked for it: an answer now is final, and the connection
    cannot carry another request (what follows on it is unknown)."""
    body = request._body
    return request.expect_continue and body is not None and body.on_wait is not None
