"""The built-in proxy's parts without processes: body framing (chunked bodies
cut at any byte), request heads, rule conditions, redirect templates,
weighted forwards and the round-robin turns its workers share."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gureum.drivers.proxy import Action, Backend, Check, Condition, Listener, Rule, Server
from gureum.drivers.proxy.builtin.http import CHUNKED, LENGTH, NONE, Framer, parse_head
from gureum.drivers.proxy.builtin.pools import Pool, Turns, Weighted
from gureum.drivers.proxy.builtin.rules import Request, choose, compile_rules, location


def chunked(parts: list[bytes]) -> bytes:
    out = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts if p)
    return out + b"0\r\nX-Trailer: yes\r\n\r\n"


@given(st.lists(st.binary(max_size=40), max_size=6), st.lists(st.integers(1, 30), max_size=20))
def test_chunked_body_ends_where_it_ends_whatever_the_cuts(parts: list[bytes],
                                                          cuts: list[int]) -> None:
    body = chunked(parts)
    data = body + b"GET /next HTTP/1.1\r\n"
    framer = Framer(CHUNKED)
    pos, taken = 0, 0
    for size in [*cuts, len(data)]:
        piece = data[pos:pos + size]
        pos += len(piece)
        end = framer.feed(piece)
        taken += end
        if framer.done:
            break
    assert framer.done
    assert taken == len(body)


def test_length_and_no_body() -> None:
    f = Framer(LENGTH, 5)
    assert f.feed(b"abc") == 3 and not f.done
    assert f.feed(b"defgh") == 2 and f.done
    assert Framer(NONE).done and Framer(LENGTH, 0).done
    with pytest.raises(ValueError):
        Framer(CHUNKED).feed(b"zz\r\n")


def test_request_heads() -> None:
    req, framer, connection = parse_head(
        b"POST /a?b=1 HTTP/1.1\r\nHost: shop.example.com:8080\r\nContent-Length: 4\r\n"
        b"Connection: close\r\nX-Canary: yes", "10.1.2.3")
    assert (req.method, req.path, req.query, req.host) == ("POST", "/a", "b=1",
                                                           "shop.example.com")
    assert framer.mode == LENGTH and framer.left == 4
    assert connection == "close"
    assert req.header("x-canary") == "yes"
    for bad in (b"GET /\r\nHost: x", b"GET / SPDY/3\r\nHost: x"):
        with pytest.raises(ValueError):
            parse_head(bad, "")
    with pytest.raises(ValueError):
        parse_head(b"GET / HTTP/1.1\r\nContent-Length: x", "")
    req, _, _ = parse_head(b"GET / HTTP/1.1\r\nBad header", "")
    with pytest.raises(ValueError):
        req.headers  # noqa: B018 - parsed when first read


def request(target: str = "/", method: str = "GET", client: str = "127.0.0.1",
            **headers: str) -> Request:
    head = "\r\n".join([f"{method} {target} HTTP/1.1",
                         *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items())])
    return Request(method, target, "HTTP/1.1", head.encode(), client)


def test_rules_in_priority_order() -> None:
    api, canary, web = (Action("forward", ((n, 1),)) for n in ("api", "canary", "web"))
    teapot = Action("fixed", status=418)
    listener = Listener(80, "http", web, (
        Rule((Condition("path", ("/API/*",)),), api),  # case-insensitive, as HAProxy's -i
        Rule((Condition("header", ("y*",), name="X-Canary"),
              Condition("method", ("GET",))), canary),
        Rule((Condition("query", ("v=2", "=beta")),), canary),
        Rule((Condition("source", ("10.0.0.0/8",)),), teapot),
        Rule((Condition("host", ("shop.*",)),), api),
    ))
    rules = compile_rules(listener)
    assert choose(rules, web, request("/api/x", X_Canary="yes")) is api
    assert choose(rules, web, request("/x", X_Canary="yes")) is canary
    assert choose(rules, web, request("/x", "POST", X_Canary="yes")) is web
    assert choose(rules, web, request("/x?a=1&v=2")) is canary
    assert choose(rules, web, request("/x?a=beta")) is canary
    assert choose(rules, web, request("/x?v=3")) is web
    assert choose(rules, web, request("/x", client="10.9.8.7")) is teapot
    assert choose(rules, web, request("/x", Host="shop.example.com:80")) is api
    assert choose(rules, web, request("/x", Host="example.com")) is web


def test_redirect_template() -> None:
    req = request("/old/page?q=1", Host="lb.example.com")
    assert location("#{protocol}://#{host}:#{port}/new/#{path}?#{query}", req, 443,
                    True) == "https://lb.example.com:443/new/old/page?q=1"


def test_weighted_forward_follows_weights_and_skips_empty_backends() -> None:
    class Pool:
        def __init__(self, live: bool) -> None:
            self.is_live = live

        def live(self) -> list[int]:
            return [1] if self.is_live else []

    pools = {"a": Pool(True), "b": Pool(True), "c": Pool(False)}
    w = Weighted((("a", 3), ("b", 1), ("c", 5)))
    picks = [w.pick(pools) for _ in range(8)]  # type: ignore[arg-type]
    assert picks.count(pools["a"]) == 6 and picks.count(pools["b"]) == 2


def test_turns_are_shared_through_the_file(tmp_path: Path) -> None:
    one, two = Turns(tmp_path / "turns.map"), Turns(tmp_path / "turns.map")
    assert [one.next("web"), two.next("web"), one.next("web")] == [1, 2, 3]
    assert two.next("api") == 1
    local = Turns(None)
    assert [local.next("web"), local.next("web")] == [0, 1]


def test_slow_start_ramps_a_new_server_up() -> None:
    async def shares(ages: dict[str, float]) -> dict[str, int]:
        check = Check(interval=3600, timeout=0.1)
        servers = tuple(Server(n, "127.211.0.250", 9) for n in ages)
        pool = Pool(Backend("web", servers=servers, check=check, slow_start=100))
        try:
            now = time.monotonic()
            for name, age in ages.items():
                st = pool.servers[name]
                st.state, st.healthy_since = "healthy", now - age
            pool.changed()
            counts = dict.fromkeys(ages, 0)
            for _ in range(3000):
                picked = pool.pick()
                assert picked is not None
                counts[picked.spec.name] += 1
            return counts
        finally:
            pool.close()

    counts = asyncio.run(shares({"old": 1000.0, "new": 0.0, "half": 50.0}))
    assert counts["new"] < 30  # just turned healthy: almost nothing yet
    assert 0.35 < counts["half"] / counts["old"] < 0.65  # half way: half a share
