"""Both real proxy drivers (HAProxy processes, the built-in asyncio proxy)
against real HTTP backends, the same tests for each:
round robin over healthy servers, a killed backend dropped by its checks and
taken back when it returns, rules, reloads that keep health, clean removal."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.server
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
