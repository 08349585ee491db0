"""Pagination: NextToken/MaxResults (EC2, JSON services) and Marker/MaxRecords
(query services). Tokens are opaque to clients: the base64 of the offset key."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from gureum.errors import AWSError

T = TypeVar("T")


def encode_token(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def decode_token(token: str, code: str = "InvalidParameterValue") -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise AWSError(code, f"Invalid pagination token: {token}") from exc


def paginate(
    items: Sequence[T],
    token: str | None,
    limit: int | None,
    *,
    key: Callable[[T], str],
    default_limit: int = 1000,
    max_limit: int | None = None,
    min_limit: int = 1,
    error_code: str = "InvalidParameterValue",
) -> tuple[list[T], str | None]:
    """One page of ``items`` (already sorted by ``key``) after ``token``.

    The token names the last key returned, so a page stays correct when items
    are added or removed between calls."""
    if limit is None:
        limit = default_limit
    if limit < min_limit or (max_limit is not None and limit > max_limit):
        bound = f"between {min_limit} and {max_limit}" if max_limit else f">= {min_limit}"
        raise AWSError(error_code, f"MaxResults must be {bound}; got {limit}")
    start = 0
    if token:
        after = decode_token(token, error_code)
        if not isinstance(after, str):
            raise AWSError(error_code, f"Invalid pagination token: {token}")
        start = len(items)
        for i, item in enumerate(items):
            if key(item) > after:
                start = i
                break
    page = list(items[start : start + limit])
    more = start + limit < len(items)
    return page, (encode_token(key(page[-1])) if more and page else None)
