"""Requests/s and p99 latency through a gureum application load balancer versus
the same backend directly and versus a hand-written HAProxy configuration of
the same topology, in the same run.

Backend: nginx serving a 1 KiB file; load: wrk, 64 connections, 2 threads.
Needs root (the load balancer listens on port 80), haproxy, nginx and wrk.

    .venv/bin/python bench/elb.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

from gureum.testing.server import running_gureum

BACKEND = "127.214.0.1"
HANDWRITTEN = "127.214.0.2"


def wrk(url: str, seconds: int) -> tuple[float, str]:
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    return rps, p99


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gureum-bench-elb-"))
    tmp.chmod(0o755)  # nginx workers read the file as their own user
    (tmp / "www").mkdir()
    (tmp / "www" / "index.html").write_bytes(b"x" * 1024)
    (tmp / "nginx.conf").write_text(f"""
worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/nginx.err;
events {{ worker_connections 1024; }}
http {{ access_log off;
  server {{ listen {BACKEND}:8080; root {tmp}/www; location / {{ }} }} }}
""")
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
    nginx = subprocess.Popen(["nginx", "-c", str(tmp / "nginx.conf")])
    hand = subprocess.Popen(["haproxy", "-f", str(tmp / "haproxy.cfg")])
    try:
        with running_gureum() as g:
            elb = g.client("elbv2")
            lb = elb.create_load_balancer(Name="bench")["LoadBalancers"][0]
            tg = elb.create_target_group(
                Name="bench", Protocol="HTTP", Port=8080, TargetType="ip",
                HealthCheckPath="/index.html", HealthCheckIntervalSeconds=5,
                HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
            elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": BACKEND}])
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP",
                                Port=80, DefaultActions=[{"Type": "forward",
                                                          "TargetGroupArn": tg}])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                th = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
                if th[0]["TargetHealth"]["State"] == "healthy":
                    break
                time.sleep(0.2)
            rows = [
                ("direct (nginx)", f"http://{BACKEND}:8080/index.html"),
                ("hand-written HAProxy", f"http://{HANDWRITTEN}/index.html"),
                ("gureum ALB (HAProxy driver)", f"http://{lb['DNSName']}/index.html"),
            ]
            results = {name: wrk(url, args.seconds) for name, url in rows}
            base = results["hand-written HAProxy"][0]
            print(f"{'path':30} {'req/s':>10} {'p99':>10} {'vs HAProxy':>11}")
            for name, (rps, p99) in results.items():
                print(f"{name:30} {rps:10.0f} {p99:>10} {rps / base:10.0%}")
    finally:
        for proc in (nginx, hand):
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    main()
