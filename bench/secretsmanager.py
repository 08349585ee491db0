"""Secrets Manager benchmark: server CPU milliseconds per call, gureum against
moto_server, side by side in one run.

Starts ``gureum up`` and ``moto_server`` on free ports (the helpers of
``api.py``), creates ``--secrets`` (200) secrets on each with two versions
apiece, then for GetSecretValue (by name), GetSecretValue (AWSPREVIOUS, by
ARN), DescribeSecret, ListSecrets (a page of 100) and PutSecretValue runs a
batch of calls from ``--threads`` client threads and reads each server
process's CPU time before and after. Prints CPU ms per call, requests/s, the
ratio gureum/moto and the load average.

    .venv/bin/python bench/secretsmanager.py [--calls 1000] [--threads 4] [--secrets 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api import Server, find_moto, free_port, measure, stop, wait_http

VALUE = '{"username": "app", "password": "%s"}'


def operations(arns: list[str]) -> list[tuple[str, Callable[[Any], object]]]:
    count = len(arns)
    state = {"i": 0}

    def pick() -> int:
        state["i"] = (state["i"] + 7) % count
        return state["i"]

    return [
        ("GetSecretValue", lambda c: c.get_secret_value(SecretId=f"bench/s{pick()}")),
        ("GetSecretValue prev", lambda c: c.get_secret_value(
            SecretId=arns[pick()], VersionStage="AWSPREVIOUS")),
        ("DescribeSecret", lambda c: c.describe_secret(SecretId=f"bench/s{pick()}")),
        ("ListSecrets (100)", lambda c: c.list_secrets(MaxResults=100)),
        ("PutSecretValue", lambda c: c.put_secret_value(
            SecretId=f"bench/s{pick()}", SecretString=VALUE % os.urandom(8).hex())),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls per batch")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--secrets", type=int, default=200, help="secrets on each server")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="gureum-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUREUM_", "AWS_"))}
    gport, mport = free_port(), free_port()
    servers: list[Server] = []
    try:
        gureum = subprocess.Popen(
            [sys.executable, "-m", "gureum", "up", "--port", str(gport),
             "--data-dir", data_dir, "--log-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        servers.append(Server("gureum", gureum, f"http://127.0.0.1:{gport}"))
        moto = subprocess.Popen(
            [find_moto(), "-H", "127.0.0.1", "-p", str(mport)], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        servers.append(Server("moto", moto, f"http://127.0.0.1:{mport}"))
        wait_http(f"http://127.0.0.1:{gport}/_gureum/health", gureum, "gureum")
        wait_http(f"http://127.0.0.1:{mport}/moto-api/", moto, "moto_server")

        ops: list[list[tuple[str, Callable[[Any], object]]]] = []
        for server in servers:
            sm = server.clients("secretsmanager", 1)[0]
            arns = []
            for i in range(args.secrets):
                arns.append(sm.create_secret(Name=f"bench/s{i}",
                                             SecretString=VALUE % "first")["ARN"])
                sm.put_secret_value(SecretId=f"bench/s{i}", SecretString=VALUE % "second")
            ops.append(operations(arns))

        print(f"server CPU per call: {args.calls} calls per batch from {args.threads} threads,"
              f" {args.secrets} secrets ({os.cpu_count()} CPUs)")
        header = (f"{'operation':<20} {'gureum ms':>10} {'req/s':>7}   {'moto ms':>8} "
                  f"{'req/s':>7}   {'gureum/moto':>11}")
        print(header)
        print("-" * len(header))
        for index, (name, _) in enumerate(ops[0]):
            g_ms, g_rps = measure(servers[0], "secretsmanager", ops[0][index][1], args.calls,
                                  args.threads)
            m_ms, m_rps = measure(servers[1], "secretsmanager", ops[1][index][1], args.calls,
                                  args.threads)
            ratio = g_ms / m_ms if m_ms else float("nan")
            print(f"{name:<20} {g_ms:>10.3f} {g_rps:>7.0f}   {m_ms:>8.3f} {m_rps:>7.0f}"
                  f"   {ratio:>11.3f}")
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for server in servers:
            stop(server.proc)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
