"""Helpers for the ELB end-to-end tests (no tests here): a gureum per proxy
driver (every ELB test runs on HAProxy and on the built-in proxy), HTTP and
TCP backends
on their own loopback addresses that a test can stop and start again, and
curl through a load balancer's DNS name."""

from __future__ import annotations

import http.server
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from gureum.testing.server import RunningGureum, running_gureum

DRIVERS = ["haproxy", "builtin"]


def gureum_with(driver: str, env: dict[str, str] | None = None) -> Iterator[RunningGureum]:
    """A gureum whose load balancers run on ``driver``; checks that
    /_gureum/health says so."""
    if driver == "haproxy" and shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    with running_gureum(env={"GUREUM_PROXY_DRIVER": driver, **(env or {})}) as g:
        g.client("elbv2").describe_load_balancers()
        assert g.health()["drivers"]["elbv2"] == driver
        yield g


class _Quiet(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # health checks may close with a reset


class Backends:
    """HTTP servers that answer ``<name> <path> <X-Forwarded-For>``; ``/health``
    answers ``health_status[host]`` (200 by default)."""

    def __init__(self) -> None:
        self.servers: dict[tuple[str, int], socketserver.BaseServer] = {}
        self.health_status: dict[str, int] = {}

    def start(self, host: str, port: int = 8080, name: str | None = None) -> None:
        owner = self
        label = name or host

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                status = 200
                if self.path == "/health":
                    status = owner.health_status.get(host, 200)
                xff = self.headers.get("X-Forwarded-For")
                proto = self.headers.get("X-Forwarded-Proto")
                body = f"{label} {self.path} {xff} {proto}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        srv = _Quiet((host, port), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers[(host, port)] = srv

    def start_echo(self, host: str, port: int) -> None:
        class Echo(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                while data := self.request.recv(65536):
                    self.request.sendall(data)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        srv = Server((host, port), Echo)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers[(host, port)] = srv

    def stop(self, host: str, port: int = 8080) -> None:
        srv = self.servers.pop((host, port))
        srv.shutdown()
        srv.server_close()

    def close(self) -> None:
        for host, port in list(self.servers):
            self.stop(host, port)


def curl(url: str, *args: str) -> tuple[int, str]:
    """(status, body) of ``curl url``; status 0 when the connection failed."""
    out = subprocess.run(["curl", "-s", "-m", "5", "-w", "\n%{http_code}", *args, url],
                         capture_output=True, text=True, timeout=10)
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


def client_address(dns_name: str) -> str:
    """The address a client on this host connects to ``dns_name`` from (what a
    load balancer puts in X-Forwarded-For): the load balancer's own address
    in its subnet, or 127.0.0.1 for one on a loopback address."""
    address = socket.gethostbyname(dns_name)
    return "127.0.0.1" if address.startswith("127.") else address


def wait_for(cond: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> float:
    """Poll ``cond`` until true; the seconds it took."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start
