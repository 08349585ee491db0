"""Where gureum's CPU goes for one EC2 RunInstances or CreateTags call, without
HTTP: the gateway's ``handle`` called in-process on signed mocked aiohttp
requests (SigV4 from botocore), with the fake compute driver (instances are
records), microseconds of CPU per call; for RunInstances also per call once
the instance loop has settled (its launch and security-group work after the
call returned, less the idle loop's CPU over that time). ``--profile`` prints
cProfile's top functions by cumulative CPU time (environment: SORT=tottime,
ONLY=regex, CALLERS=regex, CALLEES=regex; WALL=1 times with the wall clock
instead: a CPU clock read is a system call per profiled call, which inflates
functions called often and adds system time to the figures). What the HTTP
stack adds is bench/s3.py's "aiohttp floor". ``--real`` (root) launches real instances with
the host's driver instead (then terminates them): the loop's launch work is
the real driver's, and the figures add the CPU of the helpers it waited for
and of the launch server (its forks, the instances' launchers, are the
instances' and are not counted, as in bench/ec2.py).

    .venv/bin/python bench/ec2_handle.py [--calls 200] [--profile] [--op RunInstances]
        [--real] [--base N]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import resource
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


def helpers_cpu(cloud: object) -> float:
    """CPU seconds of the commands this process waited for and of the launch server."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = used.ru_utime + used.ru_stime
    launches = getattr(cloud.services["ec2"].driver, "launches", None)  # type: ignore[attr-defined]
    pid = getattr(launches, "pid", None)
    if pid is not None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def cpu(cloud: object) -> float:
    return time.process_time() + helpers_cpu(cloud)


async def idle_rate(cloud: object) -> float:
    start = cpu(cloud)
    await asyncio.sleep(1.0)
    return cpu(cloud) - start


async def measure(cloud: object, op: str, calls: int, profile: bool, base: int = 0) -> None:
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

    for _ in range(base):  # (kept up, not counted: does a launch cost more with them?)
        response = await gateway.handle(signed({
            "Action": "RunInstances", "ImageId": image_id, "MinCount": "1", "MaxCount": "1",
            "InstanceType": "t3.nano"}))
        assert response.status == 200, response.text
    await asyncio.sleep(SETTLE)
    idle = await idle_rate(cloud)
    rounds = [profile]
    for profiling in rounds:
        requests = [signed(params(i)) for i in range(calls)]
        profiler = cProfile.Profile(*((time.process_time,) if not os.environ.get("WALL") else ()))
        t0, start, helpers = time.monotonic(), time.process_time(), helpers_cpu(cloud)
        times0 = os.times()
        if profiling:
            profiler.enable()
        for request in requests:
            response = await gateway.handle(request)
            assert response.status == 200, response.text
        returned = time.process_time()
        await asyncio.sleep(SETTLE)
        if profiling:
            profiler.disable()
        helpers = helpers_cpu(cloud) - helpers
        times1 = os.times()
        print(f"own user {(times1.user - times0.user) * 1e6 / calls:.0f} us, "
              f"system {(times1.system - times0.system) * 1e6 / calls:.0f} us per call")
        settled = time.process_time() - start + helpers - idle * (time.monotonic() - t0)
        print(f"{op}: {(returned - start) * 1e6 / calls:.0f} us of CPU per handle(), "
              f"{settled * 1e6 / calls:.0f} us settled (of which helpers "
              f"{helpers * 1e6 / calls:.0f} us){' (profiled)' if profiling else ''}")
        if profiling:
            stats = pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative"))
            stats.print_stats(*([os.environ["ONLY"]] if os.environ.get("ONLY") else []), 45)
            if os.environ.get("CALLERS"):
                stats.print_callers(os.environ["CALLERS"])
            if os.environ.get("CALLEES"):
                stats.print_callees(os.environ["CALLEES"])


async def terminate_all(cloud: object) -> None:
    """Terminate every instance and wait until the driver holds none."""
    gateway, ec2 = cloud.gateway, cloud.services["ec2"]  # type: ignore[attr-defined]
    listed = (await gateway.handle(signed({"Action": "DescribeInstances"}))).text
    ids = [part.split("<")[0] for part in listed.split("<instanceId>")[1:]]
    for n in range(0, len(ids), 50):
        await gateway.handle(signed({"Action": "TerminateInstances", **{
            f"InstanceId.{i + 1}": iid for i, iid in enumerate(ids[n:n + 50])}}))
    deadline = time.monotonic() + 60
    while ec2.driver.guests() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--op", choices=("RunInstances", "CreateTags"), default="RunInstances")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--base", type=int, default=0,
                        help="instances launched first and kept up, not counted")
    parser.add_argument("--real", action="store_true",
                        help="real instances (the host's compute driver; root)")
    args = parser.parse_args()
    if args.op == "RunInstances":
        args.calls = min(args.calls, 200)  # one gureum holds at most 256 instances
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.real:
        core.make_driver = lambda env: FakeComputeDriver()  # type: ignore[assignment]
    from gureum.server import Cloud
    data = Path(tempfile.mkdtemp(prefix="gureum-bench-"))

    async def run() -> None:
        cloud = Cloud(Settings(data_dir=data))
        await cloud.start()
        try:
            if cloud._warm_thread is not None:  # models loaded before measuring
                await asyncio.to_thread(cloud._warm_thread.join)
            # As the server does once started: what startup built is kept out of
            # the collector, whose full passes otherwise fell on the calls measured.
            gc.collect()
            gc.freeze()
            await measure(cloud, args.op, args.calls, args.profile, args.base)
        finally:
            await terminate_all(cloud)
            await cloud.stop()

    try:
        asyncio.run(run())
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
