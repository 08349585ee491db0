"""Unix cron expressions of scheduled actions (``Recurrence``): five fields,
minute hour day-of-month month day-of-week, each ``*``, a number, a range
``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of those; names of
months and days; ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``,
``@yearly``. As in cron, when both day fields are restricted a day matching
either runs. Times are evaluated in the action's time zone (IANA name)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
           "@annually": "0 0 1 1 *"}
LOOKAHEAD_DAYS = 366 * 5  # no run within five years: the expression never matches


class CronError(ValueError):
    pass


def zone(name: str | None) -> ZoneInfo | None:
    """The time zone ``name`` (None for UTC); CronError when unknown."""
    if not name or name.upper() in ("UTC", "ETC/UTC", "Z"):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"Invalid time zone: {name}") from None


def _field(text: str, low: int, high: int, names: tuple[str, ...] = (),
           base: int = 0) -> frozenset[int]:
    def number(s: str) -> int:
        s = s.lower()
        if s in names:
            return names.index(s) + base
        if not s.isdigit():
            raise CronError(f"Invalid cron field value: {s}")
        return int(s)

    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_s = part.partition("/")
        step = number(step_s) if step_s else 1
        if step < 1:
            raise CronError(f"Invalid cron step: {part}")
        if rng == "*":
            a, b = low, high
        elif "-" in rng:
            a_s, b_s = rng.split("-", 1)
            a, b = number(a_s), number(b_s)
        else:
            a = number(rng)
            b = high if step_s else a
        if not (low <= a <= high and low <= b <= high and a <= b):
            raise CronError(f"Invalid cron field: {part}")
        out.update(range(a, b + 1, step))
    return frozenset(out)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        text = ALIASES.get(text.strip().lower(), text.strip())
        fields = text.split()
        if len(fields) != 5:
            raise CronError(f"Invalid recurrence: {text!r} must have five fields")
        weekdays = _field(fields[4], 0, 7, DAYS)
        return cls(_field(fields[0], 0, 59), _field(fields[1], 0, 23), _field(fields[2], 1, 31),
                   _field(fields[3], 1, 12, MONTHS, base=1),
                   frozenset(d % 7 for d in weekdays),
                   fields[2] == "*", fields[4] == "*")

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow

    def next_after(self, after: float, tz: ZoneInfo | None = None) -> float | None:
        """The first run strictly after epoch ``after``, or None."""
        where = tz or UTC
        start = datetime.fromtimestamp(after, where).replace(second=0, microsecond=0)
        start += timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(LOOKAHEAD_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        at = day.replace(hour=hour, minute=minute, tzinfo=where)
                        if at >= start:
                            return at.timestamp()
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return None
