"""ListObjectsV2 and ListObjects (v1): prefix, delimiter and common prefixes,
start-after/marker, continuation tokens, max-keys and ``encoding-type=url``.

A page is a few indexed range scans of ``s3_objects`` in key order (BINARY
collation: UTF-8 byte order, as S3 lists): the scan starts after the last key
or common prefix returned, and once a common prefix is found it jumps past
every key under it instead of reading them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from gureum.errors import AWSError

from ..base import Call
from .acl import owner
from .core import S3Core
from .records import Listed

MAX_KEYS = 1000


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix``."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # no surrogates in UTF-8: skip to U+E000
                nxt = 0xE000
            return prefix[:-1] + chr(nxt)
        prefix = prefix[:-1]
    return None


@dataclass
class Page:
    contents: list[Listed] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str | None = None  # the last key or common prefix returned


def list_page(
    scan: Any, bucket: str, prefix: str, delimiter: str, after: str | None, limit: int
) -> Page:
    """One page of keys/common prefixes after ``after`` (exclusive); ``scan``
    yields rows whose first item is the key (``Records.scan_listed``)."""
    page = Page()
    if limit <= 0:
        return page
    if after is not None and after >= prefix:
        start, inclusive = after, False
    else:
        start, inclusive = prefix, True
    count = 0
    while True:
        jump: str | None = None
        rows = scan(bucket, start, inclusive)
        try:
            for record in rows:
                key = record[0]
                if not key.startswith(prefix):
                    return page
                if delimiter:
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = key[: cut + len(delimiter)]
                        jump = successor(common)
                        if after is None or common > after:
                            if count == limit:
                                page.truncated = True
                                return page
                            page.prefixes.append(common)
                            page.last = common
                            count += 1
                        if jump is not None:
                            break
                        continue
                if count == limit:
                    page.truncated = True
                    return page
                page.contents.append(record)
                page.last = key
                count += 1
            else:
                return page
        finally:
            rows.close()
        assert jump is not None
        start, inclusive = jump, True


_PLAIN = re.compile(r"[A-Za-z0-9_.~/-]*")  # what quote(safe="/") leaves as it is


def _encode(value: str | None, url: bool) -> str | None:
    if value is None or not url or _PLAIN.fullmatch(value):
        return value
    return quote(value, safe="/")


def _entries(rows: list[Listed], url: bool, owner_of: dict[str, str] | None
             ) -> list[dict[str, Any]]:
    """The ``Contents`` of a page, in the order of the model's ``Object`` members."""
    out: list[dict[str, Any]] = []
    append = out.append
    for key, size, etag, modified, sums in rows:
        entry: dict[str, Any] = {
            "Key": _encode(key, url) if url else key,
            "LastModified": modified,
            "ETag": etag,
            "Size": size,
            "StorageClass": "STANDARD",
        }
        if sums is not None:
            found, kind = json.loads(sums)
            if found:
                entry["ChecksumAlgorithm"] = sorted(found)
                entry["ChecksumType"] = kind or "FULL_OBJECT"
        if owner_of is not None:
            entry["Owner"] = owner_of
        append(entry)
    return out


def _limit(params: dict[str, Any]) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return MAX_KEYS
    if value < 0:
        raise AWSError("InvalidArgument", "maxKeys should be non-negative", 400,
                       ArgumentName="maxKeys", ArgumentValue=str(value))
    return min(int(value), MAX_KEYS)


def _encoding(params: dict[str, Any]) -> bool:
    kind = params.get("EncodingType")
    if kind is None:
        return False
    if kind != "url":
        raise AWSError("InvalidArgument", "Invalid Encoding Method specified in Request", 400,
                       ArgumentName="encoding-type", ArgumentValue=str(kind))
    return True


def _token(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode()


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError) as exc:
        raise AWSError("InvalidArgument", "The continuation token provided is incorrect", 400,
                       ArgumentName="continuation-token") from exc


class ListingOps(S3Core):
    def _page(self, call: Call, params: dict[str, Any], after: str | None) -> tuple[str, Page]:
        bucket = self.owned(call, params["Bucket"], None, params)["Name"]
        page = list_page(
            self.records.scan_listed, bucket, params.get("Prefix") or "",
            params.get("Delimiter") or "", after, _limit(params),
        )
        return bucket, page

    def list_objects_v2(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        url = _encoding(params)
        token = params.get("ContinuationToken")
        after = _untoken(token) if token else params.get("StartAfter") or None
        bucket, page = self._page(call, params, after)
        fetch_owner = bool(params.get("FetchOwner"))
        out: dict[str, Any] = {
            "Name": bucket,
            "Prefix": _encode(params.get("Prefix") or "", url),
            "MaxKeys": _limit(params),
            "KeyCount": len(page.contents) + len(page.prefixes),
            "IsTruncated": page.truncated,
            "Contents": _entries(page.contents, url, owner(call.account) if fetch_owner else None)
            or None,
            "CommonPrefixes": [{"Prefix": _encode(p, url)} for p in page.prefixes] or None,
            "Delimiter": _encode(params.get("Delimiter"), url),
            "StartAfter": _encode(params.get("StartAfter"), url),
            "ContinuationToken": token,
            "EncodingType": "url" if url else None,
        }
        if page.truncated and page.last is not None:
            out["NextContinuationToken"] = _token(page.last)
        return out

    def list_objects(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        url = _encoding(params)
        marker = params.get("Marker") or None
        bucket, page = self._page(call, params, marker)
        out: dict[str, Any] = {
            "Name": bucket,
            "Prefix": _encode(params.get("Prefix") or "", url),
            "Marker": _encode(params.get("Marker") or "", url),
            "MaxKeys": _limit(params),
            "IsTruncated": page.truncated,
            "Contents": _entries(page.contents, url, owner(call.account)) or None,
            "CommonPrefixes": [{"Prefix": _encode(p, url)} for p in page.prefixes] or None,
            "Delimiter": _encode(params.get("Delimiter"), url),
            "EncodingType": "url" if url else None,
        }
        if page.truncated and params.get("Delimiter") and page.last is not None:
            out["NextMarker"] = _encode(page.last, url)
        return out
