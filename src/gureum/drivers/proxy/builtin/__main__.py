"""A built-in proxy worker process: ``python -m gureum.drivers.proxy.builtin
DIR PARENT WORKER``. It serves its control socket ``DIR/ctl-WORKER.sock`` (one
JSON request line, one JSON answer line) on an asyncio event loop (uvloop when
installed) that also carries its share of the traffic (the workers of a proxy
listen on the same ports with SO_REUSEPORT), and exits when told to (SIGTERM)
or when its parent (gureum) is gone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from . import wire
from .runtime import Proxy
from .wire import control_socket

log = logging.getLogger("gureum.proxy.builtin")


async def serve(directory: Path, parent: int, worker: str) -> None:
    proxy = Proxy(directory, worker)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            req = json.loads(line)
            answer: Any
            op = req.get("op")
            if op == "apply":
                try:
                    await proxy.apply(wire.loads(req["spec"]))
                    answer = {"ok": True}
                except (OSError, ValueError, KeyError, TypeError) as e:
                    answer = {"error": f"{type(e).__name__}: {e}"}
            elif op == "health":
                answer = proxy.health()
            elif op == "counters":
                answer = proxy.counters()
            elif op == "totals":
                answer = proxy.totals()
            elif op == "ping":
                answer = {"pid": os.getpid()}
            else:
                answer = {"error": f"unknown op {op!r}"}
            writer.write(wire.encode(answer))
            await writer.drain()
        except (OSError, ValueError) as e:
            log.warning("control request failed: %s", e)
        finally:
            writer.close()

    sock = control_socket(directory, worker)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    server = await asyncio.start_unix_server(handle, path=str(sock))
    sock.chmod(0o600)

    async def watch_parent() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(1.0)
        stop.set()

    watcher = asyncio.ensure_future(watch_parent())
    await stop.wait()
    watcher.cancel()
    server.close()
    proxy.close()
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    directory, parent = Path(sys.argv[1]), int(sys.argv[2])
    worker = sys.argv[3] if len(sys.argv) > 3 else "0"
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(directory, parent, worker))
    else:
        uvloop.run(serve(directory, parent, worker))


if __name__ == "__main__":
    main()
