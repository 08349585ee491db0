"""A minimal asyncio client for the Redis protocol (RESP2): one command per
connection, enough for administration (PING, INFO, REPLICAOF, CLUSTER ...).
Data traffic never goes through gureum: clients talk to the servers."""

from __future__ import annotations

import asyncio
from typing import Any


class RedisError(Exception):
    """An error reply (``-ERR ...``), or no answer."""


class Unreachable(RedisError):
    """No connection could be made (nothing listens there, or no route)."""


def encode(args: tuple[Any, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def read_reply(reader: asyncio.StreamReader) -> Any:
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise RedisError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = await reader.readexactly(size + 2)
        return data[:-2].decode(errors="replace")
    if kind == b"*":
        count = int(rest)
        if count < 0:
            return None
        return [await read_reply(reader) for _ in range(count)]
    raise RedisError(f"unexpected reply {line!r}")


async def call(host: str, port: int, *args: Any, timeout: float = 5.0) -> Any:
    """Send one command and return its reply; ``RedisError`` on error or timeout."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError) as exc:
        raise Unreachable(f"cannot connect to {host}:{port}: {exc}") from exc
    try:
        writer.write(encode(args))
        await writer.drain()
        return await asyncio.wait_for(read_reply(reader), timeout)
    except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
        raise RedisError(f"{host}:{port}: {exc or type(exc).__name__}") from exc
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


def parse_info(text: str) -> dict[str, str]:
    """``INFO`` output as a flat dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out
