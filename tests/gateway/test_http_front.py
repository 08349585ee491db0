"""The lean HTTP/1.1 front (``gureum.httpfront``) on a real socket, with raw
and http.client clients: keep-alive, pipelining, 100-continue, chunked bodies,
HEAD, malformed requests, hand-over to aiohttp, flow control, disconnects and
graceful shutdown. The gateway is replaced by small answers."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiohttp import web

from gureum.config import Settings
from gureum.gateway.protocols.base import HttpResponse
from gureum.httpfront import LeanRequest, LeanSite
from gureum.services.base import FileBody

FILE_SIZE = 3 * 1024 * 1024 + 17


class Answers:
    """The stand-in gateway: one answer per path, and what it saw."""

    def __init__(self, tmp: Path) -> None:
        self.file = tmp / "blob"
        self.file.write_bytes(bytes(range(256)) * (FILE_SIZE // 256) + b"x" * (FILE_SIZE % 256))
        self.max_buffered = 0
        self.read_bytes = 0
        self.errors: list[BaseException] = []
        self.finished: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, request: LeanRequest) -> HttpResponse:
        try:
            return await self._answer(request)
        finally:
            self.finished.append(request.path)

    async def _answer(self, request: LeanRequest) -> HttpResponse:
        path = request.path
        if path == "/echo":
            try:
                body = await request.content.read()
            except ConnectionError as exc:
                self.errors.append(exc)
                raise
            headers = {"X-Query": request.query.get("q", ""), "X-Method": request.method}
            return HttpResponse(200, headers, body)
        if path == "/noread":
            return HttpResponse(403, {"X-Answer": "early"}, b"denied")
        if path == "/stream":
            async def chunks() -> AsyncIterator[bytes]:
                for i in range(5):
                    yield f"part{i};".encode()
            return HttpResponse(200, {}, chunks())
        if path == "/file":
            return HttpResponse(200, {"Content-Type": "application/octet-stream"},
                                FileBody(self.file))
        if path == "/slow":
            reader = request.content
            async for chunk in reader.iter_chunked(64 * 1024):
                self.read_bytes += len(chunk)
                self.max_buffered = max(self.max_buffered, reader._size)
                await asyncio.sleep(0.0005)
            return HttpResponse(200, {}, str(self.read_bytes).encode())
        if path == "/sleepy":
            await asyncio.sleep(0.2)
            return HttpResponse(200, {}, b"slept")
        if path == "/hang":
            await self.release.wait()
            return HttpResponse(200, {}, b"late")
        return HttpResponse(404, {}, b"no such path")


async def _aiohttp_page(request: web.Request) -> web.Response:
    body = await request.read()
    return web.Response(text=f"aiohttp {request.method} {request.path} {len(body)}")


@contextlib.asynccontextmanager
async def serving(answers: Answers, keepalive: float = 75.0
                  ) -> AsyncIterator[tuple[int, web.AppRunner]]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _aiohttp_page)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = LeanSite(runner, "127.0.0.1", 0, answers, shutdown_timeout=5.0, keepalive=keepalive)
    await site.start()
    try:
        yield site.port, runner
    finally:
        answers.release.set()
        await runner.cleanup()


def run(test: Callable[[Answers, int], Awaitable[None]], tmp: Path) -> Answers:
    answers_box: list[Answers] = []

    async def main() -> None:
        answers = Answers(tmp)
        answers_box.append(answers)
        async with serving(answers) as (port, _runner):
            await asyncio.wait_for(test(answers, port), 60)

    uvloop.run(main())
    return answers_box[0]


def in_thread(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    return asyncio.to_thread(fn, *args)


async def raw_exchange(port: int, data: bytes, *, close_after: bool = False) -> bytes:
    """Send ``data`` and read until the server closes (or 2 s of silence)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    if close_after:
        writer.write_eof()
    out = b""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), 2)
            if not chunk:
                break
            out += chunk
    except TimeoutError:
        pass
    writer.close()
    return out


