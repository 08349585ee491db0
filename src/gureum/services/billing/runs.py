"""The runs of a resource billed by the second, kept in its own record.

A service calls ``note_run(doc, now, on, what)`` each time it saves the
record of an instance it bills by the second (EC2 and RDS instances): the
record then carries ``billing_runs``, a short list of ``[start, end, what]``
(``end`` None while it runs; ``what`` the thing billed, an instance type, so
that a change of it starts a new run). The meter bills from these
transitions, not from what it sees at its ticks: a run that starts and stops
between two ticks is billed, and each start has its own minimum.
"""

from __future__ import annotations

from typing import Any

RUNS = "billing_runs"
KEEP = 7 * 86400.0  # ended runs kept this long (the meter may be down a while)
MOST = 64  # and never more than this many


def note_run(doc: dict[str, Any], now: float, on: bool, what: str = "") -> None:
    """Record in ``doc`` that it is (``on``) or is not billed from ``now``."""
    runs: list[list[Any]] = [list(r) for r in doc.get(RUNS) or []]
    last = runs[-1] if runs and runs[-1][1] is None else None
    if last is not None and (not on or last[2] != what):
        last[1] = max(float(last[0]), now)
        last = None
    if on and last is None:
        runs.append([now, None, what])
    doc[RUNS] = [r for r in runs if r[1] is None or r[1] > now - KEEP][-MOST:]


def runs_of(doc: dict[str, Any]) -> list[tuple[float, float | None, str]] | None:
    """The recorded runs, oldest first (None: none recorded, as in a record from
    before runs were kept, stopped then: its state and last write tell)."""
    runs = doc.get(RUNS)
    if not isinstance(runs, list) or not runs:
        return None
    return [(float(r[0]), None if r[1] is None else float(r[1]), str(r[2])) for r in runs]
