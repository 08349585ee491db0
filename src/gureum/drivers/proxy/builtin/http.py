"""HTTP listeners of the built-in proxy, as asyncio protocols.

A client connection parses each request head, picks the action of the first
matching rule and either answers itself (fixed response, redirect, 503 when no
target is healthy) or forwards the request, with ``X-Forwarded-For``,
``-Proto`` and ``-Port``, to a server of the chosen backend over a kept-alive
server connection that belongs to this client connection. Bodies of either
side are relayed as they arrive, framed by Content-Length, chunked encoding or
the end of the connection; requests on one connection are answered in order.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from .pools import Pool, ServerState
from .rules import Request, choose, location

if TYPE_CHECKING:
    from .runtime import Front

HEAD_LIMIT = 64 * 1024
BUFFER_LIMIT = 256 * 1024
SERVER_TIMEOUT = 60.0
RETRIES = 3  # as HAProxy's default
NONE, LENGTH, CHUNKED, CLOSE = range(4)
IDLE, BODY, WAIT, CLOSED = range(4)
FRAMING = re.compile(rb"\r\n(content-length|transfer-encoding|connection)[ \t]*:([^\r]*)",
                     re.IGNORECASE)
CONNECTION = re.compile(rb"\r\nconnection[ \t]*:[^\r]*", re.IGNORECASE)
UNAVAILABLE = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n"


class Framer:
    """Where a message body ends: a length, chunked encoding, or the close."""

    __slots__ = ("_chunk", "_line", "done", "left", "mode")

    def __init__(self, mode: int, length: int = 0) -> None:
        self.mode = mode
        self.left = length
        self.done = mode == NONE or (mode == LENGTH and length == 0)
        self._chunk = 0  # chunked: 0 size line, 1 data, 2 CRLF after data, 3 trailer
        self._line = b""

    def feed(self, data: bytes, pos: int = 0) -> int:
        """The end (in ``data``) of the body bytes found from ``pos``."""
        n = len(data)
        if self.mode == LENGTH:
            take = min(self.left, n - pos)
            self.left -= take
            self.done = self.left == 0
            return pos + take
        if self.mode == CLOSE:
            return n
        while pos < n and not self.done:
            if self._chunk in (1, 2):
                take = min(self.left, n - pos)
                pos += take
                self.left -= take
                if self.left == 0:
                    self._chunk, self.left = (2, 2) if self._chunk == 1 else (0, 0)
                continue
            i = data.find(b"\n", pos)
            if i < 0:
                self._line += data[pos:]
                if len(self._line) > 4096:
                    raise ValueError("chunk line too long")
                return n
            line, self._line, pos = self._line + data[pos:i], b"", i + 1
            if self._chunk == 0:
                size = int(line.split(b";", 1)[0].strip() or b"x", 16)
                self._chunk, self.left = (3, 0) if size == 0 else (1, size)
            elif not line.strip():
                self.done = True
        return pos


def parse_head(head: bytes, client: str) -> tuple[Request, Framer, str | None]:
    """The request, its body's framer and its Connection header, read with
    one pass of a regex over the head; ValueError when it is not HTTP/1.x."""
    end = head.find(b"\r\n")
    parts = (head if end < 0 else head[:end]).decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError("bad request line")
    req = Request(parts[0], parts[1], parts[2], head, client)
    length = connection = None
    chunked = False
    for m in FRAMING.finditer(head):
        name = m.group(1).lower()
        if name == b"content-length":
            length = m.group(2).strip()
        elif name == b"transfer-encoding":
            chunked = b"chunked" in m.group(2).lower()
        else:
            connection = m.group(2).decode("latin-1").strip()
    if chunked:
        return req, Framer(CHUNKED), connection
    if length is None:
        return req, Framer(NONE), connection
    if not length.isdigit():
        raise ValueError("bad content-length")
    return req, Framer(LENGTH, int(length)), connection


def keep_alive(version: str, connection: str | None) -> bool:
    tokens = (connection or "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def sticky_value(req: Request, cookie: str) -> str | None:
    raw = req.header("cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        k, _, v = part.strip().partition("=")
        if k == cookie:
            return v
    return None


class HttpClient(asyncio.Protocol):
    """One client connection of an HTTP listener."""

    def __init__(self, front: Front) -> None:
        self.front = front
        self.tally = front.proxy.tally
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.state = IDLE
        self.ip = ""
        self.keep = True
        self.last = time.monotonic()
        self.started = 0.0
        self.upstreams: dict[str, Upstream] = {}  # idle server connections
        self.current: Upstream | None = None
        self.request: Request | None = None
        self.framer = Framer(NONE)
        self.retries = 0
        self.paused = False
        self.tls_headers = b""  # the connection's TLS version and cipher headers

    # -- the client side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        peer = transport.get_extra_info("peername")
        self.ip = peer[0] if peer else ""
        names = self.front.listener.tls_request_headers
        tls = transport.get_extra_info("ssl_object") if names else None
        if names and tls is not None:
            cipher = tls.cipher()
            self.tls_headers = (f"\r\n{names[0]}: {tls.version()}\r\n{names[1]}: "
                                f"{cipher[0] if cipher else ''}").encode("latin-1")
        self.tally.connections += 1
        self.tally.active += 1
        self.front.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = CLOSED
        self.tally.active -= 1
        self.front.conns.discard(self)
        if self.current is not None:
            self.current.abandon()
        for u in list(self.upstreams.values()):
            u.close()
        self.upstreams.clear()

    def pause_writing(self) -> None:
        if self.current is not None and self.current.transport is not None:
            self.current.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.current is not None and self.current.transport is not None:
            self.current.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        self.last = time.monotonic()
        self.tally.bytes_in += len(data)
        if self.state == BODY:
            self._body(data)
            return
        self.buf += data
        if self.state == IDLE:
            self._next()
        elif len(self.buf) > BUFFER_LIMIT and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and self.state != CLOSED:
            self.tally.bytes_out += len(data)
            self.transport.write(data)

    def _next(self) -> None:
        while self.state == IDLE and self.buf:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(self.buf) > HEAD_LIMIT:
                    self.keep = False
                    self.own(431)
                return
            head = bytes(self.buf[:i])
            del self.buf[:i + 4]
            try:
                req, self.framer, connection = parse_head(head, self.ip)
                self._handle(req, connection)
            except ValueError:  # a malformed request line or header
                self.keep = False
                self.own(400)
                return

    def _handle(self, req: Request, connection: str | None) -> None:
        front = self.front
        self.tally.requests += 1
        self.request = req
        self.retries = 0
        self.keep = keep_alive(req.version, connection)
        action = choose(front.rules, front.listener.default, req) if front.rules \
            else front.listener.default
        if action.kind != "forward":
            if not self.framer.done:
                self.keep = False  # the body is not read: the connection ends
            if action.kind == "redirect":
                url = location(action.location, req, front.listener.port, front.tls)
                self.own(action.status, headers=[("Location", url)])
            else:
                self.own(action.status, action.body.encode(), action.content_type)
            return
        pool = front.pool_for(action)
        if not self._forward(pool, req):
            if not self.framer.done:
                self.keep = False
            self.own(503, UNAVAILABLE, "text/html")

    def _forward(self, pool: Pool | None, req: Request, avoid: ServerState | None = None
                 ) -> bool:
        if pool is None:
            return False
        cookie = pool.spec.sticky_cookie
        wanted = sticky_value(req, cookie) if cookie else None
        server = pool.pick(wanted)
        if server is avoid and server is not None:
            server = pool.pick()  # another, if there is one (else a new connection)
        if server is None:
            return False
        set_cookie = None
        if cookie and wanted != server.spec.name:
            set_cookie = (f"{cookie}={server.spec.name}; Max-Age={pool.spec.sticky_seconds};"
                          " Path=/").encode()
        head = self.upstream_head(req)
        u = self.upstreams.pop(server.spec.name, None)
        if u is None or u.server is not server or u.closed:
            if u is not None:
                u.close()
            u = Upstream(self, server)
            u.connect()
        self.current = u
        self.started = time.monotonic()
        u.begin(req, head, set_cookie)
        if self.framer.done:
            self.state = WAIT
        else:
            self.state = BODY
            if self.buf:
                data = bytes(self.buf)
                self.buf.clear()
                self._body(data)
        return True

    def upstream_head(self, req: Request) -> bytes:
        front = self.front
        if b"x-forwarded-" not in req.head.lower():  # the usual case: only additions
            return (req.head + b"\r\nX-Forwarded-For: " + self.ip.encode() + b"\r\n"
                    + front.forwarded_bytes + self.tls_headers + b"\r\n\r\n")
        out = [f"{req.method} {req.target} {req.version}"]
        xff = None
        for k, v in req.headers:
            low = k.lower()
            if low == "x-forwarded-for":
                xff = v if xff is None else f"{xff}, {v}"
            elif low != "x-forwarded-proto" and low != "x-forwarded-port":
                out.append(f"{k}: {v}")
        out.append(f"X-Forwarded-For: {xff}, {self.ip}" if xff else
                   f"X-Forwarded-For: {self.ip}")
        out.append(front.forwarded)
        return ("\r\n".join(out)).encode("latin-1") + self.tls_headers + b"\r\n\r\n"

    def _body(self, data: bytes) -> None:
        try:
            end = self.framer.feed(data)
        except ValueError:
            self.close()
            return
        if self.current is not None:
            self.current.send(data[:end])
        if self.framer.done:
            self.state = WAIT
            if end < len(data):
                self.buf += data[end:]

    def own(self, status: int, body: bytes = b"", content_type: str = "text/plain",
            headers: Iterable[tuple[str, str]] = ()) -> None:
        """Answer the current request from the proxy itself."""
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}", "Server: awselb/2.0",
                 f"Content-Length: {len(body)}"]
        if body:
            lines.append(f"Content-Type: {content_type}")
        lines += [f"{k}: {v}" for k, v in (*headers, *self.front.listener.response_headers)]
        if not self.keep:
            lines.append("Connection: close")
        if self.request is not None and self.request.method == "HEAD":
            body = b""
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.tally.response(status)
        if not self.keep:
            self.close()
        else:
            self.state = IDLE

    def close(self) -> None:
        self.state = CLOSED
        if self.transport is not None:
            self.transport.close()

    # -- what the server connection reports

    def done(self, u: Upstream, status: int, reusable: bool) -> None:
        self.tally.response(status)
        self.current = None
        if reusable and u.server.pool.servers.get(u.server.spec.name) is u.server:
            old = self.upstreams.pop(u.server.spec.name, None)
            if old is not None:
                old.close()
            self.upstreams[u.server.spec.name] = u
        else:
            u.close()
        if not self.keep or self.state == CLOSED:
            self.close()
            return
        self.state = IDLE
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        self._next()

    def failed(self, u: Upstream, fresh: bool) -> None:
        """The server connection ended before any response byte."""
        self.current = None
        req = self.request
        if self.state == CLOSED or req is None:
            return
        if self.state == WAIT and self.framer.mode == NONE and self.retries < RETRIES:
            # A server that refuses or was killed, or a kept-alive connection
            # it had closed: try again, on another server when there is one.
            self.retries += 1
            if self._forward(u.server.pool, req, avoid=u.server):
                return
        if self.state == BODY:
            self.keep = False
        self.own(503 if fresh else 502, UNAVAILABLE if fresh else b"", "text/html")

    def expire(self, now: float) -> None:
        """Close an idle connection; answer 504 to a request the server sits on."""
        if self.state == IDLE and not self.buf:
            if now - self.last > self.front.listener.idle_timeout:
                self.close()
        elif self.state == WAIT and now - self.started > SERVER_TIMEOUT:
            u = self.current
            if u is not None and not u.answered:
                u.abandon()
                self.current = None
                self.keep = False
                self.own(504)


class Upstream(asyncio.Protocol):
    """A connection to one server, owned by one client connection."""

    def __init__(self, owner: HttpClient, server: ServerState) -> None:
        self.owner = owner
        self.server = server
        self.tally = server.pool.tally
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.client: HttpClient | None = None
        self.buf = bytearray()
        self.framer = Framer(NONE)
        self.head = True
        self.closed = False
        self.fresh = True  # no response yet on this connection
        self.answered = False
        self.keep = True
        self.status = 0
        self.method = "GET"
        self.set_cookie: bytes | None = None
        self.started = 0.0
        self.task: asyncio.Future[Any] | None = None

    def connect(self) -> None:
        spec = self.server.spec
        loop = asyncio.get_running_loop()
        task: asyncio.Future[Any] = asyncio.ensure_future(
            loop.create_connection(lambda: self, spec.host, spec.port,
                                   local_addr=(spec.source, 0) if spec.source else None))
        task.add_done_callback(self._connected)
        self.task = task

    def _connected(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self.closed = True
            self._lost()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = t = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        self.tally.connections += 1
        if self.closed:
            transport.close()
        elif self.pending:
            t.writelines(self.pending)
            self.pending.clear()

    def pause_writing(self) -> None:
        if self.client is not None and self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client is not None and self.client.transport is not None:
            self.client.transport.resume_reading()

    def begin(self, req: Request, head: bytes, set_cookie: bytes | None) -> None:
        self.client = self.owner
        self.method = req.method
        self.set_cookie = set_cookie
        self.head, self.answered = True, False
        self.buf.clear()
        self.server.active += 1
        self.tally.active += 1
        self.tally.requests += 1
        self.tally.bytes_in += len(head)
        self.started = time.monotonic()
        self.send(head)

    def send(self, data: bytes) -> None:
        if not data:
            return
        if self.transport is not None:
            self.transport.write(data)
        else:
            self.pending.append(data)

    def data_received(self, data: bytes) -> None:
        c = self.client
        if c is None:
            self.close()  # nothing was asked
            return
        self.tally.bytes_out += len(data)
        if not self.head:
            self._body(c, data, 0, b"")
            return
        if self.buf:
            self.buf += data
            data = bytes(self.buf)
            self.buf.clear()
        while self.head:
            i = data.find(b"\r\n\r\n")
            if i < 0:
                if len(data) > HEAD_LIMIT:
                    self.close()
                else:
                    self.buf += data
                return
            out = self._head(c, data[:i + 2])
            if out is None:
                self.close()
                return
            data = data[i + 4:]
            if self.head:  # an interim 1xx answer; the final one follows
                c.write(out)
                continue
            self._body(c, data, 0, out)

    def _head(self, c: HttpClient, head: bytes) -> bytes | None:
        """What to send the client for a response head (None: not HTTP)."""
        sp = head.find(b" ")
        status_text = head[sp + 1:sp + 4]
        if sp < 0 or not status_text.isdigit():
            return None
        status = int(status_text)
        if 100 <= status < 200 and status != 101:
            return head + b"\r\n"
        self.status = status
        self.answered = True
        self.head = False
        self.tally.took(time.monotonic() - self.started)
        length = chunked = connection = None
        for m in FRAMING.finditer(head):
            name = m.group(1).lower()
            if name == b"content-length":
                length = m.group(2).strip()
            elif name == b"transfer-encoding":
                chunked = b"chunked" in m.group(2).lower()
            else:
                connection = m.group(2).decode("latin-1").strip()
        version = head[:sp].decode("latin-1")
        self.keep = keep_alive(version, connection)
        # Connection is hop-by-hop: the server's says what becomes of the server
        # connection; the client is told what becomes of its own.
        if connection is not None:
            head = CONNECTION.sub(b"", head)
        if self.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self.framer = Framer(NONE)
        elif chunked:
            self.framer = Framer(CHUNKED)
        elif length is not None:
            if not length.isdigit():
                return None
            self.framer = Framer(LENGTH, int(length))
        else:
            self.framer = Framer(CLOSE)
            self.keep = False
            c.keep = False
        if self.set_cookie is not None:
            head += b"Set-Cookie: " + self.set_cookie + b"\r\n"
        front = c.front
        if front.replaced is not None:
            head = front.replaced.sub(b"", head) + front.response_headers
        if not c.keep:
            head += b"Connection: close\r\n"
        elif version == "HTTP/1.0" or c.request is None or c.request.version == "HTTP/1.0":
            head += b"Connection: keep-alive\r\n"
        return head + b"\r\n"

    def _body(self, c: HttpClient, data: bytes, pos: int, prefix: bytes) -> None:
        try:
            end = self.framer.feed(data, pos)
        except ValueError:
            self.close()
            return
        if end > pos:
            c.write(prefix + data[pos:end] if prefix else data[pos:end])
        elif prefix:
            c.write(prefix)
        if self.framer.done:
            self._finish(c, self.keep and end == len(data))

    def _finish(self, c: HttpClient, reusable: bool) -> None:
        self.client = None
        self.fresh = False
        self.head = True
        self.server.active -= 1
        self.tally.active -= 1
        self.tally.response(self.status)
        c.done(self, self.status, reusable and not self.closed)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._lost()

    def _lost(self) -> None:
        owner = self.owner
        if owner.upstreams.get(self.server.spec.name) is self:
            del owner.upstreams[self.server.spec.name]
        c = self.client
        if c is None:
            return
        if not self.head and self.framer.mode == CLOSE:
            c.keep = False
            self._finish(c, False)
            return
        self.client = None
        self.server.active -= 1
        self.tally.active -= 1
        if self.answered:
            c.close()  # cut in the middle of its body
        else:
            c.failed(self, self.fresh)

    def abandon(self) -> None:
        """The client went away (or gave up): drop this request and connection."""
        if self.client is not None:
            self.client = None
            self.server.active -= 1
            self.tally.active -= 1
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        elif self.task is not None:
            self.task.cancel()
