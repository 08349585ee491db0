"""Auto Scaling reaction times with the fast-time setting: the lesson's
scenario (examples/autoscaling_demo.py) against a fresh gureum started with
GUREUM_TIME_SCALE (default 12, one-minute periods last 5 s).

Prints, per run and as medians:

- seconds from load start to the first answer of a new instance through the
  load balancer (target: <= 30 s);
- seconds from load stop to the group back at one instance in service
  (target tracking's scale-in alarm needs 15 periods below 45 %, 75 s here);
- seconds from killing every process of an instance to its replacement
  answering through the load balancer;

with the load average before and after. Needs root (instances in network
namespaces, the load balancer on port 80).

    .venv/bin/python bench/autoscaling.py [--runs 1] [--time-scale 12]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from gureum.testing.server import running_gureum

HERE = Path(__file__).resolve().parent
DEMO = HERE.parent / "examples" / "autoscaling_demo.py"
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

FIGURES = (("seconds_to_new_instance_serving", "load start -> new instance serving"),
           ("seconds_to_scale_in", "load stop -> scaled in"),
           ("seconds_to_replace", "instance killed -> replacement serving"))


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_share(seconds: float = 1.0) -> float:
    """The share of one core a busy thread gets now (1.0 on an idle host): how
    much CPU an instance can burn, which is what target tracking reacts to."""
    start, used = time.monotonic(), time.thread_time()
    while time.monotonic() - start < seconds:
        pass
    return (time.thread_time() - used) / (time.monotonic() - start)


def wait_for_cpu(least: float = 0.6, patience: float = 600.0) -> None:
    """Start a run when a busy thread gets ``least`` of a core: on a host
    saturated by other work an instance cannot reach the 50 % target at all."""
    deadline = time.monotonic() + patience
    while (share := cpu_share()) < least:
        if time.monotonic() > deadline:
            raise SystemExit(f"a busy thread gets {share:.0%} of a core "
                             f"(load average {load()}): too busy to measure")
        time.sleep(5)


def one_run(time_scale: str) -> dict[str, float]:
    from ec2_support import sweep  # type: ignore[import-not-found]  # (tests/e2e: see above)

    with running_gureum(env={"GUREUM_TIME_SCALE": time_scale}) as g:
        try:
            done = subprocess.run(
                [sys.executable, str(DEMO), "--endpoint", g.endpoint, "--json",
                 "--load-seconds", "90"],
                capture_output=True, text=True, timeout=900,
                env={**os.environ, **g.env_vars()})
        finally:
            g.stop()
            sweep(g.data_dir)
    if done.returncode != 0:
        raise RuntimeError(done.stdout.strip().splitlines()[-2:] if done.stdout.strip()
                           else done.stderr)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {key: float(summary[key]) for key, _ in FIGURES}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--time-scale", default="12")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: instances run in their own network namespaces")
    print(f"GUREUM_TIME_SCALE={args.time_scale}, load average before: {load()}, "
          f"a busy thread gets {cpu_share():.0%} of a core")
    runs = []
    for i in range(args.runs):
        wait_for_cpu()
        try:
            figures = one_run(args.time_scale)
        except RuntimeError as exc:
            print(f"run {i + 1} failed (load average {load()}): {exc}", flush=True)
            continue
        runs.append(figures)
        print(f"run {i + 1}: " + ", ".join(f"{label} {figures[key]:.1f} s"
                                           for key, label in FIGURES)
              + f" (load average {load()}, a busy thread gets {cpu_share():.0%} of a core)",
              flush=True)
    if not runs:
        raise SystemExit("no run completed")
    for key, label in FIGURES:
        print(f"{label:40s} median {statistics.median(r[key] for r in runs):6.1f} s")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
