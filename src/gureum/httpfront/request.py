"""One request as the lean front parsed it: what the gateway reads of it
(``gureum.gateway.request.GatewayRequest``), its body as an aiohttp
``StreamReader`` (or, for a small body, as the bytes received, handed over
whole once all here: ``whole_body``), and the way back to its connection."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy
from yarl import URL

from gureum.gateway.protocols.base import HttpResponse

if TYPE_CHECKING:
    from .connection import LeanProtocol
    from .direct import DirectBody

_date_second = 0
_date_value = ""


def http_date() -> str:
    global _date_second, _date_value
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_value = formatdate(now, usegmt=True)
    return _date_value


READ_LIMIT = 2**16  # a body's reader pauses the socket above twice this

_fqdn: str | None = None


def _default_host() -> str:
    global _fqdn
    if _fqdn is None:
        _fqdn = socket.getfqdn()
    return _fqdn


class Body(StreamReader):
    """A request body whose first wait for bytes sends ``100 Continue`` when
    the client asked for it."""

    __slots__ = ("on_wait",)

    def __init__(self, protocol: Any, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(protocol, limit, loop=loop)
        self.on_wait: Callable[[], None] | None = None

    async def _wait(self, func_name: str) -> None:
        on_wait = self.on_wait
        if on_wait is not None:
            self.on_wait = None
            on_wait()
        await super()._wait(func_name)


class LeanRequest:
    """One parsed request: what the gateway reads (``GatewayRequest``)."""

    __slots__ = (
        "_body",
        "_conn",
        "_error",
        "_parts",
        "_query",
        "_url",
        "complete",
        "counted",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "raw_path",
        "version",
    )

    def __init__(self, conn: LeanProtocol, method: str, target: str,
                 headers: CIMultiDictProxy[str], version: str, keep_alive: bool) -> None:
        self._conn = conn
        self.method = method
        self.raw_path = target
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self._body: Body | None = None  # the body's reader, once built
        # A small body's bytes as received, while no reader is built for it: most
        # are taken whole (``whole_body``) and never need one.
        self._parts: list[bytes] | None = None
        self._error: BaseException | None = None  # how receiving the body failed
        self.complete = False
        # Counted in flight by the front (``Front.in_flight``): the number its
        # ``request_began`` gave (0: not counted).
        self.counted = 0
        self.expect_continue = False
        self._url: URL | None = None
        self._query: MultiDictProxy[str] | None = None

    # -- the URL, decoded as aiohttp decodes it (yarl), on first use --

    @property
    def url(self) -> URL:
        url = self._url
        if url is None:
            path, _, query = self.raw_path.partition("?")
            url = self._url = URL.build(path=path.partition("#")[0], query_string=query,
                                        encoded=True)
        return url

    @property
    def path(self) -> str:
        raw = self.raw_path
        if "%" not in raw and "?" not in raw and "#" not in raw:
            return raw
        return self.url.path

    @property
    def query_string(self) -> str:
        if "?" not in self.raw_path:
            return ""
        return self.url.query_string

    @property
    def query(self) -> MultiDictProxy[str]:
        query = self._query
        if query is None:
            query = self._query = self.url.query if "?" in self.raw_path else _NO_QUERY
        return query

    @property
    def host(self) -> str:
        return self.headers.get("Host") or _default_host()

    @property
    def remote(self) -> str | None:
        return self._conn.remote

    @property
    def secure(self) -> bool:
        return False

    @property
    def scheme(self) -> str:
        return "http"

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._conn.transport

    @property
    def content(self) -> StreamReader:
        body = self._body
        if body is None:
            if self._parts is None:
                return EMPTY_PAYLOAD
            body = self._reader()
        return body

    def _reader(self) -> Body:
        """The reader of a small body, built when it is first read as a stream:
        what has arrived is in it, the rest goes to it (``receive``)."""
        parts = self._parts
        assert parts is not None
        self._parts = None
        body = self._body = Body(self._conn, READ_LIMIT, self._conn.loop)
        for part in parts:
            body.feed_data(part)
        if self._error is not None:
            body.set_exception(self._error)
        elif self.complete:
            body.feed_eof()
        return body

    def whole_body(self) -> bytes | None:
        """A small plain body (``Content-Length``, no ``Transfer-Encoding``)
        received to its end and not read yet, as its bytes, handed over in one
        step (no reader built); ``None`` when it is not that: read ``content``.
        What is taken is gone: the body is then empty."""
        parts = self._parts
        if parts is None or not self.complete or self._error is not None:
            return None
        self._parts = []
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def receive(self, data: bytes) -> None:
        """Bytes of the body, as they arrive (the connection's parser)."""
        body = self._body
        if body is not None:
            body.feed_data(data)
        elif self._parts is not None:
            self._parts.append(data)

    def received_all(self) -> None:
        """The body has arrived to its end (the connection's parser)."""
        self.complete = True
        if self._body is not None:
            self._body.feed_eof()

    def fail(self, exc: BaseException) -> None:
        """The body can never arrive whole: its reader (if any) raises ``exc``."""
        if self._body is not None:
            self._body.set_exception(exc)
        elif self._parts is not None:
            self._error = exc

    @property
    def can_read_body(self) -> bool:
        if self._parts is not None:
            return not self.complete or self._error is not None or any(self._parts)
        return self._body is not None and not self._body.at_eof()

    @property
    def body_exists(self) -> bool:
        return self._body is not None or self._parts is not None

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        value = self.headers.get("Content-Type")
        if not value:
            return "application/octet-stream"
        return value.partition(";")[0].strip().lower()

    def take_body(self) -> DirectBody | None:
        """The rest of the body for a worker thread to read from the socket
        (``DirectBody``), or ``None``: read it as a stream (``content``)."""
        return self._conn.take_body(self)

    async def read(self) -> bytes:
        if not self.body_exists:
            return b""
        return await self.content.read()

    # -- the answer --

    async def respond(self, response: HttpResponse) -> None:
        await self._conn.write_response(self, response)


_NO_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())
