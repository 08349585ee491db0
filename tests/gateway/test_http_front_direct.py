"""The lean front answers a request without a body right where its bytes were
parsed, with no task of its own, and hands the rest to a task only when the
answer awaits something: what each answer saw of ``asyncio.current_task()``,
answers in order across that hand-over, context variables kept per serving,
a request with a body served in a task, and a connection closed while an
answer waits."""

from __future__ import annotations

import asyncio
import contextvars
from pathlib import Path

import uvloop

from gureum.gateway.protocols.base import HttpResponse
from gureum.httpfront import LeanRequest

from .test_http_front import Answers, raw_exchange, serving

_seen: contextvars.ContextVar[str | None] = contextvars.ContextVar("seen", default=None)


class Tasks(Answers):
    """Answers that note whether a task ran them, before and after an await."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.tasks: list[tuple[str, bool, bool]] = []
        self.leaked: list[str] = []

    async def _answer(self, request: LeanRequest) -> HttpResponse:
        before = asyncio.current_task() is not None
        earlier = _seen.get()
        if earlier is not None:
            self.leaked.append(earlier)
        _seen.set(request.raw_path)
        path = request.path
        if path == "/plain":
            self.tasks.append((request.raw_path, before, before))
            return HttpResponse(200, {}, request.raw_path.encode())
        if path == "/wait":
            await asyncio.sleep(0.05)
            after = asyncio.current_task() is not None
            self.tasks.append((request.raw_path, before, after))
            assert _seen.get() == request.raw_path
            return HttpResponse(200, {}, request.raw_path.encode())
        if path == "/body":
            body = await request.content.read()
            self.tasks.append((request.raw_path, before, asyncio.current_task() is not None))
            return HttpResponse(200, {}, body)
        return await super()._answer(request)


def _run(test: object, tmp: Path) -> Tasks:
    box: list[Tasks] = []

    async def main() -> None:
        answers = Tasks(tmp)
        box.append(answers)
        async with serving(answers) as (port, _runner):
            await asyncio.wait_for(test(answers, port), 60)  # type: ignore[operator]

    uvloop.run(main())
    return box[0]


def _bodies(out: bytes) -> list[bytes]:
    return [part.split(b"\r\n\r\n", 1)[1] for part in out.split(b"HTTP/1.1 ")[1:]]


def test_a_request_without_a_body_is_answered_without_a_task(tmp_path: Path) -> None:
    async def test(answers: Tasks, port: int) -> None:
        out = await raw_exchange(
            port, b"GET /plain?1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"/plain?1")
        assert answers.tasks == [("/plain?1", False, False)]

    _run(test, tmp_path)


def test_an_answer_that_awaits_carries_on_in_a_task_and_answers_stay_in_order(
        tmp_path: Path) -> None:
    async def test(answers: Tasks, port: int) -> None:
        paths = ["/plain?1", "/wait?2", "/plain?3", "/wait?4", "/plain?5"]
        data = b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths)
        out = await raw_exchange(
            port, data + b"GET /plain?6 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert _bodies(out) == [p.encode() for p in [*paths, "/plain?6"]]
        # The first answers run with no task until one awaits; from then on
        # the task that took over serves the rest of the queue.
        assert answers.tasks == [
            ("/plain?1", False, False), ("/wait?2", False, True), ("/plain?3", True, True),
            ("/wait?4", True, True), ("/plain?5", True, True), ("/plain?6", True, True),
        ]

    _run(test, tmp_path)


def test_a_request_with_a_body_is_served_in_a_task(tmp_path: Path) -> None:
    async def test(answers: Tasks, port: int) -> None:
        out = await raw_exchange(port, b"PUT /body HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                                       b"Connection: close\r\n\r\nabcd")
        assert out.startswith(b"HTTP/1.1 200 OK\r\n") and out.endswith(b"abcd")
        assert answers.tasks == [("/body", True, True)]

    _run(test, tmp_path)


def test_keep_alive_requests_one_at_a_time_each_start_without_a_task(tmp_path: Path) -> None:
    async def test(answers: Tasks, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i, path in enumerate(["/wait", "/plain", "/wait", "/plain"]):
            writer.write(f"GET {path}?{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            assert await reader.readexactly(length) == f"{path}?{i}".encode()
        writer.close()
        assert answers.tasks == [("/wait?0", False, True), ("/plain?1", False, False),
                                 ("/wait?2", False, True), ("/plain?3", False, False)]
        # Each saw none of the context variables the one before it set (those
        # pipelined behind one another share their serving's context, as before).
        assert answers.leaked == []

    _run(test, tmp_path)


def test_a_client_gone_while_an_answer_waits_is_cleaned_up(tmp_path: Path) -> None:
    async def test(answers: Tasks, port: int) -> None:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.close()
        await asyncio.sleep(0.1)
        answers.release.set()
        for _ in range(100):
            if "/hang" in answers.finished:
                break
            await asyncio.sleep(0.01)
        assert "/hang" in answers.finished
        # The server still answers other connections.
        out = await raw_exchange(
            port, b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert out.endswith(b"/plain")

    _run(test, tmp_path)
