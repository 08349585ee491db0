"""A ``ProxySpec`` as JSON and back: what the built-in driver sends to its
proxy process over the control socket."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from gureum.drivers import sockdir

from ..base import Action, Backend, Check, Condition, Listener, ProxySpec, Rule, Server


def dumps(spec: ProxySpec) -> dict[str, Any]:
    return dataclasses.asdict(spec)


def _action(a: dict[str, Any]) -> Action:
    return Action(a["kind"], tuple((str(t[0]), int(t[1])) for t in a["targets"]),
                  int(a["status"]), a["location"], a["content_type"], a["body"])


def _pair(value: Any) -> tuple[str, str] | None:
    return (str(value[0]), str(value[1])) if value else None


def _listener(d: dict[str, Any]) -> Listener:
    rules = tuple(Rule(tuple(Condition(c["field"], tuple(c["values"]), c["name"])
                             for c in r["conditions"]), _action(r["action"]))
                  for r in d["rules"])
    return Listener(int(d["port"]), d["mode"], _action(d["default"]), rules,
                    float(d["idle_timeout"]), d["certificate"],
                    tuple(d.get("sni_certificates") or ()), tuple(d.get("tls_versions") or ()),
                    tuple(d.get("ciphers") or ()),
                    tuple((str(n), str(v)) for n, v in d.get("response_headers") or ()),
                    _pair(d.get("tls_request_headers")))


def _backend(d: dict[str, Any]) -> Backend:
    check = Check(**{**d["check"], "codes": tuple(d["check"]["codes"])})
    return Backend(d["name"], d["mode"], tuple(Server(**s) for s in d["servers"]), check,
                   d["algorithm"], d["sticky_cookie"], int(d["sticky_seconds"]),
                   int(d["slow_start"]))


def loads(d: dict[str, Any]) -> ProxySpec:
    return ProxySpec(d["name"], d["address"], tuple(_listener(x) for x in d["listeners"]),
                     tuple(_backend(x) for x in d["backends"]),
                     tuple(d.get("extra_addresses") or ()))


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def control_socket(directory: Path, worker: int | str) -> Path:
    """Worker ``worker``'s control socket in the proxy's ``directory`` (through a
    short link when the directory is too deep for a socket: drivers.sockdir)."""
    name = f"ctl-{worker}.sock"
    return sockdir.socket_dir(directory, name) / name
