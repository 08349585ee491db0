"""Requests as an SDK signs them, for tests that then send them by hand
(altered, split, pipelined) to see what gureum answers."""

from __future__ import annotations

from typing import Any


class _Captured(Exception):
    pass


def signed_put(s3: Any, bucket: str, key: str, body: bytes) -> tuple[str, dict[str, str]]:
    """The path (with its query) and headers of a PutObject of ``body`` as the
    boto3 client ``s3`` signs it, not sent."""
    captured: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> None:
        captured.update(url=request.url, headers={
            k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()})
        raise _Captured

    s3.meta.events.register("before-send.s3.PutObject", capture)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except _Captured:
        pass
    finally:
        s3.meta.events.unregister("before-send.s3.PutObject", capture)
    if "url" not in captured:
        raise AssertionError("the PUT was not signed")
    url: str = captured["url"]
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    return path, captured["headers"]
