"""Streamed S3 request bodies: raw, aws-chunked (signed or with trailers), and a
declared SHA-256 checked as the bytes go by."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from gureum.errors import AWSError

CHUNK = 256 * 1024


def request_body_stream(
    request: web.Request, signed: Any, secret: str | None
) -> AsyncIterator[bytes]:
    declared = request.headers.get("x-amz-content-sha256", "")
    if declared.startswith("STREAMING-"):
        from .chunked import open_chunked

        return open_chunked(request, signed, secret)
    if len(declared) == 64 and signed is not None:
        return _checked(request, declared)
    return _raw(request)


async def _raw(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(CHUNK):
        yield chunk


async def _checked(request: web.Request, declared: str) -> AsyncIterator[bytes]:
    digest = hashlib.sha256()
    async for chunk in request.content.iter_chunked(CHUNK):
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != declared:
        raise AWSError(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            400,
            ClientComputedContentSHA256=declared,
            S3ComputedContentSHA256=digest.hexdigest(),
        )
