"""The meter: a loop that turns what is on (gauges from the usage sources) and
what was counted (requests, bytes) into priced usage rows per hour.

Each tick covers ``[watermark, now]``: it integrates every gauge over the
part of that interval it was on, cut at hour boundaries, prices the
quantities from the price list, adds them to the usage rows and moves the
watermark, all in one transaction. A crash before the commit loses the tick
and the next one covers the same interval again; a crash after it leaves
nothing to redo. Nothing is ever counted twice.

Time while gureum was down is metered as it was recorded: an instance
recorded running stays billed (gureum boots it again at start, as a host
that rebooted), which is what AWS would bill for an instance whose host
restarted.

A run with a minimum (EC2: 60 seconds per start) is billed its minimum as
soon as it is seen; later ticks bill only what goes past the minimum. A
source that knows a resource's starts and stops (``runs.note_run``) gives
each run that ended with both: a run that started and ended between two
ticks is billed whole, its minimum included, and a stop and start within a
tick ends the run and begins another with a minimum of its own.

Usage AWS computes per clock hour as a whole (load balancer LCUs: the
highest dimension of the hour's averages) comes as the hour's figure so far;
each tick bills the hour up to it, so the hour ends billed exactly its figure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gureum.control import Loop

from ..base import Env
from .pricelist import PriceList, Unpriced, prices, unpriced
from .sources import SOURCES, Gauge, UsageSource
from .usage import HOUR, Key, Usage, hour_of, hour_pieces, hours_in_month, month_start

log = logging.getLogger("gureum.billing")

LOOP = "billing-meter"
EXTRA = "billing.meter"  # Env.extras: the one Meter of a gureum
INTERVAL_EXTRA = "billing.interval"  # Env.extras: seconds between ticks (tests)
DEFAULT_INTERVAL = 15.0
SERVICE_CODES = {"ec2": "AmazonEC2", "s3": "AmazonS3", "elbv2": "AWSELB", "rds": "AmazonRDS",
                 "elasticache": "AmazonElastiCache", "cloudwatch": "AmazonCloudWatch",
                 "secretsmanager": "AWSSecretsManager"}


@dataclass(frozen=True)
class Counted:
    key: Key
    hour: int
    operation: str
    unit: str


def quantity(gauge: Gauge, hour: int, seconds: float) -> float:
    """What ``seconds`` of a gauge in ``hour`` amount to in its unit."""
    if gauge.unit == "GB-Mo":
        return gauge.amount * seconds / (HOUR * hours_in_month(hour))
    return gauge.amount * seconds / HOUR


class Meter:
    """Usage metering for one store. ``tick()`` is synchronous: it runs whole
    between two awaits, so an API call may tick before answering."""

    def __init__(self, env: Env, price_list: PriceList | None = None) -> None:
        self.env = env
        self.prices = price_list or prices()
        self.usage = Usage(env.store.connection)
        self.sources: list[UsageSource] = [factory() for factory in SOURCES.values()]
        for source in self.sources:  # a source that needs settings takes them here
            bind = getattr(source, "bind", None)
            if callable(bind):
                bind(env)
        # Counted usage until the next tick: [units, attrs] by
        # (account, region, service, usage_type, resource, hour, operation, unit),
        # a plain tuple so a request's count builds no objects.
        self._counted: dict[tuple[str, str, str, str, str, int, str, str], list[Any]] = {}
        self.listeners: list[Any] = []  # callables(now) run after each tick
        # Month-to-date units of tiered usage types, read once per tick.
        self._mtd: dict[tuple[str, str, str, float], float] = {}

    @property
    def interval(self) -> float:
        given = self.env.extras.get(INTERVAL_EXTRA)
        if given is not None:
            return float(given)
        return float(getattr(self.env.settings, "meter_interval", DEFAULT_INTERVAL))

    def now(self) -> float:
        t: float = self.env.clock.now()
        return t

    # -- counted usage ----------------------------------------------------------

    def count(self, account: str, region: str, service: str, usage_type: str, n: float = 1.0,
              *, resource: str = "", operation: str = "", unit: str = "Requests",
              attrs: dict[str, Any] | None = None) -> None:
        """Count ``n`` units now; written by the next tick (in memory until then)."""
        t: float = self.env.clock.now()
        key = (account, region, service, usage_type, resource, int(t // HOUR * HOUR),
               operation, unit)
        entry = self._counted.get(key)
        if entry is None:
            self._counted[key] = [n, attrs]
        else:
            entry[0] += n
            entry[1] = attrs  # the last count's attributes are written

    # -- the loop -----------------------------------------------------------------

    def loop(self) -> Loop:
        return Loop(LOOP, self._reconcile, clock=self.env.clock, resync=self._resync,
                    resync_interval=3600.0, concurrency=1)

    async def _resync(self) -> list[str]:
        return ["meter"]

    async def _reconcile(self, key: str) -> float | None:
        self.tick()
        return self.interval

    def tick(self) -> float:
        """Meter up to now; return the new watermark."""
        now = self.now()
        counted, self._counted = self._counted, {}
        self._mtd = {}
        try:
            with self.env.store.tx():
                since = self.usage.watermark()
                if since is None or since > now:
                    since = now  # nothing before the meter's first tick is billed
                if now > since:
                    self._gauges(since, now)
                self._write_counted(counted)
                self.usage.set_watermark(max(now, since))
        except BaseException:
            for k, (n, attrs) in counted.items():  # keep them for the next tick
                entry = self._counted.get(k)
                if entry is None:
                    self._counted[k] = [n, attrs]
                else:  # counted since: those are newer
                    entry[0] += n
            raise
        for listener in list(self.listeners):
            try:
                listener(now)
            except Exception:
                log.warning("billing listener failed", exc_info=True)
        return now

    def _gauges(self, since: float, now: float) -> None:
        runs = dict(self.usage.runs())
        seen: set[Key] = set()
        for source in self.sources:
            try:
                gauges = list(source.gauges(self.env.store.connection, since, now))
            except Exception:
                log.warning("usage source %s failed", source.name, exc_info=True)
                seen.update(k for k in runs if k.service.lower().endswith(source.name))
                continue
            for gauge in gauges:
                key = Key(gauge.account, gauge.region, gauge.service, gauge.usage_type,
                          gauge.resource)
                if gauge.hour_totals:
                    self._hour_totals(gauge, key, since)
                    continue
                if gauge.hourly or gauge.whole_hours:
                    self._hourly(gauge, key, since, now)
                    continue
                run = runs.get(key)
                if gauge.until is not None:  # went off between the ticks
                    end = max(since, min(gauge.until, now))
                    if run is not None:  # the run the last tick saw ends
                        self._accrue(gauge, key, since, end, run[1])
                        self.usage.end_run(key)
                        del runs[key]
                    elif gauge.since is not None and gauge.until > since:
                        # A whole run between two ticks: billed at least its minimum.
                        self._run(gauge, key, min(end, max(since, gauge.since)), end)
                    continue
                seen.add(key)
                if run is None:
                    start = since if gauge.since is None else min(now, max(since, gauge.since))
                    runs[key] = (start, self._run(gauge, key, start, now))
                    self.usage.put_run(key, start, runs[key][1])
                else:
                    left = self._accrue(gauge, key, since, now, run[1])
                    if left != run[1]:
                        self.usage.put_run(key, run[0], left)
        for key in runs.keys() - seen:
            self.usage.end_run(key)

    def _run(self, gauge: Gauge, key: Key, start: float, end: float) -> float:
        """Bill a run that starts at ``start``, up to ``end``: its minimum at
        once, and its time; return the seconds the minimum paid ahead."""
        topup = max(0.0, gauge.minimum - (end - start))
        if topup > 0:
            self._add(gauge, key, hour_of(start), quantity(gauge, hour_of(start), topup))
        self._accrue(gauge, key, start, end, 0.0)
        return topup

    def _hourly(self, gauge: Gauge, key: Key, since: float, now: float) -> None:
        """Bill each hour a per-hour gauge touched in ``[since, now]`` that is not
        billed yet (a usage row of that hour means it is): a whole hour's share
        of its monthly amount, or its amount for a whole hour."""
        lo = since if gauge.since is None else max(since, gauge.since)
        hi = now if gauge.until is None else min(now, gauge.until)
        if hi < lo:
            return
        hour = hour_of(lo)
        # An hour it reaches only at the instant the hour begins is not begun
        # (a gauge on at an instant, ``lo == hi``, bills its hour).
        last = hi if lo == hi or hi > hour_of(hi) else hi - HOUR
        while hour <= last:
            if not self.usage.billed(key, hour):
                self._add(gauge, key, hour, gauge.amount if gauge.whole_hours
                          else gauge.amount / hours_in_month(hour))
            hour += int(HOUR)

    def _hour_totals(self, gauge: Gauge, key: Key, since: float) -> None:
        """Bring each hour of a per-hour figure up to the figure. Hours that
        ended more than an hour before the metered interval are left as they
        were billed (a figure the source still remembers from before a wipe)."""
        for hour, total in gauge.hour_totals:
            if hour < hour_of(since) - HOUR:
                continue
            more = total - self.usage.quantity(key, hour)
            if more > 1e-9:
                self._add(gauge, key, hour, more)

    def _accrue(self, gauge: Gauge, key: Key, start: float, end: float, prepaid: float) -> float:
        """Add ``[start, end)`` of a gauge, less what the minimum already paid;
        return the prepaid seconds left."""
        used = min(prepaid, max(0.0, end - start))
        for hour, seconds in hour_pieces(start + used, end):
            self._add(gauge, key, hour, quantity(gauge, hour, seconds))
        return prepaid - used

    def _add(self, gauge: Gauge, key: Key, hour: int, amount: float) -> None:
        if amount <= 0:
            return
        cost = self._price(key, gauge.operation, hour, amount)
        self.usage.add(key, hour, gauge.operation, gauge.unit, amount, cost, gauge.attrs)

    def _price(self, key: Key, operation: str, hour: int, amount: float) -> float:
        product = self.prices.product(key.service, key.usage_type, operation)
        if product is None:
            return 0.0
        if not product.tiered:
            return product.cost(amount)
        mtd = (key.account, key.service, key.usage_type, month_start(hour))
        before = self._mtd.get(mtd)
        if before is None:
            before = self.usage.month_to_date(key.account, key.service, key.usage_type, hour)
        self._mtd[mtd] = before + amount
        return product.cost(amount, before)

    def _write_counted(
        self, counted: dict[tuple[str, str, str, str, str, int, str, str], list[Any]],
    ) -> None:
        for (account, region, service, usage_type, resource, hour, operation, unit), \
                (n, attrs) in counted.items():
            k = Counted(Key(account, region, service, usage_type, resource), hour, operation,
                        unit)
            cost = self._price(k.key, k.operation, k.hour, n)
            self.usage.add(k.key, k.hour, k.operation, k.unit, n, cost, attrs or {})

    def unpriced(self, account: str, start: float, end: float) -> list[Unpriced]:
        """Usage of the hours in ``[start, end)`` metered at 0 for want of a
        price (an instance class gureum runs that the price list lacks)."""
        return unpriced(self.prices, self.usage.kinds(account, start, end))

    def wipe(self) -> None:
        self._counted.clear()
        with self.env.store.tx():
            self.usage.wipe()
            self.usage.set_watermark(self.now())


def meter_for(env: Env) -> Meter:
    """The gureum's meter (made on first use; shared by ce, budgets and services
    that count usage)."""
    meter = env.extras.get(EXTRA)
    if meter is None:
        meter = env.extras[EXTRA] = Meter(env)
    assert isinstance(meter, Meter)
    return meter


def count(env: Env, account: str, region: str, service: str, usage_type: str,
          n: float = 1.0, **details: Any) -> None:
    """Count usage as it happens (``count(env, acct, region, "s3",
    "Requests-Tier2", 1, resource=bucket, operation="GetObject")``); ``service``
    is a price list service code or a gureum service name."""
    code = SERVICE_CODES.get(service, service)
    meter_for(env).count(account, region, code, usage_type, n, **details)
