"""The proxy driver's contract: what a load balancer's data plane is told to do
and what it reports back.

A ``ProxySpec`` is the whole desired configuration of one proxy (one load
balancer): the addresses it listens on, its listeners with their ordered rules,
and its backends (pools of servers with health-check settings). ``apply`` makes
the running proxy match a spec (starting it if needed) and is idempotent;
``health`` reads back what the proxy's own health checks observed. The driver
knows nothing of AWS: no ARNs, no accounts, only names it was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Mode = Literal["http", "tcp"]


@dataclass(frozen=True)
class Check:
    """How a backend's servers are health-checked."""

    protocol: Mode = "http"  # "tcp": a connect is enough
    path: str = "/"
    port: int | None = None  # None: the server's own (traffic) port
    interval: float = 30.0
    timeout: float = 5.0
    rise: int = 5
    fall: int = 2
    codes: tuple[int, ...] = (200,)


@dataclass(frozen=True)
class Server:
    name: str
    host: str
    port: int
    weight: int = 1
    draining: bool = False  # no new requests; in-flight ones finish
    # The address connections to it (and its health checks) come from; None:
    # the one the host picks.
    source: str | None = None


@dataclass(frozen=True)
class Backend:
    name: str
    mode: Mode = "http"
    servers: tuple[Server, ...] = ()
    check: Check = field(default_factory=Check)
    algorithm: Literal["round_robin", "least_outstanding_requests"] = "round_robin"
    sticky_cookie: str | None = None  # generated cookie name; None: no stickiness
    sticky_seconds: int = 86400
    slow_start: int = 0


@dataclass(frozen=True)
class Condition:
    """One condition; its values are OR-ed, a rule's conditions AND-ed.

    field: path | host | header | method | query | source; values are
    wildcard patterns (``*``, ``?``), CIDRs for ``source``, ``key=value``
    wildcard pairs for ``query`` (empty key: any key)."""

    field: str
    values: tuple[str, ...]
    name: str = ""  # the header name for ``header``


@dataclass(frozen=True)
class Action:
    """What a matched request gets.

    kind: forward (``targets``: backend name → weight) | redirect | fixed."""

    kind: Literal["forward", "redirect", "fixed"]
    targets: tuple[tuple[str, int], ...] = ()
    status: int = 200
    location: str = ""  # redirect: with #{protocol} #{host} #{port} #{path} #{query}
    content_type: str = "text/plain"
    body: str = ""


@dataclass(frozen=True)
class Rule:
    conditions: tuple[Condition, ...]
    action: Action


@dataclass(frozen=True)
class Listener:
    port: int
    mode: Mode
    default: Action
    rules: tuple[Rule, ...] = ()  # in priority order
    idle_timeout: float = 60.0
    certificate: str | None = None  # PEM (certificate, then key): TLS is terminated here
    # More PEMs, each served to a client asking by SNI for a name it holds
    sni_certificates: tuple[str, ...] = ()
    # TLS versions accepted ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"; empty:
    # the TLS library's defaults) and ciphers (OpenSSL names; TLS 1.3 suites
    # are the "TLS_*" ones), in order of preference
    tls_versions: tuple[str, ...] = ()
    ciphers: tuple[str, ...] = ()
    # (name, value) set on every response (the server's own value replaced),
    # the proxy's own answers included
    response_headers: tuple[tuple[str, str], ...] = ()
    # (version header, cipher header): request headers telling the server the
    # client connection's TLS version and cipher (TLS listeners); None: none
    tls_request_headers: tuple[str, str] | None = None


@dataclass(frozen=True)
class ProxySpec:
    name: str
    address: str
    listeners: tuple[Listener, ...] = ()
    backends: tuple[Backend, ...] = ()
    extra_addresses: tuple[str, ...] = ()  # every listener listens on these too

    @property
    def addresses(self) -> tuple[str, ...]:
        return (self.address, *self.extra_addresses)


@dataclass(frozen=True)
class ServerHealth:
    """What the proxy's checks observed of one server.

    state: initial | healthy | unhealthy | draining; reason: ``timeout``,
    ``status`` (wrong response code), ``connect`` (refused/reset) or ""."""

    state: str
    reason: str = ""
    code: int | None = None


@dataclass(frozen=True)
class Counters:
    """Cumulative counters since the proxy started, of one backend (what its
    servers did: their responses, not the proxy's own) or of the whole proxy
    (its listeners: every response, the proxy's own included). Gauges
    (``active_connections``, ``response_time_ms``) are as of now."""

    requests: int = 0
    responses: dict[str, int] = field(default_factory=dict)  # "2xx" → count
    active_connections: int = 0
    response_time_ms: float = 0.0  # average of recent responses
    connections: int = 0  # accepted (proxy) or opened to servers (backend)
    bytes_in: int = 0
    bytes_out: int = 0


class ProxyDriver(Protocol):
    kind: str  # "haproxy" | "builtin" | "fake"

    async def apply(self, spec: ProxySpec) -> None:
        """Make proxy ``spec.name`` run ``spec`` (start, reconfigure: idempotent)."""

    async def remove(self, name: str) -> None:
        """Stop proxy ``name``; an unknown name is fine."""

    def running(self, name: str) -> bool:
        """Whether proxy ``name`` runs and listens."""

    def names(self) -> list[str]:
        """Proxies this driver runs."""

    async def health(self, name: str) -> dict[str, dict[str, ServerHealth]]:
        """backend → server → observed health (empty for an unknown proxy)."""

    async def counters(self, name: str) -> dict[str, Counters]:
        """backend → counters since the proxy started."""

    async def totals(self, name: str) -> Counters:
        """The whole proxy's counters since it started (zero for an unknown proxy)."""

    async def shutdown(self) -> None:
        """Stop every proxy."""
