"""Where gureum's CPU goes for one EC2 RunInstances or CreateTags call, without
HTTP: the gateway's ``handle`` called in-process on signed mocked aiohttp
requests (SigV4 from botocore), with the fake compute driver (instances are
records), microseconds of CPU per call; for RunInstances also per call once
the instance loop has settled (its launch and security-group work after the
call returned, less the idle loop's CPU over that time). ``--profile`` prints
cProfile's top functions by cumulative CPU time. What the HTTP stack adds is
bench/s3.py's "aiohttp floor"; the real launch (the namespace driver's fork
and boot) is bench/ec2.py's.

    .venv/bin/python bench/ec2_handle.py [--calls 200] [--profile] [--op RunInstances]
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
from unittest import mock
from urllib.parse import urlencode

from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict

import gureum.services.ec2.core as core
from gureum.config import Settings
from gureum.drivers.compute.fake import FakeComputeDriver

HOST = "127.0.0.1:4566"
SETTLE = 2.5  # s: > the security group membership settle time (1 s)


def signed(params: dict[str, str]) -> Request:
    body = urlencode({"Version": "2016-11-15", **params}).encode()
    request = AWSRequest("POST", f"http://{HOST}/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("test", "test"), "ec2", "us-east-1").add_auth(request)
    headers = CIMultiDict(request.headers)
    headers["Host"] = HOST
    headers["Content-Length"] = str(len(body))
    payload = StreamReader(mock.Mock(_reading_paused=False), 2**16,
                           loop=asyncio.get_running_loop())
    payload.feed_data(body)
    payload.feed_eof()
    return make_mocked_request("POST", "/", headers=headers, payload=payload)


async def idle_rate() -> float:
    start = time.process_time()
    await asyncio.sleep(1.0)
    return time.process_time() - start


async def measure(cloud: object, op: str, calls: int, profile: bool) -> None:
    gateway = cloud.gateway  # type: ignore[attr-defined]
    image = (await gateway.handle(signed({"Action": "DescribeImages"}))).text
    image_id = image.split("<imageId>")[1].split("<")[0]
    first = await gateway.handle(signed({
        "Action": "RunInstances", "ImageId": image_id, "MinCount": "1", "MaxCount": "1",
        "InstanceType": "t3.nano"}))
    assert first.status == 200, first.text
    instance = first.text.split("<instanceId>")[1].split("<")[0]

    def params(i: int) -> dict[str, str]:
        if op == "CreateTags":
            return {"Action": "CreateTags", "ResourceId.1": instance,
                    "Tag.1.Key": f"k{i % 20}", "Tag.1.Value": str(i)}
        return {"Action": "RunInstances", "ImageId": image_id, "MinCount": "1",
                "MaxCount": "1", "InstanceType": "t3.nano"}

    await asyncio.sleep(SETTLE)
    idle = await idle_rate()
    rounds = [profile]
    for profiling in rounds:
        requests = [signed(params(i)) for i in range(calls)]
        profiler = cProfile.Profile(time.process_time)
        t0, start = time.monotonic(), time.process_time()
        if profiling:
            profiler.enable()
        for request in requests:
            response = await gateway.handle(request)
            assert response.status == 200, response.text
        returned = time.process_time()
        await asyncio.sleep(SETTLE)
        if profiling:
            profiler.disable()
        settled = time.process_time() - start - idle * (time.monotonic() - t0)
        print(f"{op}: {(returned - start) * 1e6 / calls:.0f} us of CPU per handle(), "
              f"{settled * 1e6 / calls:.0f} us settled{' (profiled)' if profiling else ''}")
        if profiling:
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative"))
            stats.print_stats(45)
            if os.environ.get("CALLERS"):
                stats.print_callers(os.environ["CALLERS"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--op", choices=("RunInstances", "CreateTags"), default="RunInstances")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.op == "RunInstances":
        args.calls = min(args.calls, 200)  # one gureum holds at most 256 instances
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    core.make_driver = lambda env: FakeComputeDriver()  # type: ignore[assignment]
    from gureum.server import Cloud
    data = Path(tempfile.mkdtemp(prefix="gureum-bench-"))

    async def run() -> None:
        cloud = Cloud(Settings(data_dir=data))
        await cloud.start()
        try:
            if cloud._warm_thread is not None:  # models loaded before measuring
                await asyncio.to_thread(cloud._warm_thread.join)
            await measure(cloud, args.op, args.calls, args.profile)
        finally:
            await cloud.stop()

    try:
        asyncio.run(run())
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
