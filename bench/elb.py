"""Requests/s and p99 latency through a gureum application load balancer, on
each proxy driver (HAProxy, built-in), versus the same backend directly and
versus a hand-written HAProxy configuration of the same topology, in the same
run; then requests lost while a target is killed.

Backend: nginx serving a 1 KiB file; load: wrk, 64 connections, 2 threads.
Each driver gets its own gureum; its rounds alternate (rotating the order)
between the hand-written HAProxy, the gureum load balancer and nginx directly,
and the ratio is the median of the rounds' ratios (the machine is shared: run
order alone moves single figures by a third). The proxies' CPU time per
request (HAProxy's, gureum's proxy processes') is printed too: on a loaded
machine it is steadier than requests/s. gureum's own CPU during its runs
shows that the API process stays out of the way.

Failover: a second target (a single-process nginx) joins the group; a client
with 8 keep-alive connections runs while that nginx is killed; requests that
failed (connection errors, 5xx) are counted until the target is reported
unhealthy and after.

Needs root (the load balancer listens on port 80), haproxy, nginx and wrk.

    .venv/bin/python bench/elb.py [--seconds 5] [--rounds 3] [--drivers haproxy,builtin]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from gureum.testing.server import running_gureum

BACKEND = "127.214.0.1"
HANDWRITTEN = "127.214.0.2"
VICTIM = "127.214.0.4"
HEALTH = {"HealthCheckPath": "/index.html", "HealthCheckIntervalSeconds": 5,
          "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2,
          "UnhealthyThresholdCount": 2}


def cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def wrk(url: str, seconds: int, procs: list[psutil.Process]) -> tuple[float, str, float]:
    """(requests/s, p99, CPU µs per request of ``procs``: the proxy)."""
    before = cpu(procs)
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    used = cpu(procs) - before
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return rps, p99, used / count * 1e6


def nginx_conf(tmp: Path, name: str, host: str, single: bool) -> Path:
    conf = tmp / f"{name}.conf"
    conf.write_text(f"""
worker_processes 1; daemon off; {"master_process off;" if single else ""}
pid {tmp}/{name}.pid; error_log {tmp}/{name}.err;
events {{ worker_connections 1024; }}
http {{ access_log off;
  server {{ listen {host}:8080; root {tmp}/www; location / {{ }} }} }}
