"""Two gureum source trees served at once, each client thread's 4 KiB requests
interleaved between them: the old/new server CPU ratio of a change, per round.

    .venv/bin/python bench/s3_pair.py OLD/src NEW/src [--rounds 8] [--count 600]
                                      [--ops put,get,head]
    .venv/bin/python bench/s3_pair.py moto src   # moto_server against gureum

bench/s3.py's ``--against`` takes the servers in alternating rounds; on this
machine a round's CPU moves 10-20% with the load, so a change worth less than
~10% does not show there. Here both servers run through the same seconds: each
of 16 boto3 threads sends a request to one server, then the same request to
the other (which goes first alternates), so whatever the machine does
meanwhile falls on both. Each round starts two fresh servers (a process's
memory layout alone moves its CPU a few percent for its lifetime: one pair
of servers gave ratios a few percent off the next pair's, every round alike)
and sends ``--count`` requests of each kind to each; each server's CPU is
counted in nanoseconds by a cpuacct cgroup of its own (as bench/s3.py does;
needs root). Printed per kind: each
server's median ms of CPU per request, and the median and every round's
old/new ratio (above 1: the new tree is cheaper).

The figures are higher than bench/s3.py's (each server's caches are colder
with another server's requests between its own); read the ratios.

``moto`` in place of a tree serves that side by ``moto_server`` (fresh each
round too): old/new is then moto's CPU a request over gureum's, measured
through the same seconds. Steadier than bench/s3.py's alternating rounds,
but not fairer: with moto's long requests between its own, gureum's caches
are colder than when it serves alone (bench/README.md).
"""

from __future__ import annotations

import os

os.environ.setdefault("BOTO_DISABLE_CRT", "true")  # before botocore is imported

import argparse
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from s3 import Cpu, client, cpu_of, moto_server

from gureum.testing.server import running_gureum

BUCKET = "pair-bucket"
THREADS = 16


class Side:
    """One server: its CPU counter and one client per thread."""

    def __init__(self, name: str, cpu: Cpu, endpoint: str) -> None:
        self.name = name
        self.cpu = cpu
        self.clients = [client(endpoint) for _ in range(THREADS)]
        self.clients[0].create_bucket(Bucket=BUCKET)

    def request(self, op: str, i: int, data: bytes, prefix: str) -> None:
        s3: Any = self.clients[i % THREADS]
        key = f"{prefix}k{i:06d}"
        if op == "put":
            s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        elif op == "get":
            assert len(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == len(data)
        else:
            s3.head_object(Bucket=BUCKET, Key=key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="the old tree's src directory, or moto")
    parser.add_argument("new", help="the new tree's src directory")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--count", type=int, default=600, help="requests of a kind a round")
    parser.add_argument("--ops", default="put,get,head",
                        help="kinds measured (GET and HEAD read the round's PUTs)")
    args = parser.parse_args()
    ops = [op for op in args.ops.split(",") if op]
    run_ops = ["put", *[op for op in ops if op != "put"]]
    print(f"server CPU {Cpu.describe()}; load average before: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    data = os.urandom(4096)
    per: dict[str, dict[str, list[float]]] = {op: {"old": [], "new": []} for op in ops}
    def both(sides: list[Side], op: str, prefix: str, turn: int, i: int) -> None:
        for side in sides if (i + turn) % 2 == 0 else sides[::-1]:
            side.request(op, i, data, prefix)

    trees = [("old", args.old), ("new", args.new)]
    for turn in range(args.rounds):
        # Fresh servers each round (started in turn first and second): a
        # process's memory layout alone moves its CPU a few percent for as
        # long as it lives.
        with ExitStack() as stack, ThreadPoolExecutor(THREADS) as pool:
            sides: list[Side] = []
            for name, src in trees if turn % 2 == 0 else trees[::-1]:
                if src == "moto":
                    endpoint, pid = stack.enter_context(moto_server())
                else:
                    server = stack.enter_context(
                        running_gureum(env={"PYTHONPATH": str(Path(src).resolve())}))
                    endpoint, pid = server.endpoint, server.pid
                cpu = stack.enter_context(cpu_of(pid, f"pair-{name}"))
                sides.append(Side(name, cpu, endpoint))
            list(pool.map(partial(both, sides, "put", "warm-", 0), range(THREADS * 10)))
            for op in run_ops:
                before = [side.cpu() for side in sides]
                list(pool.map(partial(both, sides, op, f"r{turn}-", turn), range(args.count)))
                if op in per:
                    for side, start in zip(sides, before, strict=True):
                        per[op][side.name].append((side.cpu() - start) * 1000 / args.count)
    for op in ops:
        old, new = per[op]["old"], per[op]["new"]
        ratios = [o / n for o, n in zip(old, new, strict=True)]
        print(f"{op.upper():4} old {statistics.median(old):.3f}  new {statistics.median(new):.3f}"
              f" ms a request; old/new {statistics.median(ratios):.3f}"
              f" ({' '.join(f'{r:.2f}' for r in ratios)})")
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
