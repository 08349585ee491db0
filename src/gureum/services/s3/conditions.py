"""HTTP preconditions and byte ranges as S3 applies them to an object.

``check_conditions`` follows RFC 9110's order, which is S3's: If-Match (or,
without it, If-Unmodified-Since) failing is 412 ``PreconditionFailed``;
If-None-Match matching (or, without it, If-Modified-Since not newer) is 304
on reads. A copy source answers 412 for every failed condition.
``parse_range`` reads one ``bytes=`` range (first-last, first-, -suffix);
anything it cannot read is ignored, as S3 does, and a range wholly past the
end is 416 ``InvalidRange``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from gureum.errors import AWSError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def _etag_matches(header: str, etag: str) -> bool:
    bare = etag.strip('"')
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/").strip('"') == bare:
            return True
    return False


def precondition_failed(condition: str) -> AWSError:
    return AWSError(
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold",
        412,
        Condition=condition,
    )


def not_modified(etag: str, modified: float) -> AWSError:
    """304, with the object's validators (sent as ETag and Last-Modified headers)."""
    return AWSError("NotModified", "Not Modified", 304, ETag=etag, LastModified=modified)


def check_conditions(
    etag: str,
    modified: float,
    *,
    if_match: Any = None,
    if_none_match: Any = None,
    if_modified_since: Any = None,
    if_unmodified_since: Any = None,
    copy: bool = False,
) -> None:
    """Raise 412/304 when the request's preconditions do not hold for the object."""
    # Last-Modified has whole-second precision on the wire.
    whole = float(int(modified))
    if if_match is not None:
        if not _etag_matches(str(if_match), etag):
            raise precondition_failed("If-Match")
    else:
        since = _ts(if_unmodified_since)
        if since is not None and whole > since:
            raise precondition_failed("If-Unmodified-Since")
    if if_none_match is not None:
        if _etag_matches(str(if_none_match), etag):
            raise precondition_failed("If-None-Match") if copy else not_modified(etag, modified)
    else:
        since = _ts(if_modified_since)
        if since is not None and whole <= since:
            raise precondition_failed("If-Modified-Since") if copy else not_modified(etag, modified)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` with ``end`` exclusive, or ``None`` for the whole object."""
    if not header:
        return None
    m = _RANGE.match(header.strip().replace(" ", ""))
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise invalid_range(size)
        return max(0, size - suffix), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None  # syntactically invalid: ignored
    if start >= size:
        raise invalid_range(size)
    return start, end


def invalid_range(size: int) -> AWSError:
    return AWSError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        RangeRequested="",
        ActualObjectSize=str(size),
    )
