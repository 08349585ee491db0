"""Render a ``ProxySpec`` as an HAProxy configuration (pure text, no I/O).

Rules are evaluated in priority order by setting ``txn.rule`` to the number of
the first rule whose conditions all match; every action is then conditioned
on that number, so the order of HAProxy's own directive kinds
(``http-request`` before ``use_backend``) does not change which rule wins.
A forward to several weighted backends uses a combined backend whose servers
``track`` the health of the real ones.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Action, Backend, Check, Condition, Listener, ProxySpec

TRAFFIC_TIMEOUT = 60.0


def wildcard_regex(pattern: str) -> str:
    """An AWS wildcard (``*``, ``?``) as an anchored regex."""
    out = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return f"^{out}$"


def _quote(text: str) -> str:
    """A single HAProxy word, quoted."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped + '"'


def _regex_word(regex: str) -> str:
    # Single quotes: HAProxy takes the text as is (no escapes, no variables).
    return "'" + regex.replace("'", "\\x27") + "'"


def _seconds(value: float) -> str:
    return f"{max(1, int(value * 1000))}ms"


def _codes_regex(codes: tuple[int, ...]) -> str:
    return "^(" + "|".join(str(c) for c in sorted(set(codes))) + ")$"


def _condition_lines(acl: str, cond: Condition) -> list[str]:
    if cond.field == "path":
        return [f"acl {acl} path -m reg -i {_regex_word(wildcard_regex(v))}"
                for v in cond.values]
    if cond.field == "host":
        return [f"acl {acl} req.hdr(host),field(1,:) -m reg -i {_regex_word(wildcard_regex(v))}"
                for v in cond.values]
    if cond.field == "header":
        name = re.sub(r"[^A-Za-z0-9-]", "", cond.name)
        return [f"acl {acl} req.hdr({name}) -m reg -i {_regex_word(wildcard_regex(v))}"
                for v in cond.values]
    if cond.field == "method":
        return [f"acl {acl} method {' '.join(cond.values)}"]
    if cond.field == "source":
        return [f"acl {acl} src {' '.join(cond.values)}"]
    if cond.field == "query":
        lines = []
        for v in cond.values:
            key, _, value = v.partition("=")
            if key:
                safe = re.sub(r"[^A-Za-z0-9_.~-]", "", key)
                lines.append(f"acl {acl} urlp({safe}) -m reg -i "
                             f"{_regex_word(wildcard_regex(value))}")
            else:
                pair = "(^|&)[^=&]*=" + wildcard_regex(value)[1:-1] + "(&|$)"
                lines.append(f"acl {acl} query -m reg -i {_regex_word(pair)}")
        return lines
    raise ValueError(f"unknown condition field {cond.field!r}")


def _location(template: str) -> str:
    """An AWS redirect template as an HAProxy log-format string."""
    subst = {
        "#{protocol}": "http",
        "#{host}": "%[req.hdr(host),field(1,:)]",
        "#{port}": "%[dst_port]",
        "#{path}": "%[path,regsub(^/,)]",  # AWS: the path without its leading "/"
        "#{query}": "%[query]",
    }
    out = template.replace("%", "%%")
    for key, value in subst.items():
        out = out.replace(key, value)
    return out


def certificate_file(directory: Path, port: int, n: int = 0) -> Path:
    """Where the driver writes the certificate PEM of the listener on ``port``
    (``n`` > 0: its n-th SNI certificate)."""
    return directory / (f"l{port}.pem" if n == 0 else f"l{port}-{n}.pem")


def certificate_files(directory: Path, lst: Listener) -> dict[Path, str]:
    """Every certificate file of a listener with its PEM."""
    if not lst.certificate:
        return {}
    pems = (lst.certificate, *lst.sni_certificates)
    return {certificate_file(directory, lst.port, n): pem for n, pem in enumerate(pems)}


