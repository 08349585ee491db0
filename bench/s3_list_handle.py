"""Where gureum's CPU goes for one ListObjectsV2 page of 1,000 keys, without
HTTP: a bucket filled with ``--keys`` keys (named as bench/s3.py names them),
then the gateway's ``handle`` called in-process on signed mocked aiohttp
requests walking every page; microseconds of CPU per page, then
(``--profile``) cProfile's top functions.

    .venv/bin/python bench/s3_list_handle.py [--keys 10000] [--passes 5]
                                             [--profile [--sort tottime]]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import time
from urllib.parse import quote

from s3_handle import ACCOUNT, in_cloud, signed

from gureum.server import Cloud
from gureum.services.base import Call, Identity


async def walk(cloud: Cloud, bucket: str) -> tuple[int, float]:
    """Every page of the bucket, in order: the number of pages and the CPU
    seconds spent in ``handle`` (making the mocked requests left out)."""
    token = ""
    pages = 0
    cpu = 0.0
    while True:
        query = "list-type=2&max-keys=1000" + (f"&continuation-token={quote(token, safe='')}"
                                                if token else "")
        request = signed("GET", f"/{bucket}?{query}")
        start = time.process_time()
        response = await cloud.gateway.handle(request)
        cpu += time.process_time() - start
        assert response.status == 200, response.status
        body: bytes = response.body  # type: ignore[attr-defined]
        pages += 1
        if b"<IsTruncated>true</IsTruncated>" not in body:
            return pages, cpu
        start = body.index(b"<NextContinuationToken>") + len(b"<NextContinuationToken>")
        token = body[start:body.index(b"</NextContinuationToken>")].decode()


async def measure(cloud: Cloud, keys: int, passes: int, profile: bool, sort: str) -> None:
    s3 = cloud.services["s3"]
    root = Identity.root(ACCOUNT)
    bucket = "listing"
    s3.create_bucket(Call("s3", "CreateBucket", ACCOUNT, "us-east-1", root, "r"),  # type: ignore[attr-defined]
                     {"Bucket": bucket})
    for i in range(keys):
        await s3.put_object(Call("s3", "PutObject", ACCOUNT, "us-east-1", root, "r"),  # type: ignore[attr-defined]
                            {"Bucket": bucket, "Key": f"dir{i % 7}/key-{i:07d}", "Body": b"",
                             "ContentLength": 0})
    gc.collect()
    gc.freeze()
    await walk(cloud, bucket)  # warm
    figures = []
    for _ in range(passes):
        pages, cpu = await walk(cloud, bucket)
        figures.append(cpu * 1e6 / pages)
    print(f"ListObjectsV2: {statistics.median(figures):.0f} us of CPU per 1,000-key page"
          f" (median of {passes} passes: {' '.join(f'{f:.0f}' for f in figures)})")
    if profile:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(passes):
            await walk(cloud, bucket)
        profiler.disable()
        pstats.Stats(profiler).sort_stats(sort).print_stats(int(os.environ.get("TOP", "30")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="cumulative",
                        help="the profile's order: cumulative or tottime (own time)")
    args = parser.parse_args()
    in_cloud(lambda cloud: measure(cloud, args.keys, args.passes, args.profile, args.sort),
             no_sync=True)


if __name__ == "__main__":
    main()
