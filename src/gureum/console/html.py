"""The console's HTML: one page layout with its stylesheet inline (no scripts,
no fonts or images from elsewhere: the pages must read on a machine without
internet), tables, and the formatting of times and amounts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from html import escape
from typing import Any

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; color: #1b1f24; background: #f6f7f9; }
header { background: #232f3e; color: #fff; padding: 10px 24px; display: flex;
         align-items: baseline; gap: 24px; }
header h1 { font-size: 20px; margin: 0; font-weight: 600; }
header a { color: #fff; text-decoration: none; padding: 2px 6px; border-radius: 3px; }
header a.here { background: #3d4f66; }
header .meta { margin-left: auto; font-size: 13px; color: #c8d1dc; }
main { padding: 8px 24px 32px; max-width: 1280px; }
section { background: #fff; border: 1px solid #d5dbe1; border-radius: 6px;
          margin: 16px 0; padding: 4px 16px 12px; }
h2 { font-size: 17px; margin: 10px 0 8px; }
h2 .count { color: #5f6b7a; font-weight: normal; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 10px 5px 0; border-bottom: 1px solid #e9edf0;
         vertical-align: top; }
th { font-size: 13px; color: #5f6b7a; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #c8d1dc; }
.empty { color: #5f6b7a; font-style: italic; margin: 4px 0; }
.note { color: #5f6b7a; font-size: 13px; }
.warn { background: #fff8e5; border-left: 4px solid #e6a700; padding: 6px 10px; }
.state { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 13px;
         font-weight: 600; }
.good { background: #e3f4e8; color: #1d6b35; }
.bad { background: #fde8e8; color: #b3261e; }
.mid { background: #fff1d6; color: #8a5a00; }
.off { background: #eceff2; color: #4b5563; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; }
"""

GOOD = {"running", "available", "active", "ok", "healthy", "inservice", "in_service"}
BAD = {"alarm", "unhealthy", "failed", "terminated", "stopped", "deleted", "incompatible-network",
       "inaccessible-encryption-credentials"}
OFF = {"unused", "unavailable", "draining", "insufficient_data", "stopping", "shutting-down"}


def state(value: Any) -> str:
    """A state as a coloured badge (green good, red bad, amber in between)."""
    text = str(value or "")
    key = text.lower().replace(" ", "")
    css = "good" if key in GOOD else "bad" if key in BAD else "off" if key in OFF else "mid"
    return f'<span class="state {css}">{escape(text)}</span>'


def when(value: Any) -> str:
    """A time (epoch seconds or datetime) in UTC, to the second."""
    if value is None or value == "":
        return ""
    if isinstance(value, int | float):
        value = dt.datetime.fromtimestamp(float(value), dt.UTC)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        shown: str = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return shown
    return str(value)


def money(amount: Decimal | float | str) -> str:
    """USD; small amounts keep the digits that show them (a local bill is tiny)."""
    value = Decimal(str(amount))
    if abs(value) >= 100:
        return f"${value:,.2f}"
    if value and abs(value) < Decimal("0.000001"):
        return f"${value.normalize():f}"  # a threshold of a tiny budget
    return f"${value:,.6f}"


def size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TiB"


class Raw(str):
    """Markup that is already safe (a badge, a link): not escaped again."""


def cell(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return ""
    return escape(str(value))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str,
          numeric: Iterable[int] = (), total: Sequence[Any] | None = None) -> str:
    """A table; ``numeric`` columns align right; ``empty`` is said when no rows."""
    body = list(rows)
    if not body:
        return f'<p class="empty">{escape(empty)}</p>'
    nums = set(numeric)

    def cls(i: int) -> str:
        return ' class="num"' if i in nums else ""

    out = ["<table><thead><tr>"]
    out += [f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(headers)]
    out.append("</tr></thead><tbody>")
    for row in body:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{cell(v)}</td>" for i, v in enumerate(row))
                   + "</tr>")
    if total is not None:
        out.append('<tr class="total">' + "".join(
            f"<td{cls(i)}>{cell(v)}</td>" for i, v in enumerate(total)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def section(title: str, body: str, count: int | None = None, anchor: str = "") -> str:
    shown = f' <span class="count">({count})</span>' if count is not None else ""
    ident = f' id="{escape(anchor)}"' if anchor else ""
    return f"<section{ident}><h2>{escape(title)}{shown}</h2>{body}</section>"


HERE = ' class="here"'


def page(title: str, here: str, body: str, meta: str) -> str:
    links = [("overview", "/_gureum/", "What runs"), ("bill", "/_gureum/bill", "Bill")]
    nav = "".join(
        f'<a href="{href}"{HERE if key == here else ""}>{escape(text)}</a>'
        for key, href, text in links)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)} · gureum</title><style>{STYLE}</style></head><body>"
            f"<header><h1>gureum</h1><nav>{nav}</nav>"
            f"<span class=\"meta\">{escape(meta)}</span></header>"
            f"<main>{body}</main></body></html>")
