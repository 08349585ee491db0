"""Listener rules compiled for the built-in proxy: conditions as regexes and
networks, matched against a parsed request in priority order, the same
semantics the HAProxy configuration renders (``haproxy_config``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from ..base import Action, Condition, Listener
from ..haproxy_config import wildcard_regex


class Request:
    """A request head: its request line parsed, its headers when first asked
    for (most requests are forwarded without them); ``head`` is the raw head
    without its final empty line."""

    __slots__ = ("_headers", "client", "head", "method", "target", "version")

    def __init__(self, method: str, target: str, version: str, head: bytes,
                 client: str) -> None:
        self.method, self.target, self.version = method, target, version
        self.head = head
        self.client = client
        self._headers: list[tuple[str, str]] | None = None

    @property
    def headers(self) -> list[tuple[str, str]]:
        """In order, with their raw names; ValueError when one is malformed."""
        if self._headers is None:
            out = []
            for line in self.head.decode("latin-1").split("\r\n")[1:]:
                name, sep, value = line.partition(":")
                if not sep or not name or name != name.strip():
                    raise ValueError("bad header")
                out.append((name, value.strip()))
            self._headers = out
        return self._headers

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    @property
    def host(self) -> str:
        return (self.header("host") or "").split(":", 1)[0]


Matcher = Callable[[Request], bool]


def _regexes(values: tuple[str, ...]) -> list[re.Pattern[str]]:
    return [re.compile(wildcard_regex(v), re.IGNORECASE | re.DOTALL) for v in values]


def _condition(cond: Condition) -> Matcher:
    if cond.field in ("path", "host", "header"):
        pats = _regexes(cond.values)

        def value(r: Request) -> str | None:
            if cond.field == "path":
                return r.path
            if cond.field == "host":
                return r.host
            return r.header(cond.name)

        def match(r: Request) -> bool:
            v = value(r)
            return v is not None and any(p.match(v) for p in pats)
        return match
    if cond.field == "method":
        methods = set(cond.values)
        return lambda r: r.method in methods
    if cond.field == "source":
        nets = [ipaddress.ip_network(v, strict=False) for v in cond.values]

        def source(r: Request) -> bool:
            try:
                ip = ipaddress.ip_address(r.client)
            except ValueError:
                return False
            return any(ip.version == n.version and ip in n for n in nets)
        return source
    if cond.field == "query":
        pairs = []
        for v in cond.values:
            key, _, val = v.partition("=")
            pairs.append((key, re.compile(wildcard_regex(val), re.IGNORECASE | re.DOTALL)))

        def query(r: Request) -> bool:
            items = parse_qsl(r.query, keep_blank_values=True)
            for key, pat in pairs:
                if key:
                    # HAProxy's urlp(): the first occurrence of the key
                    found = next((v for k, v in items if k == key), None)
                    if found is not None and pat.match(found):
                        return True
                elif any(pat.match(v) for _, v in items):
                    return True
            return False
        return query
    raise ValueError(f"unknown condition field {cond.field!r}")


@dataclass
class CompiledRule:
    matchers: list[Matcher]
    action: Action


def compile_rules(listener: Listener) -> list[CompiledRule]:
    return [CompiledRule([_condition(c) for c in rule.conditions], rule.action)
            for rule in listener.rules]


def choose(rules: list[CompiledRule], default: Action, request: Request) -> Action:
    """The action of the first rule whose conditions all match, or the default."""
    for rule in rules:
        if all(m(request) for m in rule.matchers):
            return rule.action
    return default


def location(template: str, request: Request, port: int, tls: bool) -> str:
    """A redirect template filled from the request (as ``haproxy_config._location``)."""
    path = request.path
    subst = {
        "#{protocol}": "https" if tls else "http",
        "#{host}": request.host,
        "#{port}": str(port),
        "#{path}": path[1:] if path.startswith("/") else path,
        "#{query}": request.query,
    }
    out = template
    for key, value in subst.items():
        out = out.replace(key, value)
    return out
