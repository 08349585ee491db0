"""Scalar conversions shared by every wire protocol: timestamps, blobs, numbers.

Operations return timestamps as ``datetime`` (aware or naive UTC), epoch
seconds (int/float) or ISO 8601 strings; each protocol writes them its way.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from gureum.errors import ValidationError


def to_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise TypeError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        return _from_epoch(value)
    if isinstance(value, str):
        return parse_timestamp(value)
    raise TypeError(f"not a timestamp: {value!r}")


def _from_epoch(seconds: float) -> datetime:
    """Epoch seconds as a datetime; ones outside years 1-9999 are bad input, not a crash."""
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ValidationError(message=f"Invalid timestamp: {seconds!r}") from exc


def parse_timestamp(text: str) -> datetime:
    """ISO 8601, epoch seconds or RFC 822, as clients send them."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return _from_epoch(seconds)
    try:
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        dt = datetime.fromisoformat(iso)
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError) as exc:
        raise ValidationError(message=f"Invalid timestamp: {text!r}") from exc


# Whole epoch seconds in years 1000-9999, which time.strftime pads to 4 digits.
_ISO_FAST_RANGE = range(-30610224000, 253402300800)


# Epoch seconds as "YYYY-MM-DDTHH:MM:SS", for the seconds written most recently:
# the records of a listing page were mostly written within a few seconds.
_SECONDS: dict[int, str] = {}
_SECONDS_KEPT = 4096


_MILLIS = tuple(f".{ms:03d}Z" for ms in range(1000))


def _second_text(second: int) -> str:
    text = _SECONDS.get(second)
    if text is None:
        if len(_SECONDS) >= _SECONDS_KEPT:
            _SECONDS.clear()
        text = _SECONDS[second] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return text


def iso8601(value: object) -> str:
    if type(value) is float and 0.0 <= value < 253402300799.0:
        # Stored records carry epoch seconds as floats (S3 LastModified): the
        # microseconds rounded as datetime.fromtimestamp rounds them (half to
        # even), then cut to milliseconds as isoformat cuts them.
        # (A listing page writes a thousand: the second's text is looked up in
        # place, and the milliseconds are one of a thousand spelled texts.)
        second = int(value)
        micro = round((value - second) * 1e6)  # value - int(value) is exact
        if micro >= 1_000_000:
            second += 1
            micro -= 1_000_000
        text = _SECONDS.get(second)
        if text is None:
            text = _second_text(second)
        return text + _MILLIS[micro // 1000]
    if type(value) is int and value in _ISO_FAST_RANGE:
        # Operations answer many timestamps as epoch seconds (metric datapoints):
        # gmtime + strftime is a third of the datetime round trip.
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(value))
    dt = to_datetime(value).astimezone(UTC)
    if dt.year >= 1000:  # isoformat pads the year to 4 digits; strftime may not
        return dt.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# Whole epoch seconds that datetime can hold: written as they are.
EPOCH_RANGE = range(-62135596800, 253402300800)


def epoch(value: object) -> float | int:
    if type(value) is int and value in EPOCH_RANGE:
        return value
    dt = to_datetime(value)
    ts = dt.timestamp()
    return int(ts) if ts == int(ts) else round(ts, 3)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_RFC822: dict[int, str] = {}


def rfc822(value: object) -> str:
    if type(value) is float and 0.0 <= value < 253402300799.0:
        # Stored epoch seconds (S3 Last-Modified on every GET and HEAD): the
        # second datetime.fromtimestamp would give, spelled as format_datetime does.
        frac, whole = math.modf(value)
        second = int(whole) + (round(frac * 1e6) >= 1_000_000)
        text = _RFC822.get(second)
        if text is None:
            if len(_RFC822) >= _SECONDS_KEPT:
                _RFC822.clear()
            t = time.gmtime(second)
            text = _RFC822[second] = (
                f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d}"
                f" {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
            )
        return text
    return format_datetime(to_datetime(value).astimezone(UTC).replace(microsecond=0), usegmt=True)


def format_timestamp(value: object, fmt: str) -> str:
    if fmt == "unixtimestamp":
        return str(epoch(value))
    if fmt == "rfc822":
        return rfc822(value)
    return iso8601(value)


def b64encode(value: bytes | str) -> str:
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(value).decode()


def b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(message="Invalid base64 value") from exc


def parse_bool(text: str) -> bool:
    low = text.lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise ValidationError(message=f"Invalid boolean value: {text!r}")


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise ValidationError(message=f"Invalid integer value: {text!r}") from exc


def parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise ValidationError(message=f"Invalid number value: {text!r}") from exc


def format_float(value: float | int) -> str:
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if f == int(f) and abs(f) < 1e16:
        return str(int(f)) if isinstance(value, int) else repr(f)
    return repr(f)


def parse_scalar(text: str, type_name: str) -> Any:
    """A scalar from its text form (query strings, headers, XML text)."""
    if type_name == "boolean":
        return parse_bool(text)
    if type_name in ("integer", "long"):
        return parse_int(text)
    if type_name in ("float", "double"):
        return parse_float(text)
    if type_name == "timestamp":
        return parse_timestamp(text)
    if type_name == "blob":
        return b64decode(text)
    return text