def _get(port: int, requests: list[tuple[str, str, bytes | None, dict[str, str]]]
         ) -> list[tuple[int, dict[str, str], bytes]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for method, path, body, headers in requests:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        out.append((r.status, dict(r.getheaders()), r.read()))
    sock = conn.sock
    conn.close()
    assert sock is None or sock.fileno() == -1
    return out


def test_keep_alive_answers_several_requests_on_one_connection(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        results = await in_thread(_get, port, [
            ("PUT", "/echo?q=a+b%2F", b"hello", {}),
            ("GET", "/echo", None, {}),
            ("GET", "/stream", None, {}),
            ("GET", "/file", None, {}),
        ])
        (s1, h1, b1), (s2, _, b2), (_s3, h3, b3), (_s4, h4, b4) = results
        assert (s1, b1, h1["X-Query"], h1["X-Method"]) == (200, b"hello", "a b/", "PUT")
        assert "Date" in h1 and h1["Content-Length"] == "5"
        assert (s2, b2) == (200, b"")
        assert h3["Transfer-Encoding"] == "chunked"
        assert b3 == b"part0;part1;part2;part3;part4;"
        assert int(h4["Content-Length"]) == FILE_SIZE
        assert b4 == answers.file.read_bytes()

    run(test, tmp_path)


def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        data = b"".join(
            f"POST /echo?q={i} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(str(i))}\r\n\r\n{i}"
            .encode() for i in range(20)
        ) + b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        out = await raw_exchange(port, data)
        assert out.count(b"HTTP/1.1 200 OK") == 21
        bodies = [part.split(b"\r\n\r\n", 1)[1] for part in out.split(b"HTTP/1.1 ")[1:]]
        assert bodies == [str(i).encode() for i in range(20)] + [b""]

    run(test, tmp_path)


def test_pipelined_answers_that_wait_or_stream_keep_their_order(tmp_path: Path) -> None:
    # Requests without a body are answered as their chunk is parsed, each
    # written at once, until one waits (/sleepy) or streams (/stream): the
    # rest follow in order after it, a body's request among them.
    async def test(answers: Answers, port: int) -> None:
        paths = ["/echo?q=1", "/missing", "/sleepy", "/echo?q=2", "/stream", "/missing",
                 "/echo?q=3"]
        data = b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths)
        data += b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
        data += b"HEAD /echo?q=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        out = await raw_exchange(port, data)
        heads = [part.split(b"\r\n", 1)[0] for part in out.split(b"HTTP/1.1 ")[1:]]
        assert heads == [b"200 OK", b"404 Not Found", b"200 OK", b"200 OK", b"200 OK",
                         b"404 Not Found", b"200 OK", b"200 OK", b"200 OK"]
        assert b"\r\n\r\nslept" in out and b"part0;\r\n" in out and b"part4;\r\n0\r\n" in out
        assert out.endswith(b"Connection: close\r\n\r\n")  # (HEAD: no body)
        assert answers.finished == [p.partition("?")[0] for p in paths] + ["/echo", "/echo"]

    run(test, tmp_path)


def test_expect_100_continue_is_sent_when_the_body_is_read(tmp_path: Path) -> None:
    body = bytes(range(256)) * 400  # (above the size whose 100 Continue is sent at once)

    async def test(answers: Answers, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                     b"Expect: 100-continue\r\n\r\n" % len(body))
        line = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert line == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert await reader.readexactly(len(body)) == body
        writer.close()

    run(test, tmp_path)


def test_a_small_body_is_asked_for_at_once_and_dropped_if_unread(tmp_path: Path) -> None:
    """Up to 64 KiB, ``100 Continue`` goes out with the headers read, before
    the handler runs; a handler that answers without reading the body leaves
    the connection usable: the body that follows is dropped."""
    async def test(answers: Answers, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /hang HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        # (/hang answers only once released: the 100 came before the handler did)
        line = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert line == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"body")
        answers.release.set()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert await reader.readexactly(4) == b"late"
        writer.write(b"PUT /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        line = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert line == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"12345GET /echo?q=next HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 403 Forbidden")
        assert b"Connection: close" not in head
        assert await reader.readexactly(6) == b"denied"
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK") and b"X-Query: next" in head
        writer.close()

    run(test, tmp_path)


def test_an_answer_before_the_body_sends_no_100_continue_and_closes(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        out = await raw_exchange(port, b"PUT /noread HTTP/1.1\r\nHost: x\r\n"
                                       b"Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert b"100 Continue" not in out
        # The answer says the connection closes, as it does: a client must not
        # send its next request on it (botocore, which has read this answer's
        # status early, would give the next request this status).
        assert b"\r\nConnection: close\r\n" in out.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        assert out.endswith(b"denied")  # and the server closed the connection

    run(test, tmp_path)


def test_an_unread_body_is_dropped_before_the_next_request(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        body = b"z" * 300_000
        results = await in_thread(_get, port, [
            ("POST", "/noread", body, {}),
            ("POST", "/echo", b"next", {}),
        ])
        assert [(s, b) for s, _, b in results] == [(403, b"denied"), (200, b"next")]

    run(test, tmp_path)


def test_chunked_request_bodies_are_decoded(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        out = await raw_exchange(
            port,
            b"PUT /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        assert out.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Connection: close" in out
        assert out.endswith(b"\r\n\r\nhello world")

    run(test, tmp_path)


def test_head_carries_the_length_and_no_body(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        results = await in_thread(_get, port, [
            ("HEAD", "/file", None, {}),
            ("GET", "/echo", None, {}),
        ])
        (s1, h1, b1), (s2, _, b2) = results
        assert (s1, int(h1["Content-Length"]), b1) == (200, FILE_SIZE, b"")
        assert (s2, b2) == (200, b"")
        # Raw: nothing follows the head of a HEAD answer.
        out = await raw_exchange(port, b"HEAD /file HTTP/1.1\r\nHost: x\r\n"
                                       b"Connection: close\r\n\r\n")
        assert out.endswith(b"\r\n\r\n")
        assert f"Content-Length: {FILE_SIZE}".encode() in out

    run(test, tmp_path)


def test_http_1_0_is_answered_and_closed(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        out = await raw_exchange(port, b"GET /stream HTTP/1.0\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Transfer-Encoding" not in out
        assert out.endswith(b"part0;part1;part2;part3;part4;")
        # A client that shuts its side after sending still gets its answers.
        out = await raw_exchange(port, b"GET /sleepy HTTP/1.1\r\nHost: x\r\n\r\n"
                                       b"GET /stream HTTP/1.0\r\n\r\n", close_after=True)
        assert b"\r\n\r\nslept" in out
        assert out.startswith(b"HTTP/1.1 200 OK\r\n")
        assert out.endswith(b"part0;part1;part2;part3;part4;")

    run(test, tmp_path)


def test_malformed_requests_get_400_and_close(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        out = await raw_exchange(
            port, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\nBLAH \x00\x01 nonsense\r\n\r\n"
        )
        assert out.startswith(b"HTTP/1.1 200 OK")
        assert out.count(b"HTTP/1.1 ") == 2
        assert b"HTTP/1.1 400 Bad Request\r\n" in out
        out = await raw_exchange(port, b"PUT /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        endless = b"GET /echo HTTP/1.1\r\n" + b"X-Pad: " + b"p" * 300_000
        out = await raw_exchange(port, endless)
        assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")

    run(test, tmp_path)


def test_console_and_form_uploads_are_handed_to_aiohttp(tmp_path: Path) -> None:
    async def test(answers: Answers, port: int) -> None:
        form = (b"--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XX--\r\n")
        results = await in_thread(_get, port, [
            ("GET", "/_gureum/health", None, {}),
            ("GET", "/_gureum/again", None, {}),
        ])
        assert [b for _, _, b in results] == [b"aiohttp GET /_gureum/health 0",
                                              b"aiohttp GET /_gureum/again 0"]
        out = await in_thread(_get, port, [
            ("POST", "/bucket", form, {"Content-Type": "multipart/form-data; boundary=XX"}),
        ])
        assert out[0][2] == f"aiohttp POST /bucket {len(form)}".encode()
        # A signed multipart POST is an API call.
        out = await in_thread(_get, port, [
            ("POST", "/echo", form, {"Content-Type": "multipart/form-data; boundary=XX",
                                     "Authorization": "AWS4-HMAC-SHA256 ..."}),
        ])
        assert out[0][2] == form
        # Pipelined behind API calls in one write: answers stay in order.
        data = (b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
                b"GET /_gureum/x HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /_gureum/y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = await raw_exchange(port, data)
        assert raw.count(b"HTTP/1.1 200 OK") == 3, raw
        assert raw.index(b"\r\n\r\none") < raw.index(b"aiohttp GET /_gureum/x 0") \
            < raw.index(b"aiohttp GET /_gureum/y 0")

    run(test, tmp_path)


def test_a_large_body_is_held_back_while_a_slow_handler_reads(tmp_path: Path) -> None:
    size = 24 * 1024 * 1024

    def put() -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port_box[0], timeout=60)
        conn.putrequest("PUT", "/slow")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        block = b"b" * (1 << 20)
        for _ in range(size // len(block)):
            conn.send(block)
        r = conn.getresponse()
        return r.status, r.read()

    port_box: list[int] = []

    async def test(answers: Answers, port: int) -> None:
        port_box.append(port)
        status, body = await in_thread(put)
        assert (status, body) == (200, str(size).encode())
        # The reader's buffer stayed near its high-water mark (one socket read
        # may land beyond it), never the whole body.
        assert 0 < answers.max_buffered <= 2 * 1024 * 1024

    run(test, tmp_path)


def test_a_client_leaving_mid_body_fails_the_read_and_leaves_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test(answers: Answers, port: int) -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial")
        await writer.drain()
        await asyncio.sleep(0.1)  # the handler waits for the rest of the body
        assert answers.finished == []
        writer.close()
        while "/echo" not in answers.finished:
            await asyncio.sleep(0.01)
        assert isinstance(answers.errors[0], ConnectionResetError)
        # A handler that is not reading finishes; its answer goes nowhere.
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await asyncio.sleep(0.1)
        answers.release.set()
        while "/hang" not in answers.finished:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [t for t in tasks if "_serve" in repr(t.get_coro())]

    with caplog.at_level(logging.WARNING):
        run(test, tmp_path)
    assert not [r for r in caplog.records if r.name.startswith("gureum")]


def test_shutdown_closes_idle_connections_and_lets_answers_finish(tmp_path: Path) -> None:
    async def main() -> None:
        answers = Answers(tmp_path)
        async with serving(answers) as (port, runner):
            idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
            idle_w.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            await idle_r.readuntil(b"\r\n\r\n")
            busy_r, busy_w = await asyncio.open_connection("127.0.0.1", port)
            busy_w.write(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            await busy_w.drain()
            await asyncio.sleep(0.1)
            cleanup = asyncio.ensure_future(runner.cleanup())
            assert await asyncio.wait_for(idle_r.read(), 5) == b""  # closed
            answers.release.set()
            answer = await asyncio.wait_for(busy_r.read(), 5)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"Connection: close" in answer and answer.endswith(b"late")
            await cleanup
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            idle_w.close()
            busy_w.close()

    uvloop.run(main())


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_time(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        answers = Answers(tmp_path)
        async with serving(answers, keepalive=0.3) as (port, _runner):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = asyncio.get_running_loop().time()
            for _ in range(3):  # requests keep it open
                writer.write(b"GET /sleepy HTTP/1.1\r\nHost: x\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                assert head.startswith(b"HTTP/1.1 200 OK")
                assert await reader.readexactly(5) == b"slept"
            assert asyncio.get_running_loop().time() - started > 0.6
            assert await asyncio.wait_for(reader.read(), 5) == b""  # then closed when idle
            idle_for = asyncio.get_running_loop().time() - started
            assert idle_for < 0.6 + 0.3 + 1.0
            writer.close()

    uvloop.run(main())


def test_gureum_http_chooses_the_front() -> None:
    assert Settings.load(env={}).http == "lean"
    assert Settings.load(env={"GUREUM_HTTP": "aiohttp"}).http == "aiohttp"
    with pytest.raises(ValueError, match="GUREUM_HTTP"):
        Settings.load(env={"GUREUM_HTTP": "nginx"})


def _send_all_then_read(port: int, data: bytes) -> bytes:
    """Send all of ``data`` without reading, then read the answer to its end."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_a_refused_request_keeps_reading_until_its_answer_is_read(tmp_path: Path) -> None:
    # A connection closed with input unread sends the client a reset, which
    # throws away the answer still waiting in its buffer: the client must
    # see the 400, not "connection reset by peer".
    async def test(answers: Answers, port: int) -> None:
        for size in (300_000, 2_000_000):
            endless = b"GET /echo HTTP/1.1\r\nX-Pad: " + b"p" * size
            out = await in_thread(_send_all_then_read, port, endless)
            assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
            garbage = b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01 junk " + b"j" * size
            out = await in_thread(_send_all_then_read, port, garbage)
            assert out.startswith(b"HTTP/1.1 200 OK")
            assert b"HTTP/1.1 400 Bad Request\r\n" in out

    run(test, tmp_path)


class _Counter:
    """A stand-in for the store's count of requests in flight."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.began = 0
        self.ended: list[int] = []

    def request_began(self) -> int:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.began += 1
        return self.began

    def request_ended(self, number: int = 0) -> None:
        self.in_flight -= 1
        self.ended.append(number)


class _CountingGateway:
    """Answers as the gateway does with the front's count: takes it over and
    ends it once answered."""

    def __init__(self) -> None:
        self.store = _Counter()
        self.seen: list[tuple[bool, bytes]] = []

    async def answer(self, request: LeanRequest) -> HttpResponse:
        if request.path == "/other":  # not an API call: the count is not taken over
            return HttpResponse(200, {}, await request.content.read())
        counted = request.counted
        request.counted = 0
        body = await request.content.read()
        self.seen.append((bool(counted), body))
        if counted:
            self.store.request_ended(counted)
        return HttpResponse(200, {}, body)


def test_a_small_body_is_answered_once_all_here_and_counted_in_flight_meanwhile(
    tmp_path: Path,
) -> None:
    """A request with a small body is answered once its body has arrived; while
    it arrives the request counts as in flight (a WAL sync may wait for it),
    and a client that leaves before sending it leaves no count behind."""
    gateway = _CountingGateway()

    async def main() -> None:
        app = web.Application()
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = LeanSite(runner, "127.0.0.1", 0, gateway.answer, shutdown_timeout=5.0,
                        in_flight=gateway.store)
        await site.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
            writer.write(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                         b"Expect: 100-continue\r\n\r\n")
            line = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert line == b"HTTP/1.1 100 Continue\r\n\r\n"
            await asyncio.sleep(0.05)
            assert gateway.seen == [] and gateway.store.in_flight == 1
            writer.write(b"bo")
            await asyncio.sleep(0.05)
            assert gateway.seen == []
            writer.write(b"dy")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert await reader.readexactly(4) == b"body"
            assert gateway.seen == [(True, b"body")] and gateway.store.in_flight == 0
            writer.write(b"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert await reader.readexactly(3) == b"abc"
            assert gateway.store.in_flight == 0 and gateway.store.most == 1
            writer.write(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\npart")
            await writer.drain()
            await asyncio.sleep(0.05)
            assert gateway.store.in_flight == 1
            writer.close()
            for _ in range(200):
                if gateway.store.in_flight == 0:
                    break
                await asyncio.sleep(0.01)
            assert gateway.store.in_flight == 0
            assert len(gateway.seen) == 1
            # Each count ended with the number it began with, whoever ended it.
            assert gateway.store.ended == [1, 2, 3]
        finally:
            await runner.cleanup()

    uvloop.run(main())
