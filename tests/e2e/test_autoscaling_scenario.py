"""The lesson's scenario end to end, with time sped up: the demo script
(examples/autoscaling_demo.py) runs against a real gureum and real instances
behind a real load balancer. Load makes the group scale out and the new
instances answer through the load balancer; when the load stops the group
scales in without failing a request on a healthy path; a killed instance is
replaced. The test checks the script's summary and, through boto3, what the
group recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.testing.server import RunningGureum, running_gureum

from .ec2_support import leftovers, root_only, sweep

pytestmark = pytest.mark.skipif(root_only, reason="the namespace driver needs root")

DEMO = Path(__file__).resolve().parents[2] / "examples" / "autoscaling_demo.py"
TIME_SCALE = "12"  # one-minute periods last 5 s


@pytest.fixture(scope="module")
def cloud() -> Iterator[RunningGureum]:
    with running_gureum(env={"GUREUM_TIME_SCALE": TIME_SCALE}) as g:
        try:
            yield g
        finally:
            g.stop()
            sweep(g.data_dir)


def cpu_share(seconds: float = 1.0) -> float:
    """The share of one core a busy thread gets now (1.0 on an idle host)."""
    start, used = time.monotonic(), time.thread_time()
    while time.monotonic() - start < seconds:
        pass
    return (time.thread_time() - used) / (time.monotonic() - start)


def wait_for_cpu(least: float = 0.6, patience: float = 240.0) -> None:
    """CPU-driven scaling needs the instance to get the CPU its requests burn:
    on a host saturated by other work it cannot reach the target, whatever
    gureum does. Wait for the host to give a busy thread ``least`` of a core
    (as CI's does), or skip saying why."""
    deadline, share = time.monotonic() + patience, 0.0
    while time.monotonic() < deadline:
        share = cpu_share()
        if share >= least:
            return
        time.sleep(5)
    pytest.skip(f"the host gives a busy thread {share:.0%} of a core (load average "
                f"{os.getloadavg()[0]:.1f}): too little for CPU-driven scaling")


@pytest.mark.timeout(900)  # a few minutes of scaling, with slack for a loaded host
def test_scale_out_scale_in_and_replace(cloud: RunningGureum) -> None:
    wait_for_cpu()
    done = subprocess.run(
        [sys.executable, str(DEMO), "--endpoint", cloud.endpoint, "--json",
         "--patience", "180", "--load-seconds", "90"],
        capture_output=True, text=True, timeout=600, env={**os.environ, **cloud.env_vars()})
    print(done.stdout)
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    if summary.get("step") == "scale-out" and summary["served_cpu"] < 60:
        # The requests the instance answered burned too little CPU to stay
        # above the 50 % target three periods in a row: the host, busy with
        # other work, did not give it the CPU. Above that, no scale-out fails.
        pytest.skip(f"the instance got {summary['served_cpu']}% of its CPU on this busy "
                    f"host (load average {os.getloadavg()[0]:.1f})")
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["peak_desired"] >= 2
    # The new instances took traffic through the load balancer.
    assert summary["new_instances"]
    assert not set(summary["new_instances"]) & set(summary["first"])
    assert all(summary["load_answers"].get(i, 0) > 0 for i in summary["new_instances"])
    # Scale-in drained before terminating: nothing failed on the healthy path.
    assert summary["probe_answers"] > 0
    assert summary["probe_failure_count"] == 0, summary["probe_failures"]
    # The killed instance was replaced, and the history says why.
    assert summary["killed"] not in summary["replacement"]
    causes = summary["causes"]
    assert any("TargetTracking" in c and "AlarmHigh" in c for c in causes)
    assert any("AlarmLow" in c for c in causes)
    assert any("EC2 health check" in c for c in causes)
    # The demo deleted what it made; no instance of it is left on the host.
    asg, ec2 = cloud.client("autoscaling"), cloud.client("ec2")
    assert asg.describe_auto_scaling_groups()["AutoScalingGroups"] == []
    ids = [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
           for i in r["Instances"]]
    assert {i["State"]["Name"] for r in ec2.describe_instances()["Reservations"]
            for i in r["Instances"]} == {"terminated"}
    assert leftovers(ids, cloud.data_dir) == []