""")
    return conf


def wait_healthy(elb: Any, tg: str, count: int) -> float:
    start = time.monotonic()
    while time.monotonic() - start < 60:
        th = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
        if sum(d["TargetHealth"]["State"] == "healthy" for d in th) == count:
            return time.monotonic() - start
        time.sleep(0.1)
    raise RuntimeError("targets did not turn healthy")


async def _client(host: str, stop: float, log: list[tuple[float, bool]]) -> None:
    request = f"GET /index.html HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    writer = None
    while time.monotonic() < stop:
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, 80), 2)
            assert writer is not None
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            found = re.search(rb"(?i)content-length:\s*(\d+)", head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            ok = head.split(b" ", 2)[1].startswith(b"2")
            log.append((time.monotonic(), ok))
            if not ok:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            log.append((time.monotonic(), False))
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


def failover(elb: Any, tg: str, host: str, victim: subprocess.Popen[bytes]
             ) -> tuple[int, int, int, float]:
    """(requests, failed before detection, failed after, seconds to detect)."""
    log: list[tuple[float, bool]] = []
    seconds = 16.0
    stop = time.monotonic() + seconds

    async def load() -> None:
        await asyncio.gather(*(_client(host, stop, log) for _ in range(8)))

    t = threading.Thread(target=asyncio.run, args=(load(),))
    t.start()
    time.sleep(1.0)
    killed = time.monotonic()
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    detected = None
    while time.monotonic() < stop:
        th = elb.describe_target_health(TargetGroupArn=tg,
                                        Targets=[{"Id": VICTIM}])["TargetHealthDescriptions"]
        if th[0]["TargetHealth"]["State"] == "unhealthy":
            detected = time.monotonic()
            break
        time.sleep(0.05)
    t.join()
    if detected is None:
        raise RuntimeError("the killed target was not detected")
    before = sum(1 for ts, ok in log if not ok and ts <= detected)
    after = sum(1 for ts, ok in log if not ok and ts > detected)
    return len(log), before, after, detected - killed


def measure(driver: str, tmp: Path, args: argparse.Namespace,
            procs: dict[str, list[psutil.Process]]) -> dict[str, Any]:
    with running_gureum(env={"GUREUM_PROXY_DRIVER": driver}) as g:
        elb = g.client("elbv2")
        assert g.health()["drivers"].get("elbv2", driver) == driver
        lb = elb.create_load_balancer(Name=f"bench-{driver}")["LoadBalancers"][0]
        tg = elb.create_target_group(Name="bench", Protocol="HTTP", Port=8080,
                                     TargetType="ip", **HEALTH)["TargetGroups"][0]
        tg_arn = tg["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": BACKEND}])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
        wait_healthy(elb, tg_arn, 1)
        server = psutil.Process(g.pid)
        proxy = [p for p in server.children(recursive=True)]
        rows = {
            "direct (nginx)": f"http://{BACKEND}:8080/index.html",
            "hand-written HAProxy": f"http://{HANDWRITTEN}/index.html",
            f"gureum ALB ({driver})": f"http://{lb['DNSName']}/index.html",
        }
        names = list(rows)
        results: dict[str, list[tuple[float, str, float]]] = {n: [] for n in names}
        used = {names[0]: procs["nginx"], names[1]: procs["hand"], names[2]: proxy}
        ratios = []
        cpu = []
        for r in range(args.rounds):
            order = names[r % 3:] + names[:r % 3]
            for name in order:
                before = sum(server.cpu_times()[:2])
                results[name].append(wrk(rows[name], args.seconds, used[name]))
                if name.startswith("gureum"):
                    cpu.append((sum(server.cpu_times()[:2]) - before) / args.seconds)
            ratios.append(results[names[2]][-1][0] / results[names[1]][-1][0])

        victim = subprocess.Popen(["nginx", "-c", str(nginx_conf(tmp, "victim", VICTIM, True))])
        try:
            elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": VICTIM}])
            wait_healthy(elb, tg_arn, 2)
            lost = failover(elb, tg_arn, lb["DNSName"], victim)
        finally:
            if victim.poll() is None:
                victim.kill()
                victim.wait()
        return {"results": results, "ratio": statistics.median(ratios), "ratios": ratios,
                "cpu": statistics.mean(cpu), "lost": lost}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--drivers", default="haproxy,builtin")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gureum-bench-elb-"))
    tmp.chmod(0o755)  # nginx workers read the file as their own user
    (tmp / "www").mkdir()
    (tmp / "www" / "index.html").write_bytes(b"x" * 1024)
    (tmp / "haproxy.cfg").write_text(f"""
global
    maxconn 4000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend f
    bind {HANDWRITTEN}:80
    option forwardfor
    default_backend b
backend b
    balance roundrobin
    option httpchk GET /index.html
    server s1 {BACKEND}:8080 check inter 5s
""")
    nginx = subprocess.Popen(["nginx", "-c", str(nginx_conf(tmp, "nginx", BACKEND, False))])
    hand = subprocess.Popen(["haproxy", "-f", str(tmp / "haproxy.cfg")])
    try:
        time.sleep(0.5)
        procs = {"nginx": [psutil.Process(nginx.pid)], "hand": [psutil.Process(hand.pid)]}
        measured = {d: measure(d, tmp, args, procs) for d in args.drivers.split(",")}
    finally:
        for proc in (nginx, hand):
            proc.terminate()
            proc.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{args.rounds} rounds of {args.seconds} s, wrk -t2 -c64, nginx 1 KiB")
    print(f"{'path':30} {'req/s':>10} {'p99':>10} {'CPU µs/req':>11}")
    for driver, m in measured.items():
        print(f"-- gureum on {driver} (its own CPU during its runs: {m['cpu']:.0%} of a core)")
        for name, runs in m["results"].items():
            rps = statistics.median(r for r, _, _ in runs)
            p99 = sorted(runs)[len(runs) // 2][1]
            us = statistics.median(u for _, _, u in runs)
            print(f"{name:30} {rps:10.0f} {p99:>10} {us:11.1f}")
        print(f"{'gureum / hand-written':30} {m['ratio']:10.0%}   rounds: "
              + " ".join(f"{r:.0%}" for r in m["ratios"]))
        hand_us = statistics.median(u for _, _, u in m["results"]["hand-written HAProxy"])
        own_us = statistics.median(u for _, _, u in list(m["results"].values())[2])
        print(f"{'CPU per request, hand / gureum':30} {hand_us / own_us:10.0%}")
        total, before, after, took = m["lost"]
        print(f"failover: target killed, detected in {took:.1f} s; {total} requests, "
              f"{before} failed before detection, {after} after")


if __name__ == "__main__":
    main()
