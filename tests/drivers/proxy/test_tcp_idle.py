"""A TCP listener's idle timeout on both real proxy drivers: a connection
idle in both directions is closed after it, longer than the proxies' HTTP
default (HAProxy's server side too), and one that keeps talking is not."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.drivers.proxy import Action, Backend, Check, Listener, ProxySpec, Server

from .test_drivers import make_driver, wait_for  # noqa: F401  (make_driver: a fixture)

HOST = "127.211.7"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer((f"{HOST}.1", 9090), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"{HOST}.1"
    server.shutdown()
    server.server_close()


def test_tcp_idle_timeout(tmp_path: Path, echo: str, make_driver: type) -> None:  # noqa: F811
    driver = make_driver(tmp_path)
    runner = asyncio.Runner()
    pool = Backend("echo", "tcp", (Server("e", echo, 9090),),
                   Check(protocol="tcp", interval=0.3, timeout=0.3, rise=1, fall=2))
    port = 18090
    spec = ProxySpec("nlb", f"{HOST}.100", (Listener(
        port, "tcp", Action("forward", (("echo", 1),)), idle_timeout=2.0),), (pool,))

    async def states() -> set[str]:
        return {h.state for h in (await driver.health("nlb")).get("echo", {}).values()}

    try:
        runner.run(driver.apply(spec))
        wait_for(lambda: runner.run(states()) == {"healthy"})
        with socket.create_connection((f"{HOST}.100", port), timeout=10) as s:
            for _ in range(3):  # talking every second: kept open past the timeout
                time.sleep(1.0)
                s.sendall(b"ping")
                assert s.recv(100) == b"ping"
            last_talk = time.monotonic()  # the timeout counts from here
            assert s.recv(100) == b""  # idle: closed by the proxy
            assert 1.5 < time.monotonic() - last_talk < 6
    finally:
        runner.run(driver.remove("nlb"))
        runner.close()
