"""Where gureum's CPU goes for one S3 PutObject/GetObject/HeadObject of a 4 KiB object,
without HTTP: the gateway's ``handle`` called in-process on signed mocked
aiohttp requests (SigV4 from botocore), microseconds of CPU per call, then
(``--profile``) cProfile's top functions by cumulative CPU time. What the
HTTP front adds is bench/s3.py's "lean floor".

    .venv/bin/python bench/s3_handle.py [--calls 3000] [--together N]
                                        [--profile [--sort tottime]]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from unittest import mock

from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Request
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

from gureum.config import Settings
from gureum.server import Cloud
from gureum.services.base import Call, Identity

HOST = "127.0.0.1:4566"
ACCOUNT = "000000000000"


def signed(method: str, path: str, body: bytes = b"") -> Request:
    """A request signed as botocore signs it; a PUT carries ``body`` (its
    SHA-256 signed, as botocore does over plain HTTP)."""
    request = AWSRequest(method, f"http://{HOST}{path}", data=body)
    if body:
        request.headers["Content-Length"] = str(len(body))
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    headers = CIMultiDict(request.headers)
    headers["Host"] = HOST
    if not body:
        return make_mocked_request(method, path, headers=headers)
    payload = StreamReader(mock.Mock(_reading_paused=False), 2**16,
                           loop=asyncio.get_running_loop())
    payload.feed_data(body)
    payload.feed_eof()
    return make_mocked_request(method, path, headers=headers, payload=payload)


async def run_all(cloud: Cloud, requests: list[Request], together: int) -> None:
    """Handle ``requests``, ``together`` at a time (started in one loop pass, as
    requests whose bytes arrive in one read are: their PUTs share a commit)."""
    if together <= 1:
        for request in requests:
            await cloud.gateway.handle(request)
        return
    for i in range(0, len(requests), together):
        await asyncio.gather(*[cloud.gateway.handle(r) for r in requests[i:i + together]])


async def measure(cloud: Cloud, calls: int, profile: bool, sort: str = "cumulative",
                  callers: str | None = None, together: int = 1) -> None:
    s3 = cloud.services["s3"]
    root = Identity.root(ACCOUNT)
    s3.create_bucket(Call("s3", "CreateBucket", ACCOUNT, "us-east-1", root, "r"),  # type: ignore[attr-defined]
                     {"Bucket": "handle"})
    await s3.put_object(Call("s3", "PutObject", ACCOUNT, "us-east-1", root, "r"),  # type: ignore[attr-defined]
                        {"Bucket": "handle", "Key": "k", "Body": os.urandom(4096),
                         "ContentLength": 4096})
    body = os.urandom(4096)
    for method in ("PUT", "HEAD", "GET"):
        requests = [signed(method, f"/handle/p{i}" if method == "PUT" else "/handle/k",
                           body if method == "PUT" else b"") for i in range(calls)]
        first = await cloud.gateway.handle(requests.pop())
        assert first.status == 200, (first.status, getattr(first, "body", b""))
        start = time.process_time()
        await run_all(cloud, requests, together)
        per_call = (time.process_time() - start) * 1e6 / len(requests)
        print(f"{method}: {per_call:.1f} us of CPU per handle()")
        if profile:
            requests = [signed(method, f"/handle/q{i}" if method == "PUT" else "/handle/k",
                               body if method == "PUT" else b"") for i in range(calls)]
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            await run_all(cloud, requests, together)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats(sort)
            stats.print_stats(int(os.environ.get("TOP", "30")))
            if callers:
                stats.print_callers(callers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-sync", action="store_true",
                        help="skip the WAL fdatasync of each PUT (left: the request's own CPU)")
    parser.add_argument("--sort", default="cumulative",
                        help="the profile's order: cumulative or tottime (own time)")
    parser.add_argument("--together", type=int, default=1, metavar="N",
                        help="handle the calls N at a time, concurrently (1: one by one)")
    parser.add_argument("--callers", metavar="REGEX",
                        help="with --profile: who calls the functions matching REGEX, how often")
    args = parser.parse_args()
    in_cloud(lambda cloud: measure(cloud, args.calls, args.profile, args.sort, args.callers,
                                   args.together),
             no_sync=args.no_sync)


def in_cloud(run: Callable[[Cloud], Coroutine[Any, Any, None]], *, no_sync: bool) -> None:
    """Print the load average, then run ``run`` on a gureum (no HTTP) over a
    fresh data directory, removed afterwards; ``no_sync``: no WAL fdatasync."""
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    data = Path(tempfile.mkdtemp(prefix="gureum-bench-"))
    try:
        cloud = Cloud(Settings(data_dir=data))
        if no_sync:
            async def synced() -> None:
                return None
            cloud.store.durable = synced  # type: ignore[method-assign]
        try:
            asyncio.run(run(cloud))
        finally:
            cloud.store.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
