"""Both real proxy drivers (HAProxy processes, the built-in asyncio proxy)
against real HTTP backends, the same tests for each:
round robin over healthy servers, a killed backend dropped by its checks and
taken back when it returns, rules, reloads that keep health, clean removal."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.client
import http.server
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gureum.drivers import sockdir
from gureum.drivers.proxy import (
    Action,
    Backend,
    BuiltinDriver,
    Check,
    Condition,
    HAProxyDriver,
    Listener,
    ProxyDriver,
    ProxySpec,
    Rule,
    Server,
    available,
)


@pytest.fixture(params=["haproxy", "builtin"])
def make_driver(request: pytest.FixtureRequest) -> Callable[[Path], ProxyDriver]:
    if request.param == "haproxy":
        if not available():
            pytest.skip("haproxy is not installed")
        return HAProxyDriver
    return BuiltinDriver

BASE = "127.211.0"


class Quiet(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # health checks close with a reset


class Backends:
    """Small HTTP servers on 127.211.0.x that answer their own name."""

    def __init__(self) -> None:
        self.servers: dict[str, http.server.ThreadingHTTPServer] = {}

    def start(self, host: str, port: int = 8080, status: int = 200) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = f"{host} {self.path} {self.headers.get('X-Forwarded-For')}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                """Echo ``<host> <bytes received>``, the body Content-Length or chunked."""
                if self.headers.get("Transfer-Encoding") == "chunked":
                    got = 0
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        got += len(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline().strip():
                        pass
                else:
                    got = len(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                body = f"{host} {got}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        srv = Quiet((host, port), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers[host] = srv

    def stop(self, host: str) -> None:
        srv = self.servers.pop(host)
        srv.shutdown()
        srv.server_close()

    def close(self) -> None:
        for host in list(self.servers):
            self.stop(host)


@pytest.fixture
def backends() -> Iterator[Backends]:
    b = Backends()
    yield b
    b.close()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def spec(servers: list[str], rules: tuple[Rule, ...] = (), port: int = 18080) -> ProxySpec:
    check = Check(path="/health", interval=0.3, timeout=0.3, rise=2, fall=2)
    pool = Backend("web", servers=tuple(Server(h.replace(".", "_"), h, 8080) for h in servers),
                   check=check)
    api = Backend("api", servers=(Server("api", f"{BASE}.9", 8080),), check=check)
    return ProxySpec("lb1", f"{BASE}.100", (
        Listener(port, "http", Action("forward", (("web", 1),)), rules),
    ), (pool, api))


def test_round_robin_failover_rules_and_reload(tmp_path: Path, backends: Backends,
                                               make_driver: Callable[[Path], ProxyDriver]
                                               ) -> None:
    hosts = [f"{BASE}.{i}" for i in (1, 2, 3)]
    for h in hosts:
        backends.start(h)
    backends.start(f"{BASE}.9")
    driver = make_driver(tmp_path)
    runner = asyncio.Runner()
    url = f"http://{BASE}.100:18080"

    async def health() -> dict[str, str]:
        return {k: v.state for k, v in (await driver.health("lb1")).get("web", {}).items()}

    def healthy() -> dict[str, str]:
        return runner.run(health())

    try:
        runner.run(driver.apply(spec(hosts)))
        wait_for(lambda: set(healthy().values()) == {"healthy"})
        seen = [get(url + "/x")[1].split()[0] for _ in range(9)]
        assert sorted(seen) == sorted(hosts * 3)
        assert get(url + "/x")[1].split()[2] == "127.0.0.1"  # X-Forwarded-For

        backends.stop(hosts[0])
        start = time.monotonic()
        wait_for(lambda: healthy()[hosts[0].replace(".", "_")] == "unhealthy", 3)
        assert time.monotonic() - start < 0.3 * 2 + 1
        assert {get(url)[1].split()[0] for _ in range(6)} == set(hosts[1:])
        backends.start(hosts[0])
        wait_for(lambda: set(healthy().values()) == {"healthy"}, 5)

        rules = (Rule((Condition("path", ("/api/*",)),), Action("forward", (("api", 1),))),
                 Rule((Condition("header", ("yes",), name="X-Fixed"),),
                      Action("fixed", status=418, body="teapot")),
                 Rule((Condition("path", ("/old",)),),
                      Action("redirect", status=301, location="http://#{host}:#{port}/new")))
        runner.run(driver.apply(spec(hosts, rules)))
        assert set(healthy().values()) == {"healthy"}  # kept across the reload
        assert get(url + "/api/v1")[1].startswith(f"{BASE}.9 ")
        assert get(url + "/api/v1", {"X-Fixed": "yes"})[1].startswith(f"{BASE}.9 ")
        assert get(url + "/other", {"X-Fixed": "yes"}) == (418, "teapot")
        req = urllib.request.Request(url + "/old")
        with contextlib.suppress(urllib.error.HTTPError):
            opener = urllib.request.build_opener(NoRedirect)
            opener.open(req, timeout=5)
        assert NoRedirect.location == f"http://{BASE}.100:18080/new"
    finally:
        runner.run(driver.remove("lb1"))
        runner.close()
    assert not driver.running("lb1")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    location = ""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        NoRedirect.location = headers["Location"]
        return None


def test_counters_and_totals(tmp_path: Path, backends: Backends,
                             make_driver: Callable[[Path], ProxyDriver]) -> None:
    hosts = [f"{BASE}.21", f"{BASE}.22"]
    for h in hosts:
        backends.start(h)
    backends.start(f"{BASE}.9", status=500)
    driver = make_driver(tmp_path)
    runner = asyncio.Runner()
    url = f"http://{BASE}.100:18081"
    rules = (Rule((Condition("path", ("/api/*",)),), Action("forward", (("api", 1),))),
             Rule((Condition("path", ("/fixed",)),), Action("fixed", status=503)))

    async def states() -> set[str]:
        found = await driver.health("lb1")
        return {h.state for servers in found.values() for h in servers.values()}

    base = spec(hosts, rules, port=18081)
    api = base.backends[1]
    # The api server answers 500 to everything, its checks included.
    api = dataclasses.replace(api, check=dataclasses.replace(api.check, codes=(500,)))
    try:
        runner.run(driver.apply(dataclasses.replace(base, backends=(base.backends[0], api))))
        wait_for(lambda: runner.run(states()) == {"healthy"})
        assert runner.run(driver.totals("lb1")).requests == 0
        for _ in range(6):
            assert get(url + "/x")[0] == 200
        for _ in range(2):
            assert get(url + "/api/x")[0] == 500
        assert get(url + "/fixed")[0] == 503
        counters = runner.run(driver.counters("lb1"))
        assert counters["web"].requests == 6
        assert counters["web"].responses["2xx"] == 6
        assert counters["api"].requests == 2
        assert counters["api"].responses["5xx"] == 2  # the target's own 5xx
        totals = runner.run(driver.totals("lb1"))
        assert totals.requests == 9
        assert totals.responses["5xx"] == 3  # the proxy's own 503 too
        assert totals.connections >= 9
        assert totals.bytes_in > 0 and totals.bytes_out > 0
    finally:
        runner.run(driver.remove("lb1"))
        runner.close()
    assert not driver.running("lb1")


def test_bodies_stickiness_and_idle_timeout(tmp_path: Path, backends: Backends,
                                            make_driver: Callable[[Path], ProxyDriver]) -> None:
    hosts = [f"{BASE}.31", f"{BASE}.32"]
    for h in hosts:
        backends.start(h)
    check = Check(path="/health", interval=0.3, timeout=0.3, rise=2, fall=2)
    pool = Backend("web", servers=tuple(Server(h.replace(".", "_"), h, 8080) for h in hosts),
                   check=check, sticky_cookie="AWSALB", sticky_seconds=60)
    port = 18082
    driver = make_driver(tmp_path)
    runner = asyncio.Runner()
    url = f"http://{BASE}.100:{port}"
    spec = ProxySpec("lb1", f"{BASE}.100", (
        Listener(port, "http", Action("forward", (("web", 1),)), idle_timeout=1.0),), (pool,))

    async def states() -> set[str]:
        return {h.state for h in (await driver.health("lb1")).get("web", {}).values()}

    try:
        runner.run(driver.apply(spec))
        wait_for(lambda: runner.run(states()) == {"healthy"})

        # Request bodies of either framing, and a large one.
        conn = http.client.HTTPConnection(f"{BASE}.100", port, timeout=5)
        conn.request("POST", "/echo", body=b"x" * 300_000)
        r = conn.getresponse()
        assert (r.status, r.read().split()[1]) == (200, b"300000")
        conn.request("POST", "/echo", body=iter([b"abc", b"defg"]), encode_chunked=True,
                     headers={"Transfer-Encoding": "chunked"})
        r = conn.getresponse()
        assert (r.status, r.read().split()[1]) == (200, b"7")
        conn.close()

        # Stickiness: the first answer sets the cookie; with it, one target answers.
        with urllib.request.urlopen(url + "/s", timeout=5) as r:
            cookie = r.headers["Set-Cookie"].split(";")[0]
        assert cookie.startswith("AWSALB=")
        assert len({get(url + "/s", {"Cookie": cookie})[1].split()[0] for _ in range(6)}) == 1
        assert {get(url + "/s")[1].split()[0] for _ in range(6)} == set(hosts)

        # An idle kept-alive connection is closed after the idle timeout.
        with socket.create_connection((f"{BASE}.100", port), timeout=5) as s:
            s.sendall(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
            head = b""
            while not head.endswith(b"127.0.0.1"):  # the whole answer (its body ends so)
                head += s.recv(65536)
            assert head.split(b" ")[1] == b"200"
            assert b"connection: keep-alive" in head.lower()  # though the server spoke 1.0
            start = time.monotonic()
            assert s.recv(65536) == b""  # closed by the proxy
            assert 0.5 < time.monotonic() - start < 4
    finally:
        runner.run(driver.remove("lb1"))
        runner.close()
    assert not driver.running("lb1")


def test_every_address_listens_and_servers_see_their_source(
        tmp_path: Path, make_driver: Callable[[Path], ProxyDriver]) -> None:
    """Listeners listen on each of the spec's addresses; requests and health
    checks reach a server from its ``source`` address (a load balancer's own
    address in the server's subnet), a server without one from the host's."""
    peers: dict[str, set[str]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host = self.server.server_address[0]
            peers.setdefault(str(host), set()).add(self.client_address[0])
            body = f"{host} {self.client_address[0]}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    servers = [Quiet((f"{BASE}.{i}", 8080), Handler) for i in (41, 42)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    check = Check(path="/", interval=0.3, timeout=0.3, rise=1, fall=2)
    pool = Backend("web", servers=(Server("a", f"{BASE}.41", 8080, source=f"{BASE}.51"),
                                   Server("b", f"{BASE}.42", 8080)), check=check)
    tcp = Backend("raw", "tcp", servers=(Server("a", f"{BASE}.41", 8080,
                                                source=f"{BASE}.52"),),
                  check=Check(protocol="tcp", interval=0.3, timeout=0.3, rise=1, fall=2))
    proxy = ProxySpec("lb2", f"{BASE}.61", (
        Listener(18081, "http", Action("forward", (("web", 1),))),
        Listener(18082, "tcp", Action("forward", (("raw", 1),))),
    ), (pool, tcp), extra_addresses=(f"{BASE}.62",))
    driver = make_driver(tmp_path)
    runner = asyncio.Runner()

    async def states() -> set[str]:
        return {h.state for servers in (await driver.health("lb2")).values()
                for h in servers.values()}

    try:
        runner.run(driver.apply(proxy))
        wait_for(lambda: runner.run(states()) == {"healthy"})
        for address in (f"{BASE}.61", f"{BASE}.62"):
            answers = {get(f"http://{address}:18081/")[1] for _ in range(4)}
            assert answers == {f"{BASE}.41 {BASE}.51", f"{BASE}.42 127.0.0.1"}
            assert get(f"http://{address}:18082/")[1] == f"{BASE}.41 {BASE}.52"
        # (health checks included: nothing else ever reached the servers)
        assert peers == {f"{BASE}.41": {f"{BASE}.51", f"{BASE}.52"},
                         f"{BASE}.42": {"127.0.0.1"}}
    finally:
        runner.run(driver.remove("lb2"))
        runner.close()
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def test_a_proxy_in_a_deep_directory(tmp_path: Path, backends: Backends,
                                     make_driver: Callable[[Path], ProxyDriver]) -> None:
    """A data directory too deep for a Unix socket's path (107 bytes) still
    runs proxies: their control sockets are reached through a short link,
    which goes with the proxy."""
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    assert len(str(deep / "lb1" / "ctl-0.sock")) > sockdir.MAX_SOCKET_PATH
    backends.start(f"{BASE}.51")
    check = Check(path="/health", interval=0.3, timeout=0.3, rise=2, fall=2)
    pool = Backend("web", servers=(Server("w", f"{BASE}.51", 8080),), check=check)
    port = 18084
    spec = ProxySpec("lb1", f"{BASE}.100", (
        Listener(port, "http", Action("forward", (("web", 1),))),), (pool,))
    driver = make_driver(deep)
    runner = asyncio.Runner()

    async def states() -> set[str]:
        return {h.state for h in (await driver.health("lb1")).get("web", {}).values()}

    try:
        runner.run(driver.apply(spec))
        wait_for(lambda: runner.run(states()) == {"healthy"})
        assert get(f"http://{BASE}.100:{port}/x")[1].split()[0] == f"{BASE}.51"
        links = [p for p in sockdir.link_root().iterdir()
                 if p.is_symlink() and str(p.resolve()).startswith(str(deep))]
        assert links
    finally:
        runner.run(driver.remove("lb1"))
        runner.close()
    assert not any(p.exists() or p.is_symlink() for p in links)