def _tls_words(directory: Path, lst: Listener) -> str:
    """The bind line's TLS words: every certificate (the first is the one a
    client that names no known host gets), versions and ciphers."""
    out = "".join(f" crt {f}" for f in certificate_files(directory, lst))
    versions = [_VERSIONS[v] for v in _VERSIONS if v in lst.tls_versions]
    if versions:
        out += f" ssl-min-ver {versions[0]} ssl-max-ver {versions[-1]}"
    tls12 = [c for c in lst.ciphers if not c.startswith("TLS_")]
    suites = [c for c in lst.ciphers if c.startswith("TLS_")]
    if tls12:
        out += " ciphers " + ":".join(tls12)
    if suites:
        out += " ciphersuites " + ":".join(suites)
    return " ssl" + out


_VERSIONS = {"TLSv1": "TLSv1.0", "TLSv1.1": "TLSv1.1", "TLSv1.2": "TLSv1.2",
             "TLSv1.3": "TLSv1.3"}  # (HAProxy's names)


class _Renderer:
    def __init__(self, spec: ProxySpec, directory: Path) -> None:
        self.spec = spec
        self.directory = directory
        self.backends = {b.name: b for b in spec.backends}
        self.combined: dict[str, tuple[tuple[str, int], ...]] = {}

    def backend_for(self, targets: tuple[tuple[str, int], ...]) -> str | None:
        live = tuple((b, w) for b, w in targets if w > 0 and b in self.backends)
        if not live:
            return None
        if len(live) == 1:
            return f"b_{live[0][0]}"
        name = "w_" + "_".join(f"{b}-{w}" for b, w in live)
        self.combined[name] = live
        return name

    def action_lines(self, action: Action, cond: str, mode: str) -> list[str]:
        suffix = f" if {cond}" if cond else ""
        if action.kind == "forward":
            backend = self.backend_for(action.targets)
            if backend is None:
                return [f"http-request return status 503{suffix}"] if mode == "http" else []
            return [f"use_backend {backend}{suffix}"]
        if action.kind == "redirect":
            return [f"http-request redirect location {_quote(_location(action.location))}"
                    f" code {action.status}{suffix}"]
        body = f" string {_quote(action.body)}" if action.body else ""
        return [f"http-request return status {action.status} content-type "
                f"{_quote(action.content_type)}{body}{suffix}"]

    def frontend(self, lst: Listener) -> list[str]:
        tls = _tls_words(self.directory, lst) if lst.certificate else ""
        binds = [f"    bind {addr}:{lst.port}{tls}" for addr in self.spec.addresses]
        lines = [f"frontend l{lst.port}", *binds, f"    mode {lst.mode}",
                 f"    timeout client {_seconds(lst.idle_timeout)}"]
        if lst.mode == "tcp":
            backend = (self.backend_for(lst.default.targets)
                       if lst.default.kind == "forward" else None)
            if backend:
                lines.append(f"    default_backend {backend}")
            return lines
        lines += [
            "    option forwardfor",
            "    http-request set-header X-Forwarded-Proto "
            + ("https" if lst.certificate else "http"),
            f"    http-request set-header X-Forwarded-Port {lst.port}",
        ]
        if lst.tls_request_headers and lst.certificate:
            version, cipher = (re.sub(r"[^A-Za-z0-9-]", "", n) for n in lst.tls_request_headers)
            lines += [f"    http-request set-header {version} %[ssl_fc_protocol]",
                      f"    http-request set-header {cipher} %[ssl_fc_cipher]"]
        # (after-response: the proxy's own answers get them too)
        lines += [f"    http-after-response set-header {re.sub(r'[^A-Za-z0-9-]', '', name)}"
                  f" {_quote(value)}" for name, value in lst.response_headers]
        actions: list[str] = []
        for n, rule in enumerate(lst.rules, start=1):
            names = []
            for c, cond in enumerate(rule.conditions):
                acl = f"r{n}c{c}"
                names.append(acl)
                lines += ["    " + line for line in _condition_lines(acl, cond)]
            match = " ".join(names)
            lines.append(f"    http-request set-var(txn.rule) int({n})"
                         f" if !{{ var(txn.rule) -m found }} {match}".rstrip())
            actions += self.action_lines(rule.action, f"{{ var(txn.rule) -m int {n} }}", "http")
        # Without rules the default needs no condition (one ACL less per request).
        actions += self.action_lines(lst.default, "!{ var(txn.rule) -m found }"
                                     if lst.rules else "", "http")
        return lines + ["    " + a for a in actions]

    def backend(self, b: Backend, mode: str) -> list[str]:
        c: Check = b.check
        lines = [f"backend b_{b.name}", f"    mode {mode}",
                 "    balance " + ("leastconn" if b.algorithm == "least_outstanding_requests"
                                   else "roundrobin"),
                 f"    timeout check {_seconds(c.timeout)}"]
        idle = [lst.idle_timeout for lst in self.spec.listeners if lst.mode == "tcp"
                and any(t == b.name for t, _ in lst.default.targets)]
        if mode == "tcp" and idle:
            # (a TCP connection idle this long in both directions is closed:
            # the listener's idle timeout on the server side too)
            lines.append(f"    timeout server {_seconds(max(idle))}")
        if c.protocol == "http":
            lines += [f"    option httpchk GET {c.path}",
                      f"    http-check expect rstatus {_regex_word(_codes_regex(c.codes))}"]
        if b.sticky_cookie and mode == "http":
            lines.append(f"    cookie {b.sticky_cookie} insert indirect nocache"
                         f" maxlife {b.sticky_seconds}s")
        default = f"    default-server inter {_seconds(c.interval)} fall {c.fall} rise {c.rise}"
        if b.slow_start:
            default += f" slowstart {b.slow_start}s"
        lines.append(default)
        for s in b.servers:
            line = (f"    server {s.name} {s.host}:{s.port} check"
                    f" weight {0 if s.draining else s.weight}")
            if c.port:
                line += f" port {c.port}"
            if s.source:
                line += f" source {s.source}"
            if b.sticky_cookie and mode == "http":
                line += f" cookie {s.name}"
            lines.append(line)
        return lines

    def combined_backend(self, name: str, parts: tuple[tuple[str, int], ...],
                         mode: str) -> list[str]:
        lines = [f"backend {name}", f"    mode {mode}", "    balance roundrobin"]
        per_server = []
        for bname, weight in parts:
            servers = [s for s in self.backends[bname].servers if not s.draining]
            for s in servers:
                per_server.append((bname, s.name, weight / len(servers)))
        top = max((w for *_, w in per_server), default=1.0)
        for bname, sname, w in per_server:
            scaled = max(1, round(w * 256 / top)) if top else 1
            lines.append(f"    server {bname}__{sname} {self._addr(bname, sname)}"
                         f" track b_{bname}/{sname} weight {scaled}")
        return lines

    def _addr(self, bname: str, sname: str) -> str:
        for s in self.backends[bname].servers:
            if s.name == sname:
                return f"{s.host}:{s.port}"
        raise KeyError(sname)

    def render(self, socket: Path, state_file: Path) -> str:
        out = [
            "# rendered by gureum; do not edit",
            "global",
            f"    stats socket {socket} mode 600 level admin expose-fd listeners",
            f"    server-state-file {state_file}",
            "    hard-stop-after 5m",
            "    maxconn 4000",
            "",
            "defaults",
            "    load-server-state-from-file global",
            "    timeout connect 5s",
            f"    timeout client {_seconds(TRAFFIC_TIMEOUT)}",
            f"    timeout server {_seconds(TRAFFIC_TIMEOUT)}",
            "    timeout http-request 30s",
            "    option dontlognull",
            # A request a server refused goes to another server: nothing is
            # lost while a killed target's checks have not failed yet.
            # (retry-on empty-response would also cover kept-alive
            # connections the server had reset, but costs ~15% CPU per
            # request: HAProxy then keeps a copy of every request.)
            "    retries 3",
            "    option redispatch 1",
            "",
        ]
        for lst in self.spec.listeners:
            out += [*self.frontend(lst), ""]
        for b in self.spec.backends:
            out += [*self.backend(b, b.mode), ""]
        for name, parts in self.combined.items():
            out += [*self.combined_backend(name, parts, self.backends[parts[0][0]].mode), ""]
        return "\n".join(out)


def render(spec: ProxySpec, socket: Path, state_file: Path) -> str:
    """The configuration; certificates are read from ``certificate_file``
    in the socket's directory."""
    return _Renderer(spec, socket.parent).render(socket, state_file)
