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
stack adds is bench/s3.py's "aiohttp floor". ``--lean`` sends the bytes boto3
writes through the lean HTTP front instead (its parse, its answer's bytes; no
socket), and ``--canned`` has the operation answer its first output again:
the gateway and front alone, no store write, no instance loop (any number of
calls). ``--real`` (root) launches real instances with
the host's driver instead (then terminates them): the loop's launch work is
the real driver's, and the figures add the CPU of the helpers it waited for
and of the launch server (its forks, the instances' launchers, are the
instances' and are not counted, as in bench/ec2.py).

    .venv/bin/python bench/ec2_handle.py [--calls 200] [--profile] [--op RunInstances]
        [--real] [--base N] [--lean] [--canned]
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
from typing import Any
from urllib.parse import urlencode

from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict
from s3_front import Sink

import gureum.services.ec2.core as core
from gureum.config import Settings
from gureum.drivers.compute.fake import FakeComputeDriver

HOST = "127.0.0.1:4566"
SETTLE = 2.5  # s: > the security group membership settle time (1 s)


class _Reader:
    """The flow control a body's StreamReader asks of its protocol, doing
    nothing. (A ``mock.Mock`` here made each body read cost ~20 us more than
    the server's: every attribute a Mock is asked for is a call through it.)"""

    _reading_paused = False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


# What boto3 sends besides (on the lean front's requests: the head it parses).
BOTO3_HEADERS = {
    "Accept-Encoding": "identity",
    "User-Agent": "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1.0 md/arch#x86_64 "
                  "lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.0",
    "amz-sdk-invocation-id": "7c9cfa46-9ad0-4b5b-9d8f-d5ee2b7c2d1a",
    "amz-sdk-request": "attempt=1",
}


def signed_request(params: dict[str, str], extra: dict[str, str] | None = None
                   ) -> tuple[CIMultiDict[str], bytes]:
    """The headers and body of a botocore-signed EC2 query request."""
    body = urlencode({"Version": "2016-11-15", **params}).encode()
    request = AWSRequest("POST", f"http://{HOST}/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **(extra or {})})
    SigV4Auth(Credentials("test", "test"), "ec2", "us-east-1").add_auth(request)
    headers = CIMultiDict(request.headers)
    headers["Host"] = HOST
    headers["Content-Length"] = str(len(body))
    return headers, body


def signed(params: dict[str, str]) -> Request:
    headers, body = signed_request(params)
    payload = StreamReader(_Reader(), 2**16,  # type: ignore[arg-type]
                           loop=asyncio.get_running_loop())
    payload.feed_data(body)
    payload.feed_eof()
    return make_mocked_request("POST", "/", headers=headers, payload=payload)


def raw_request(params: dict[str, str]) -> bytes:
    """A signed request as boto3 writes it on the wire (one send: head and body)."""
    headers, body = signed_request(params, BOTO3_HEADERS)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return f"POST / HTTP/1.1\r\n{head}\r\n".encode() + body


class _Transport(Sink):
    """A connection's transport that keeps what the front writes (no socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.waiter: asyncio.Future[None] | None = None

    def write(self, data: Any) -> None:
        self.written.append(data)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class Lean:
    """Requests answered through the lean HTTP front (``gureum.httpfront``),
    parsed from the bytes boto3 sends and written back as bytes, on a
    transport with no socket: the server's path but for the kernel's part."""

    def __init__(self, gateway: object) -> None:
        from gureum.httpfront.site import Front

        loop = asyncio.get_running_loop()
        self.front = Front(gateway.answer, None, loop,  # type: ignore[arg-type,attr-defined]
                           in_flight=gateway.store)  # type: ignore[attr-defined]
        self.transport = _Transport()
        self.conn = self.front.protocol()
        self.conn.connection_made(self.transport)  # type: ignore[arg-type]

    async def call(self, raw: bytes) -> tuple[int, str]:
        transport = self.transport
        count = len(transport.written)
        transport.waiter = asyncio.get_running_loop().create_future()
        self.conn.data_received(raw)
        while len(transport.written) == count:
            await transport.waiter
        answer = transport.written[-1]
        return int(answer[9:12]), answer.decode(errors="replace")

    def close(self) -> None:
        self.conn.connection_lost(None)


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


async def measure(cloud: object, op: str, calls: int, profile: bool, base: int = 0,
                  lean: bool = False, canned: bool = False) -> None:
    gateway = cloud.gateway  # type: ignore[attr-defined]
    if canned:
        # The operation answers its first output again: the gateway (and the
        # front) alone, with no store write and no instance loop work.
        service = cloud.services["ec2"]  # type: ignore[attr-defined]
        method = "run_instances" if op == "RunInstances" else "create_tags"
        real = getattr(service, method)
        kept: list[dict[str, object]] = []

        def answer_kept(call: object, params: dict[str, object]) -> dict[str, object]:
            if not kept:
                kept.append(real(call, params))
            return kept[0]

        setattr(service, method, answer_kept)
        gateway._operations.clear()
    front = Lean(gateway) if lean else None

    async def send(request: object) -> tuple[int, str]:
        if front is not None:
            return await front.call(request)  # type: ignore[arg-type]
        response = await gateway.handle(request)
        return response.status, response.text
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
        requests = [raw_request(params(i)) if lean else signed(params(i)) for i in range(calls)]
        profiler = cProfile.Profile(*((time.process_time,) if not os.environ.get("WALL") else ()))
        t0, start, helpers = time.monotonic(), time.process_time(), helpers_cpu(cloud)
        times0 = os.times()
        if profiling:
            profiler.enable()
        for request in requests:
            status, text = await send(request)
            assert status == 200, text
        returned = time.process_time()
        await asyncio.sleep(SETTLE)
        if profiling:
            profiler.disable()
        helpers = helpers_cpu(cloud) - helpers
        times1 = os.times()
        print(f"own user {(times1.user - times0.user) * 1e6 / calls:.0f} us, "
              f"system {(times1.system - times0.system) * 1e6 / calls:.0f} us per call")
        settled = time.process_time() - start + helpers - idle * (time.monotonic() - t0)
        print(f"{op}{' (lean front)' if lean else ''}{' (kept answer)' if canned else ''}: "
              f"{(returned - start) * 1e6 / calls:.0f} us of CPU per handle(), "
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
    parser.add_argument("--lean", action="store_true",
                        help="through the lean HTTP front (the bytes boto3 sends, no socket)")
    parser.add_argument("--canned", action="store_true",
                        help="the operation answers its first output again: gateway alone")
    parser.add_argument("--real", action="store_true",
                        help="real instances (the host's compute driver; root)")
    args = parser.parse_args()
    if args.op == "RunInstances" and not args.canned:
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
            await measure(cloud, args.op, args.calls, args.profile, args.base, args.lean,
                          args.canned)
        finally:
            await terminate_all(cloud)
            await cloud.stop()

    try:
        asyncio.run(run())
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
