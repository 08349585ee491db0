"""``LeanRequest.take_body``: a body of known length read by a thread straight
from the socket, on a real lean front. The requests pipelined behind it are
parsed as usual afterwards, 100 Continue is sent when the client waits for
it, a body that is not read to its end closes the connection, and a chunked
body is never handed over."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import uvloop
from aiohttp import web

from gureum.gateway.protocols.base import HttpResponse
from gureum.httpfront import LeanRequest, LeanSite


class Answers:
    """``/take``: the body read by a thread via take_body, answered with its
    MD5 (``?half``: only half of it read); ``/echo``: read as a stream."""

    def __init__(self) -> None:
        self.taken: list[bool] = []

    async def __call__(self, request: LeanRequest) -> HttpResponse:
        if request.path == "/take":
            direct = request.take_body()
            self.taken.append(direct is not None)
            if direct is None:
                data = await request.content.read()
                return HttpResponse(200, {"X-Taken": "no"}, hashlib.md5(data).hexdigest().encode())
            want = direct.length // 2 if "half" in request.query else direct.length

            def receive() -> bytes:
                buf = bytearray(want)
                view = memoryview(buf)
                got = 0
                while got < want:
                    got += direct.receive_into(view[got:])
                return bytes(buf)

            try:
                data = await asyncio.to_thread(receive)
            finally:
                direct.close()
            return HttpResponse(200, {"X-Taken": "yes"}, hashlib.md5(data).hexdigest().encode())
        data = await request.content.read()
        return HttpResponse(200, {}, b"echo " + data)


async def _page(request: web.Request) -> web.Response:
    return web.Response(text="aiohttp")


@contextlib.asynccontextmanager
async def serving(answers: Answers) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _page)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = LeanSite(runner, "127.0.0.1", 0, answers, shutdown_timeout=5.0)
    await site.start()
    try:
        yield site.port
    finally:
        await runner.cleanup()


async def read_answers(reader: asyncio.StreamReader, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` answers (head, body) read off one connection."""
    out = []
    for _ in range(count):
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        out.append((head, await asyncio.wait_for(reader.readexactly(length), 20)))
    return out


def run(test: object) -> Answers:
    answers = Answers()

    async def main() -> None:
        async with serving(answers) as port:
            await asyncio.wait_for(test(port), 60)  # type: ignore[operator]

    uvloop.run(main())
    return answers


def test_requests_pipelined_behind_a_taken_body_are_answered() -> None:
    body = os.urandom(3 * 1024 * 1024 + 11)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /take HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
                     + body
                     + b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                     + b"PUT /take HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        await writer.drain()
        answers = await read_answers(reader, 3)
        writer.close()
        assert b"X-Taken: yes" in answers[0][0]
        assert answers[0][1] == hashlib.md5(body).hexdigest().encode()
        assert answers[1][1] == b"echo hello"
        # A body already all received is read as a stream.
        assert answers[2][1] == hashlib.md5(b"abc").hexdigest().encode()

    answers = run(test)
    assert answers.taken == [True, False]


def test_100_continue_is_sent_before_a_taken_body() -> None:
    body = os.urandom(2 * 1024 * 1024)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /take HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(body)
        await writer.drain()
        [(head, answer)] = await read_answers(reader, 1)
        writer.close()
        assert b"X-Taken: yes" in head and answer == hashlib.md5(body).hexdigest().encode()

    run(test)


def test_a_taken_body_left_half_read_closes_the_connection() -> None:
    body = os.urandom(2 * 1024 * 1024)

    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /take?half HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                     % len(body) + body + b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        [(head, answer)] = await read_answers(reader, 1)
        assert b"Connection: close" in head
        assert answer == hashlib.md5(body[:len(body) // 2]).hexdigest().encode()
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert b"echo" not in rest  # what followed was never parsed as a request

    run(test)


def test_a_chunked_body_is_not_taken(tmp_path: Path) -> None:
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /take HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n0\r\n\r\n")
        await writer.drain()
        [(head, answer)] = await read_answers(reader, 1)
        writer.close()
        assert b"X-Taken: no" in head and answer == hashlib.md5(b"abc").hexdigest().encode()

    assert run(test).taken == [False]


def test_a_direct_body_closed_while_a_thread_reads_it_stops_the_thread_and_closes_its_fd() -> None:
    import socket
    import threading

    import pytest

    from gureum.httpfront.direct import DirectBody

    class Conn:
        ended: list[bool] = []

        def end_direct(self, request: object, received_all: bool) -> None:
            self.ended.append(received_all)

    ours, client = socket.socketpair()
    ours.setblocking(False)
    try:
        fd = os.dup(ours.fileno())
        body = DirectBody(Conn(), None, fd, b"", 10)  # type: ignore[arg-type]
        errors: list[Exception] = []

        def read() -> None:
            try:
                body.receive_into(memoryview(bytearray(10)))
            except ConnectionResetError as e:
                errors.append(e)

        reader = threading.Thread(target=read)
        reader.start()
        client.sendall(b"")  # nothing arrives: the thread waits in poll
        reader.join(0.1)
        body.close()  # gureum lets go of the body (say the request was cancelled)
        reader.join(5)
        assert not reader.is_alive() and errors
        assert Conn.ended == [False]
        with pytest.raises(OSError):
            os.fstat(fd)  # the thread's own descriptor is closed once it left
        os.fstat(ours.fileno())  # the connection's own is not the thread's to close
    finally:
        ours.close()
        client.close()
