"""TCP listeners of the built-in proxy: each accepted connection is relayed,
both ways, to one available server of the listener's backend."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, cast

from .pools import ServerState

if TYPE_CHECKING:
    from .runtime import Front


class TcpClient(asyncio.Protocol):
    def __init__(self, front: Front) -> None:
        self.front = front
        self.tally = front.proxy.tally
        self.transport: asyncio.Transport | None = None
        self.peer: TcpServer | None = None
        self.last = time.monotonic()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = t = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        self.tally.connections += 1
        self.tally.active += 1
        self.tally.requests += 1
        self.front.conns.add(self)
        pool = self.front.pool_for(self.front.listener.default)
        server = pool.pick() if pool is not None else None
        if server is None:
            t.abort()
            return
        self.peer = TcpServer(self, server)
        self.peer.connect()

    def data_received(self, data: bytes) -> None:
        self.last = time.monotonic()
        self.tally.bytes_in += len(data)
        if self.peer is not None:
            self.peer.tally.bytes_in += len(data)
            if self.peer.transport is not None:
                self.peer.transport.write(data)
            else:  # until the server connection is up
                self.peer.pending.append(data)

    def eof_received(self) -> bool:
        if self.peer is not None:
            if self.peer.transport is not None:
                self.peer.transport.write_eof()
            else:
                self.peer.eof = True
        return True

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.tally.active -= 1
        self.front.conns.discard(self)
        if self.peer is not None:
            self.peer.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def expire(self, now: float) -> None:
        if now - self.last > self.front.listener.idle_timeout:
            self.close()


class TcpServer(asyncio.Protocol):
    def __init__(self, client: TcpClient, server: ServerState) -> None:
        self.client = client
        self.server = server
        self.tally = server.pool.tally
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Future[Any] | None = None
        self.counted = False
        self.pending: list[bytes] = []
        self.eof = False

    def connect(self) -> None:
        loop = asyncio.get_running_loop()
        spec = self.server.spec
        task: asyncio.Future[Any] = asyncio.ensure_future(
            loop.create_connection(lambda: self, spec.host, spec.port,
                                   local_addr=(spec.source, 0) if spec.source else None))
        task.add_done_callback(self._connected)
        self.task = task

    def _connected(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self.client.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = t = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        self.counted = True
        self.server.active += 1
        self.tally.active += 1
        self.tally.requests += 1
        self.tally.connections += 1
        if self.client.closed:
            transport.close()
            return
        if self.pending:
            t.writelines(self.pending)
            self.pending.clear()
        if self.eof:
            t.write_eof()

    def data_received(self, data: bytes) -> None:
        self.client.last = time.monotonic()
        self.tally.bytes_out += len(data)
        self.client.tally.bytes_out += len(data)
        if self.client.transport is not None:
            self.client.transport.write(data)

    def eof_received(self) -> bool:
        if self.client.transport is not None and not self.client.closed:
            self.client.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            self.counted = False
            self.server.active -= 1
            self.tally.active -= 1
        self.client.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        elif self.task is not None:
            self.task.cancel()
