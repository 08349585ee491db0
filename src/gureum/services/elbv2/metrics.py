"""Load balancer metrics for CloudWatch and the capacity units billing reads.

``LoadBalancerMetrics`` is a CloudWatch ``MetricSource`` (registered by
ELBv2's ``start()``). Once a period (60 s divided by ``Settings.time_scale``)
it reads each running proxy's counters (HAProxy's ``show stat``) and
publishes what happened since the previous period.

Application load balancers, under ``AWS/ApplicationELB``:

- per ``LoadBalancer``: ``RequestCount``, ``HTTPCode_Target_2XX/3XX/4XX/5XX_Count``
  (what targets answered), ``HTTPCode_ELB_4XX/5XX_Count`` (what the load
  balancer answered itself: no healthy target, fixed 5xx responses),
  ``TargetResponseTime`` (seconds), ``ActiveConnectionCount``,
  ``NewConnectionCount``, ``ProcessedBytes``, ``RuleEvaluations`` and
  ``ConsumedLCUs``;
- per ``TargetGroup`` and ``LoadBalancer``: ``RequestCount``, the target
  response codes, ``TargetResponseTime``, ``HealthyHostCount``,
  ``UnHealthyHostCount`` and ``RequestCountPerTarget``;
- per ``TargetGroup``: ``RequestCountPerTarget`` (what Auto Scaling's
  ``ALBRequestCountPerTarget`` reads).

Network load balancers, under ``AWS/NetworkELB``: ``ActiveFlowCount``,
``NewFlowCount``, ``ProcessedBytes``, ``ConsumedLCUs`` per ``LoadBalancer``
and ``HealthyHostCount``/``UnHealthyHostCount`` per target group.

``ConsumedLCUs`` is the period's figure (the highest of AWS's dimensions,
each as a rate over the period). Billing goes by the clock hour, as AWS's
does: each period's new connections, connection-seconds of active
connections, processed bytes and rule evaluations are added to the hour
they fall in (a period across an hour boundary shared by time) on the load
balancer's record as ``lcu_hours``; the billing source (``usage``) bills
each hour the highest dimension of the hour's averages (``hour_lcus``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gureum.drivers.proxy import Counters, ServerHealth

from ..cloudwatch.sources import Sample
from .core import LB, Doc, backend_name, proxy_name

if TYPE_CHECKING:
    from .dataplane import DataPlane

PERIOD = 60.0
GB = 1e9
FREE_RULES = 10
# One LCU: per second new connections, per minute active ones, GB per hour,
# rule evaluations per second (AWS's published dimensions).
ALB_LCU = (25.0, 3000.0, 1.0, 1000.0)
NLB_LCU = (800.0, 100000.0, 1.0, float("inf"))


def delta(after: int, before: int) -> int:
    return after - before if after >= before else after  # a reloaded proxy restarts at 0


def dimension(arn: str) -> str:
    """The CloudWatch dimension value of an ARN: ``app/<name>/<id>`` of a load
    balancer's, ``targetgroup/<name>/<id>`` of a target group's."""
    resource = arn.split(":", 5)[-1]
    return resource.removeprefix("loadbalancer/")


def lcus(kind: str, seconds: float, new: float, active: float, nbytes: float,
         rule_evals: float) -> float:
    """Capacity units used over ``seconds`` (each dimension as a rate)."""
    per = ALB_LCU if kind == "application" else NLB_LCU
    seconds = max(seconds, 1e-9)
    used = (new / seconds / per[0], active / per[1],
            nbytes / GB / (seconds / 3600.0) / per[2], rule_evals / seconds / per[3])
    return max(used)


HOUR = 3600.0
KEEP_HOURS = 3  # hours of figures kept on the record (the meter bills within one)


def hour_lcus(kind: str, new: float, active_seconds: float, nbytes: float,
              rule_evals: float) -> float:
    """Capacity units of a clock hour from its totals, as AWS bills them: new
    connections (or flows) per second averaged over the hour, active ones
    averaged over the hour (``active_seconds``: connections times the seconds
    they were open), GB processed in the hour and rule evaluations per second
    averaged over the hour; the highest dimension is billed."""
    per = ALB_LCU if kind == "application" else NLB_LCU
    return max(new / HOUR / per[0], active_seconds / HOUR / per[1], nbytes / GB / per[2],
               rule_evals / HOUR / per[3])


# A listener's routes: the target groups of each of its rules in priority
# order, and those of its default action.
Routes = tuple[list[list[str]], list[str]]


def rule_evaluations(listeners: list[Routes], requests: int, by_tg: dict[str, int]) -> float:
    """Rule evaluations of a period's ``requests`` that LCUs charge, as AWS
    counts them: each request counts the rules processed until one matched
    (the matching rule's place in its listener's priority order; all the
    listener's rules for its default action), less the first ``FREE_RULES``.

    Which rule a request matched is read from where it went (``by_tg``:
    requests each target group got): a target group's requests matched the
    first rule (listeners in order) that forwards to it alone, or the default
    action that does. Requests not placed so (answered by a fixed response, a
    redirect, a weighted forward to several groups) matched the first such
    rule or default action, else the first listener's default action."""
    charged = 0.0
    placed = 0
    seen: set[str] = set()
    other: int | None = None  # rules processed to reach the first other action
    for rules, default in listeners:
        for place, tgs in enumerate([*rules, default], start=1):
            processed = min(place, len(rules))
            if len(tgs) != 1:
                other = processed if other is None else other
                continue
            if tgs[0] in seen:
                continue
            seen.add(tgs[0])
            n = by_tg.get(tgs[0], 0)
            placed += n
            charged += n * max(0, processed - FREE_RULES)
    if other is None:
        other = len(listeners[0][0]) if listeners else 0
    return charged + max(0, requests - placed) * max(0, other - FREE_RULES)


def add_to_hours(hours: dict[str, list[float]], now: float, seconds: float,
                 figures: tuple[float, float, float, float]) -> dict[str, list[float]]:
    """``hours`` (hour start -> [new, active seconds, bytes, rule evaluations])
    with a period ending at ``now`` added, shared between the hours it spans
    by time; hours older than ``KEEP_HOURS`` dropped."""
    seconds = max(seconds, 1e-9)
    start = now - seconds
    t = start
    while t < now:
        hour = t // HOUR * HOUR
        stop = min(now, hour + HOUR)
        share = (stop - t) / seconds
        sums = hours.setdefault(str(int(hour)), [0.0, 0.0, 0.0, 0.0])
        for i, value in enumerate(figures):
            sums[i] += value * share
        t = stop
    oldest = (now // HOUR - KEEP_HOURS + 1) * HOUR
    return {h: v for h, v in hours.items() if int(h) >= oldest}


@dataclass
class _Last:
    mono: float
    totals: Counters
    backends: dict[str, Counters]


class LoadBalancerMetrics:
    """The ELBv2 metric source (see the module docstring)."""

    name = "elbv2-loadbalancers"

    def __init__(self, service: DataPlane, time_scale: float = 1.0) -> None:
        self.service = service
        self.interval = PERIOD / time_scale
        self._last: dict[str, _Last] = {}

    async def collect(self, now: float) -> Iterable[Sample]:
        svc = self.service
        mono: float = svc.env.clock.monotonic()
        samples: list[Sample] = []
        live: set[str] = set()
        for lb in svc.store.resources.list(LB):
            name = proxy_name(lb)
            if not svc.driver.running(name):
                continue
            live.add(name)
            totals = await svc.driver.totals(name)
            backends = await svc.driver.counters(name)
            health = await svc.driver.health(name)
            last = self._last.get(name) or _Last(mono - self.interval, Counters(), {})
            self._last[name] = _Last(mono, totals, backends)
            samples += self.samples(lb, last, totals, backends, health, mono - last.mono, now)
        for gone in set(self._last) - live:
            del self._last[gone]
        return samples

    def _groups(self, lb: Doc) -> tuple[list[str], list[Routes]]:
        """Target groups a load balancer forwards to, and its listeners'
        routes (see ``rule_evaluations``)."""
        svc = self.service
        call = svc._call(lb["arn"])
        if call is None:
            return [], []
        tgs: list[str] = []
        routes: list[Routes] = []
        for lst in svc.listeners_of(call, lb["arn"]):
            default = svc.actions_tgs(lst["default_actions"])
            tgs += default
            rules = [svc.actions_tgs(rule["actions"])
                     for rule in svc.rules_of(call, lst["arn"])]
            for rule_tgs in rules:
                tgs += rule_tgs
            routes.append((rules, default))
        return list(dict.fromkeys(tgs)), routes

    def samples(self, lb: Doc, last: _Last, totals: Counters, backends: dict[str, Counters],
                health: dict[str, dict[str, ServerHealth]], seconds: float,
                now: float) -> list[Sample]:
        app = lb["type"] == "application"
        namespace = "AWS/ApplicationELB" if app else "AWS/NetworkELB"
        lb_dim = ("LoadBalancer", dimension(lb["arn"]))
        out: list[Sample] = []

        def put(metric: str, value: float, unit: str, *dims: tuple[str, str]) -> None:
            out.append(Sample(lb["account"], lb["region"], namespace, metric, float(value),
                              now, tuple(dims) or (lb_dim,), unit))

        requests = delta(totals.requests, last.totals.requests)
        new = delta(totals.connections, last.totals.connections)
        nbytes = (delta(totals.bytes_in, last.totals.bytes_in)
                  + delta(totals.bytes_out, last.totals.bytes_out))
        tg_arns, routes = self._groups(lb)
        by_tg = {tg: delta(backends.get(backend_name(tg), Counters()).requests,
                           last.backends.get(backend_name(tg), Counters()).requests)
                 for tg in tg_arns}
        rule_evals = rule_evaluations(routes, requests, by_tg)
        if app:
            put("RequestCount", requests, "Count")
            put("ActiveConnectionCount", totals.active_connections, "Count")
            put("NewConnectionCount", new, "Count")
            put("RuleEvaluations", rule_evals, "Count")
        else:
            put("ActiveFlowCount", totals.active_connections, "Count")
            put("NewFlowCount", new, "Count")
        put("ProcessedBytes", nbytes, "Bytes")
        consumed = lcus(lb["type"], seconds, new, totals.active_connections, nbytes, rule_evals)
        put("ConsumedLCUs", consumed, "Count")
        self._keep_usage(lb, now, seconds, (float(new), totals.active_connections * seconds,
                                            float(nbytes), float(rule_evals)))

        target_codes = {c: 0 for c in ("2xx", "3xx", "4xx", "5xx")}
        timed = 0.0
        timed_requests = 0
        for tg_arn in tg_arns:
            bname = backend_name(tg_arn)
            tg_dim = ("TargetGroup", dimension(tg_arn))
            servers = health.get(bname, {})
            healthy = sum(1 for h in servers.values() if h.state == "healthy")
            unhealthy = sum(1 for h in servers.values() if h.state == "unhealthy")
            put("HealthyHostCount", healthy, "Count", tg_dim, lb_dim)
            put("UnHealthyHostCount", unhealthy, "Count", tg_dim, lb_dim)
            if not app:
                continue
            now_c = backends.get(bname, Counters())
            before = last.backends.get(bname, Counters())
            tg_requests = delta(now_c.requests, before.requests)
            put("RequestCount", tg_requests, "Count", tg_dim, lb_dim)
            per_target = tg_requests / healthy if healthy else float(tg_requests)
            put("RequestCountPerTarget", per_target, "Count", tg_dim, lb_dim)
            put("RequestCountPerTarget", per_target, "Count", tg_dim)
            for code in target_codes:
                n = delta(now_c.responses.get(code, 0), before.responses.get(code, 0))
                target_codes[code] += n
                put(f"HTTPCode_Target_{code[0]}XX_Count", n, "Count", tg_dim, lb_dim)
            if tg_requests:
                put("TargetResponseTime", now_c.response_time_ms / 1000.0, "Seconds",
                    tg_dim, lb_dim)
                timed += now_c.response_time_ms * tg_requests
                timed_requests += tg_requests
        if app:
            for code, n in target_codes.items():
                put(f"HTTPCode_Target_{code[0]}XX_Count", n, "Count")
            for code in ("4xx", "5xx"):
                total = delta(totals.responses.get(code, 0), last.totals.responses.get(code, 0))
                put(f"HTTPCode_ELB_{code[0]}XX_Count", max(0, total - target_codes[code]),
                    "Count")
            if timed_requests:
                put("TargetResponseTime", timed / timed_requests / 1000.0, "Seconds")
        return out

    def _keep_usage(self, lb: Doc, now: float, seconds: float,
                    figures: tuple[float, float, float, float]) -> None:
        """Add a period's LCU figures to the hours on the record (see the
        module docstring); a period with nothing in it writes nothing."""
        if not any(figures):
            return
        store = self.service.store
        with store.tx():
            fresh = store.resources.get(LB, lb["account"], lb["region"], lb["arn"])
            if fresh is None:
                return
            fresh.pop("lcu", None)  # the per-period figure billing once read
            fresh["lcu_hours"] = add_to_hours(dict(fresh.get("lcu_hours") or {}), now,
                                              seconds, figures)
            store.resources.put(LB, lb["account"], lb["region"], lb["arn"], fresh)
