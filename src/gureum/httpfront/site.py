"""The lean front's listening site: an aiohttp ``BaseSite`` whose connections
the lean protocol serves, stopped gracefully by ``runner.cleanup()``."""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp import web

from .connection import KEEPALIVE, Answer, LeanProtocol


class InFlight(Protocol):
    """What counts the requests being handled (the store's commit delay)."""

    def request_began(self) -> int: ...

    def request_ended(self, number: int = 0) -> None: ...


class Front:
    """The lean front of one listening socket: its connections, the gateway
    answer and the aiohttp server that takes the connections it hands over."""

    def __init__(self, answer: Answer, aiohttp_server: web.Server,
                 loop: asyncio.AbstractEventLoop, keepalive: float = KEEPALIVE,
                 in_flight: InFlight | None = None) -> None:
        self.answer = answer
        self.keepalive = keepalive  # seconds an idle connection is kept
        self.aiohttp_server = aiohttp_server
        self.loop = loop
        self.connections: set[LeanProtocol] = set()
        # The gateway's store: a request whose small body is still arriving
        # counts as in flight (see LeanProtocol.on_headers_complete).
        self.in_flight = in_flight

    def protocol(self) -> LeanProtocol:
        return LeanProtocol(self)

    def aiohttp_handler(self) -> asyncio.Protocol:
        return self.aiohttp_server()

    async def shutdown(self, timeout: float) -> None:
        """Close idle connections now, the others once their answer is written."""
        for conn in list(self.connections):
            conn.close_when_idle()
        deadline = self.loop.time() + timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()


class LeanSite(web.BaseSite):
    """A TCP site of an aiohttp ``AppRunner`` whose connections the lean front
    serves (and hands to the runner's aiohttp server when they are not API
    calls); ``runner.cleanup()`` stops it gracefully."""

    __slots__ = (
        "_answer", "_front", "_host", "_in_flight", "_keepalive", "_port", "_reuse_address",
        "_timeout",
    )

    def __init__(self, runner: web.BaseRunner, host: str, port: int, answer: Answer, *,
                 backlog: int = 128, reuse_address: bool | None = None,
                 shutdown_timeout: float = 60.0, keepalive: float = KEEPALIVE,
                 in_flight: InFlight | None = None) -> None:
        super().__init__(runner, backlog=backlog)
        self._in_flight = in_flight
        self._keepalive = keepalive
        self._host = host
        self._port = port
        self._reuse_address = reuse_address
        self._answer = answer
        self._front: Front | None = None
        self._timeout = shutdown_timeout

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        sockets = getattr(self._server, "sockets", None)
        if sockets:
            port: int = sockets[0].getsockname()[1]
            return port
        return self._port

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert isinstance(server, web.Server)
        front = self._front = Front(self._answer, server, loop, self._keepalive,
                                         self._in_flight)
        self._server = await loop.create_server(
            front.protocol, self._host, self._port, backlog=self._backlog,
            reuse_address=self._reuse_address,
        )

    async def stop(self) -> None:
        await super().stop()
        if self._front is not None:
            await self._front.shutdown(self._timeout)
