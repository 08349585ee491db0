"""The load-balancer loop: makes each load balancer's proxy match the store.

For one load balancer it reads its listeners, rules and the target groups they
forward to, resolves targets to addresses (an instance target follows its
instance: only a running instance is a server, at its private IP), ends
drains whose delay is over, and hands the resulting ``ProxySpec`` to the proxy
driver: listening on the load balancer's addresses (put on the host first),
connecting to each target from its address in the target's subnet. Once the
proxy runs, a ``provisioning`` load balancer turns ``active``. A deleted load
balancer's proxy, name and addresses are released.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from gureum.control import Loop
from gureum.drivers.proxy import (
    Action,
    Backend,
    Check,
    Condition,
    Listener,
    ProxySpec,
    Rule,
    Server,
)

from ..base import Call, Identity
from .addresses import AddressOperations
from .certs import serving_pem
from .core import LB, LOOP, TG, Doc, arn_scope, backend_name, proxy_name
from .listenerextras import listener_idle, response_headers, tls_of
from .targetgroups import matcher_codes

log = logging.getLogger("gureum.elbv2")

RECHECK = 2.0  # instance targets follow their instance within this many seconds
FIELDS = {"path-pattern": "path", "host-header": "host", "http-header": "header",
          "http-request-method": "method", "query-string": "query", "source-ip": "source"}


def server_name(target: Doc) -> str:
    return "t_" + "".join(c if c.isalnum() else "_" for c in f"{target['id']}_{target['port']}")


def _condition(cond: Doc) -> Condition:
    field = FIELDS[cond["Field"]]
    config: Doc = next((v for k, v in cond.items() if k.endswith("Config")), {})
    if field == "query":
        values = tuple(f"{p.get('Key', '')}={p['Value']}" for p in config["Values"])
        return Condition(field, values)
    return Condition(field, tuple(config.get("Values") or cond.get("Values") or ()),
                     config.get("HttpHeaderName", ""))


def _location(cfg: Doc) -> str:
    query = cfg["Query"]
    return (f"{cfg['Protocol'].lower() if cfg['Protocol'] != '#{protocol}' else '#{protocol}'}"
            f"://{cfg['Host']}:{cfg['Port']}{cfg['Path']}" + (f"?{query}" if query else ""))


class DataPlane(AddressOperations):
    def loop(self) -> Loop:
        return Loop(LOOP, self.reconcile, clock=self.env.clock, resync=self.resync,
                    resync_interval=30.0, concurrency=4)

    async def resync(self) -> Iterable[str]:
        arns = [d["arn"] for d in self.store.resources.list(LB)]
        known = {proxy_name({"arn": a}) for a in arns}
        # proxies whose load balancer is gone (reset, crash between steps)
        stale = [n for n in self.driver.names() if n not in known]
        for name in stale:
            await self.driver.remove(name)
        return arns + self.orphan_address_owners()

    def _call(self, lb_arn: str) -> Call | None:
        scope = arn_scope(lb_arn)
        if scope is None:
            return None
        account, region = scope
        return Call("elbv2", "reconcile", account, region, Identity.root(account), "loop")

    async def reconcile(self, lb_arn: str) -> float | None:
        call = self._call(lb_arn)
        if call is None:
            return None
        lb = self.get(call, LB, lb_arn)
        name = proxy_name({"arn": lb_arn})
        if lb is None:
            await self.driver.remove(name)
            self.env.addresses.release(lb_arn)
            await self.release_addresses(call, lb_arn)
            names = self.env.names
            for dns in self._dns_of(lb_arn):
                names.remove(dns)
            return None
        await self.place_addresses(lb)  # (before anything listens there)
        self.env.names.add(lb["dns"], lb["address"])
        self._dns[lb_arn] = lb["dns"]
        spec, next_expiry = self.build_spec(call, lb)
        await self.driver.apply(spec)
        await self.release_left_addresses(call, lb)  # (no longer listened on)
        if lb["state"] != "active":
            with self.store.tx():
                fresh = self.get(call, LB, lb_arn)
                if fresh is not None and fresh["state"] != "active":
                    fresh.update(state="active", reason=None)
                    self.put(LB, fresh)
        delay = RECHECK if self._has_instances else 30.0
        if next_expiry is not None:
            delay = min(delay, max(0.0, next_expiry - self.now()) + 0.01)
        return delay

    _dns: dict[str, str]
    _has_instances: bool

    def setup_dataplane(self) -> None:
        self._dns = {}
        self._has_instances = False

    def _dns_of(self, lb_arn: str) -> list[str]:
        found = self._dns.pop(lb_arn, None)
        return [found] if found else []

    def _resolve(self, call: Call, tg: Doc, target: Doc) -> str | None:
        if tg["target_type"] == "ip":
            return str(target["id"])
        inst = self.store.resources.get("ec2:instance", call.account, call.region, target["id"])
        if inst is None or inst.get("state") != "running" or not inst.get("ip"):
            return None
        return str(inst["ip"])

    def build_spec(self, call: Call, lb: Doc) -> tuple[ProxySpec, float | None]:
        """The proxy spec of ``lb``; ends expired drains; the next drain's end."""
        listeners = sorted(self.listeners_of(call, lb["arn"]), key=lambda d: d["port"])
        idle = float(lb["attributes"].get("idle_timeout.timeout_seconds", "60"))
        tg_arns: list[str] = []
        out_listeners = []
        for lst in listeners:
            rules = self.rules_of(call, lst["arn"])
            for actions in [lst["default_actions"], *(r["actions"] for r in rules)]:
                tg_arns += self.actions_tgs(actions)
            out_listeners.append(Listener(
                lst["port"], "http" if lst["protocol"] in ("HTTP", "HTTPS") else "tcp",
                self._action(lst["default_actions"]),
                tuple(Rule(tuple(_condition(c) for c in r["conditions"]),
                           self._action(r["actions"])) for r in rules),
                idle_timeout=listener_idle(lst, idle), certificate=serving_pem(self.store, lst),
                response_headers=response_headers(lst),
                **tls_of(self.store, lst, lb["attributes"])))
        backends = []
        next_expiry: float | None = None
        now = self.now()
        self._has_instances = False
        for tg_arn in dict.fromkeys(tg_arns):
            tg = self.get(call, TG, tg_arn)
            if tg is None:
                continue
            expired = [t for t in tg["targets"]
                       if t["state"] == "draining" and (t.get("until") or 0) <= now]
            if expired:
                with self.store.tx():
                    fresh = self.get(call, TG, tg_arn)
                    if fresh is not None:
                        fresh["targets"] = [t for t in fresh["targets"]
                                            if not (t["state"] == "draining"
                                                    and (t.get("until") or 0) <= now)]
                        self.put(TG, fresh)
                        tg = fresh
            servers = []
            for t in tg["targets"]:
                if t["state"] == "draining":
                    until = float(t["until"])
                    next_expiry = until if next_expiry is None else min(next_expiry, until)
                self._has_instances |= tg["target_type"] == "instance"
                host = self._resolve(call, tg, t)
                if host is not None:
                    servers.append(Server(server_name(t), host, int(t["port"]),
                                          draining=t["state"] == "draining",
                                          source=self.source_for(lb, host)))
            backends.append(self._backend(tg, tuple(servers)))
        spec = ProxySpec(proxy_name(lb), lb["address"], tuple(out_listeners), tuple(backends),
                         tuple(a["address"] for a in lb.get("addresses") or [])[1:])
        return spec, next_expiry

    def _backend(self, tg: Doc, servers: tuple[Server, ...]) -> Backend:
        hc, attrs = tg["hc"], tg["attributes"]
        check = Check(
            protocol="tcp" if hc["protocol"] == "TCP" else "http",
            path=hc.get("path") or "/",
            port=None if str(hc["port"]) == "traffic-port" else int(hc["port"]),
            interval=float(hc["interval"]), timeout=float(hc["timeout"]),
            rise=int(hc["healthy"]), fall=int(hc["unhealthy"]),
            codes=matcher_codes(hc["matcher"]) if hc.get("matcher") else (200,))
        sticky = (attrs.get("stickiness.enabled") == "true"
                  and attrs.get("stickiness.type") == "lb_cookie")
        algorithm: Any = attrs.get("load_balancing.algorithm.type", "round_robin")
        if algorithm not in ("round_robin", "least_outstanding_requests"):
            algorithm = "round_robin"
        return Backend(
            backend_name(tg["arn"]), "http" if tg["protocol"] in ("HTTP", "HTTPS") else "tcp",
            servers, check, algorithm,
            sticky_cookie="AWSALB" if sticky else None,
            sticky_seconds=int(attrs.get("stickiness.lb_cookie.duration_seconds", "86400")),
            slow_start=int(attrs.get("slow_start.duration_seconds", "0")))

    @staticmethod
    def _action(actions: list[Doc]) -> Action:
        final = actions[-1]
        if final["Type"] == "forward":
            groups = final["ForwardConfig"]["TargetGroups"]
            return Action("forward", tuple((backend_name(g["TargetGroupArn"]),
                                            int(g.get("Weight", 1))) for g in groups))
        if final["Type"] == "redirect":
            cfg = final["RedirectConfig"]
            return Action("redirect", status=int(cfg["StatusCode"][5:]), location=_location(cfg))
        cfg = final["FixedResponseConfig"]
        return Action("fixed", status=int(cfg["StatusCode"]),
                      content_type=cfg.get("ContentType", "text/plain"),
                      body=cfg.get("MessageBody", ""))
