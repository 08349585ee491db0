"""Where a 4 KiB S3 GET's or HEAD's CPU goes, HTTP front included, in-process:
the raw bytes boto3 would send (SigV4-signed, its usual headers) are fed to
gureum's lean front over a stub transport, and each piece of the request's
way is timed on its own — the whole request, the front with a fixed answer,
the gateway's answer, routing, authentication (SigV4 parse and verify), the
rest-xml parse and serialize, the S3 operation, the answer's head. Each
figure is the least of ``--reps`` runs of ``--calls`` calls (the least, not
the median: on a loaded machine only the quiet windows tell a piece's own
cost), in µs per call. These are hot-cache figures: on the real server, 16
client threads on the same cores, a request costs about 4-5x as much
(bench/s3.py), in proportion.

    .venv/bin/python bench/s3_front.py [--calls 200] [--reps 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import uvloop
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from s3_handle import ACCOUNT, HOST, in_cloud

from gureum.gateway import catalog, routing, sigv4
from gureum.gateway.handler import PROTOCOLS
from gureum.gateway.protocols.base import HttpRequest, HttpResponse
from gureum.httpfront import LeanRequest
from gureum.httpfront.site import Front
from gureum.server import Cloud
from gureum.services.base import Call, Identity


class Sink(asyncio.Transport):
    """A transport that keeps nothing: the answers' bytes are dropped."""

    def write(self, data: Any) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def wire(method: str, path: str) -> bytes:
    """A request as boto3 sends it: its headers, signed."""
    request = AWSRequest(method, f"http://{HOST}{path}")
    request.headers["User-Agent"] = (
        "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 md/arch#x86_64 "
        "lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.0")
    request.headers["Accept-Encoding"] = "identity"
    request.headers["amz-sdk-invocation-id"] = "0b2f3c1e-6a8f-4c1f-9b7e-3f0a1d2c4e5f"
    request.headers["amz-sdk-request"] = "attempt=1; max=1"
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}",
             *(f"{k}: {v}" for k, v in request.headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def timed(name: str, fn: Callable[[], Any], calls: int, reps: int) -> None:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    print(f"  {name:30} {best * 1e6:7.2f}")


def run_now(coro: Any) -> Any:
    """A coroutine that never waits, run to its end here."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("the coroutine waited")


async def measure(cloud: Cloud, calls: int, reps: int) -> None:
    s3: Any = cloud.services["s3"]
    root = Identity.root(ACCOUNT)
    s3.create_bucket(Call("s3", "CreateBucket", ACCOUNT, "us-east-1", root, "r"),
                     {"Bucket": "handle"})
    await s3.put_object(Call("s3", "PutObject", ACCOUNT, "us-east-1", root, "r"),
                        {"Bucket": "handle", "Key": "k", "Body": os.urandom(4096),
                         "ContentLength": 4096})
    loop = asyncio.get_running_loop()
    gateway = cloud.gateway
    seen: list[LeanRequest] = []

    async def answer(request: LeanRequest) -> HttpResponse:
        seen.append(request)
        return await gateway.answer(request)

    fixed = HttpResponse(200, {"ETag": '"x"', "x-amz-request-id": "r"}, b"x" * 4096)

    async def stub(request: LeanRequest) -> HttpResponse:
        return fixed

    model = gateway.models.get("s3")
    spec = catalog.SERVICES["s3"]
    protocol = PROTOCOLS["rest-xml"]
    def one(method: str, op_name: str) -> None:
        data = wire(method, "/handle/k")
        conn = Front(answer, None, loop).protocol()  # type: ignore[arg-type]
        conn.connection_made(Sink())
        conn.data_received(data)
        assert not conn._serving, "the answer waited (a sync?): not a read"
        stubbed = Front(stub, None, loop).protocol()  # type: ignore[arg-type]
        stubbed.connection_made(Sink())
        request = seen[-1]
        http = HttpRequest(method=method, path=request.path, raw_path=request.raw_path,
                           raw_query="", query=request.query,  # type: ignore[arg-type]
                           headers=request.headers, host=request.host)
        op = model.operation_model(op_name)
        params = protocol.parse(http, op)
        identity, signed, _ = gateway.auth.authenticate(http, spec)
        assert signed is not None
        call = Call("s3", op_name, identity.account_id, "us-east-1", identity, "X",
                    source_ip="127.0.0.1", headers=request.headers)
        output = getattr(s3, "get_object" if method == "GET" else "head_object")(call, params)
        response = protocol.serialize(op, output, "X")
        now = gateway.auth.clock.now()
        print(f"{method} {op_name}: us per call, least of {reps} runs of {calls}")
        timed("whole request through the front", lambda: conn.data_received(data), calls, reps)
        assert not conn._serving and not conn._queue
        timed("front, fixed answer", lambda: stubbed.data_received(data), calls, reps)
        timed("gateway.answer", lambda: run_now(gateway.answer(request)), calls, reps)
        timed("find_service", lambda: routing.find_service(
            request.headers, request.query, request.path, request.host), calls, reps)
        timed("operation_name", lambda: protocol.operation_name(http, model), calls, reps)
        timed("authenticate", lambda: gateway.auth.authenticate(http, spec), calls, reps)
        timed("  sigv4.parse", lambda: sigv4.parse(
            method, request.headers, request.query, style="s3"), calls, reps)
        timed("  sigv4.verify", lambda: sigv4.verify(
            signed, secret_key="test", method=method, raw_path=http.raw_path, raw_query="",
            headers=request.headers, payload_hash=signed.payload_hash or "", now=now,
            style="s3"), calls, reps)
        timed("rest-xml parse", lambda: protocol.parse(http, op), calls, reps)
        timed(f"s3 {op_name} (metered)", lambda: getattr(
            s3, "get_object" if method == "GET" else "head_object")(call, params), calls, reps)
        timed("rest-xml serialize", lambda: protocol.serialize(op, output, "X"), calls, reps)
        timed("front's answer head", lambda: conn._head(
            request, 200, response.headers, 4096, False), calls, reps)


    for method, op_name in (("GET", "GetObject"), ("HEAD", "HeadObject")):
        one(method, op_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--reps", type=int, default=60)
    args = parser.parse_args()
    uvloop.install()
    in_cloud(lambda cloud: measure(cloud, args.calls, args.reps), no_sync=True)


if __name__ == "__main__":
    main()
