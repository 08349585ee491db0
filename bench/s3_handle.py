"""Where gureum's CPU goes for one S3 GetObject/HeadObject of a 4 KiB object,
without HTTP: the gateway's ``handle`` called in-process on signed mocked
aiohttp requests (SigV4 from botocore), microseconds of CPU per call, then
(``--profile``) cProfile's top functions by cumulative CPU time. What the
HTTP stack adds is bench/s3.py's "aiohttp floor".

    .venv/bin/python bench/s3_handle.py [--calls 3000] [--profile [--sort tottime]]
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
from pathlib import Path

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


def signed(method: str, path: str) -> Request:
    request = AWSRequest(method, f"http://{HOST}{path}", data=b"")
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    headers = CIMultiDict(request.headers)
    headers["Host"] = HOST
    return make_mocked_request(method, path, headers=headers)


async def measure(cloud: Cloud, calls: int, profile: bool, sort: str = "cumulative") -> None:
    s3 = cloud.services["s3"]
    root = Identity.root(ACCOUNT)
    s3.create_bucket(Call("s3", "CreateBucket", ACCOUNT, "us-east-1", root, "r"),  # type: ignore[attr-defined]
                     {"Bucket": "handle"})
    await s3.put_object(Call("s3", "PutObject", ACCOUNT, "us-east-1", root, "r"),  # type: ignore[attr-defined]
                        {"Bucket": "handle", "Key": "k", "Body": os.urandom(4096),
                         "ContentLength": 4096})
    for method in ("HEAD", "GET"):
        requests = [signed(method, "/handle/k") for _ in range(calls)]
        first = await cloud.gateway.handle(requests.pop())
        assert first.status == 200, first.status
        start = time.process_time()
        for request in requests:
            await cloud.gateway.handle(request)
        per_call = (time.process_time() - start) * 1e6 / len(requests)
        print(f"{method}: {per_call:.1f} us of CPU per handle()")
        if profile:
            requests = [signed(method, "/handle/k") for _ in range(calls)]
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for request in requests:
                await cloud.gateway.handle(request)
            profiler.disable()
            pstats.Stats(profiler).sort_stats(sort).print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative",
                        help="the profile's order: cumulative or tottime (own time)")
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    data = Path(tempfile.mkdtemp(prefix="gureum-bench-"))
    try:
        cloud = Cloud(Settings(data_dir=data))
        try:
            asyncio.run(measure(cloud, args.calls, args.profile, args.sort))
        finally:
            cloud.store.close()
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
