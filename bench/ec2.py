"""EC2 benchmark: RunInstances → first HTTP 200 from the user-data web server
(median of N launches); IDLE (default 50) running idle instances: gureum's RSS
before and after, each instance's own memory (its cgroup) and its host-side
processes (launcher and init); and server CPU per DescribeInstances over the
IDLE instances and per RunInstances call, against moto_server in the same run.

    sudo .venv/bin/python bench/ec2.py [N] [IDLE]

Server CPU is the server's user+system time over a batch of calls, its
children's included: for gureum, its own (the request path and the instance
loop's work for the calls, counted until the launched instances have booted
and the security group updates they cause are applied, less what gureum
spends idle over that time) plus its helpers' (the launch server, and every
command it waited for); moto has no work after its calls return nor
children. Each instance's own host-side CPU -- its launcher and init
preparing and booting it, in its cgroup -- is reported apart. Needs root (the
namespace driver). Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from gureum.testing.server import running_gureum

sys.path.insert(0, str(Path(__file__).parent))
from api import cpu_seconds, find_moto, free_port, stop, wait_http

DESCRIBES = 40
USER_DATA = "#!/bin/bash\nmkdir -p /srv && echo ok > /srv/index.html\ncd /srv\n" \
            "exec python3 -m http.server 80\n"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def first_200(url: str, deadline: float) -> float:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as r:
                if r.status == 200:
                    return time.monotonic()
        except OSError:
            time.sleep(0.005)
    raise TimeoutError(url)


def host_side_kib(instance_id: str, data_dir: Path) -> int:
    """RSS of the host-side processes of an instance outside its cgroup (none, normally)."""
    total = 0
    marker = f"{data_dir}/ec2/guests/{instance_id}/".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    cgroup = (entry / "cgroup").read_text()
                    if instance_id not in cgroup:
                        total += rss_kib(int(entry.name))
            except OSError:
                pass
    return total


def server_cpu_ms(pid: int, calls: int, fn: Any) -> float:
    before = cpu_seconds(pid)
    for _ in range(calls):
        fn()
    return (cpu_seconds(pid) - before) / calls * 1000


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def gureum_cpu(pid: int) -> tuple[float, float]:
    """gureum's own CPU seconds, and its children's: those it waited for, and its
    live helpers (the launch server: its own and what it waited for; the
    instances' launchers it forked are the instances', counted apart)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = _stat(pid)
    own = (int(fields[11]) + int(fields[12])) / ticks
    children = (int(fields[13]) + int(fields[14])) / ticks
    for child in _children(pid):
        try:
            fields = _stat(child)
        except OSError:
            continue
        children += sum(int(f) for f in fields[11:15]) / ticks
    return own, children


def instance_cpu_ms(instance_id: str) -> float:
    """CPU time of an instance's cgroup (its launcher, init and everything they ran)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/gureum/{instance_id}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e6
    stat = Path(f"/sys/fs/cgroup/gureum/{instance_id}/cpu.stat")
    for line in stat.read_text().splitlines() if stat.exists() else []:
        if line.startswith("usage_usec "):
            return int(line.split()[1]) / 1e3
    return 0.0


def run_instances_cpu(g: Any, ec2: Any, image: str, calls: int) -> dict[str, float]:
    """gureum's CPU per RunInstances, from the first call until the instances have
    booted and the instance loop has settled, less its idle CPU over that time."""
    settle = 2.5  # > the security group membership settle time (1 s)
    own0, kids0 = gureum_cpu(g.pid)
    time.sleep(3.0)
    own1, kids1 = gureum_cpu(g.pid)
    idle_rate = (own1 - own0 + kids1 - kids0) / 3.0
    t0 = time.monotonic()
    ids = [ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                             InstanceType="t3.nano")["Instances"][0]["InstanceId"]
           for _ in range(calls)]
    own2, kids2 = gureum_cpu(g.pid)
    guests = g.data_dir / "ec2" / "guests"
    while not all((guests / i / "ready").exists() for i in ids):
        if time.monotonic() - t0 > 60:
            raise TimeoutError("instances did not boot")
        time.sleep(0.05)
    time.sleep(settle)
    own3, kids3 = gureum_cpu(g.pid)
    elapsed = time.monotonic() - t0
    return {
        "own_at_return": (own2 - own1) / calls * 1000,
        "children_at_return": (kids2 - kids1) / calls * 1000,
        "own_settled": (own3 - own1) / calls * 1000,
        "children_settled": (kids3 - kids1) / calls * 1000,
        "idle_subtracted": idle_rate * elapsed / calls * 1000,
        "total": (own3 - own1 + kids3 - kids1 - idle_rate * elapsed) / calls * 1000,
        "instance_side_median": statistics.median(instance_cpu_ms(i) for i in ids),
    }


def moto_figures(idle: int, calls: int, image: str) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen([find_moto(), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", proc, "moto_server")
        ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}",
                           region_name="us-east-1", aws_access_key_id="test",
                           aws_secret_access_key="test")
        moto_image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.describe_instances()  # warm
        run_ms = server_cpu_ms(proc.pid, calls, lambda: ec2.run_instances(
            ImageId=moto_image, MinCount=1, MaxCount=1, InstanceType="t3.nano"))
        ec2.run_instances(ImageId=moto_image, MinCount=idle - calls, MaxCount=idle - calls,
                          InstanceType="t3.nano")
        listed = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
        describe_ms = server_cpu_ms(proc.pid, DESCRIBES, ec2.describe_instances)
        return {"run_instances_cpu_ms": round(run_ms, 2),
                "describe_instances_cpu_ms": round(describe_ms, 2), "listed": listed}
    finally:
        stop(proc)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    idle = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    calls = 40  # RunInstances calls measured (CPU time is counted in 10 ms ticks)
    with running_gureum() as g:
        ec2 = g.client("ec2")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        times = []
        for _ in range(n):
            t0 = time.monotonic()
            inst = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                     InstanceType="t3.micro", UserData=USER_DATA)["Instances"][0]
            t1 = first_200(f"http://{inst['PrivateIpAddress']}/", t0 + 30)
            times.append(t1 - t0)
            ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
        ec2.get_waiter("instance_terminated").wait(
            Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}])
        before = rss_kib(g.pid)
        ec2.describe_instances()
        run = run_instances_cpu(g, ec2, image, calls)
        run_ms = run["total"]
        t0 = time.monotonic()
        ec2.run_instances(ImageId=image, MinCount=idle - calls, MaxCount=idle - calls,
                          InstanceType="t3.nano")
        ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=[
            {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
            for i in r["Instances"]]
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
        all_running = time.monotonic() - t0
        time.sleep(5)  # let the loop settle: only periodic checks remain
        memory = []
        for i in ids:
            usage = Path(f"/sys/fs/cgroup/memory/gureum/{i}/memory.usage_in_bytes")
            memory.append(int(usage.read_text()) // 1024 if usage.exists() else 0)
        outside = [host_side_kib(i, g.data_dir) for i in ids]
        live = [i for r in ec2.describe_instances(Filters=[
            {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
            for i in r["Instances"]]
        describe_ms = server_cpu_ms(g.pid, DESCRIBES, ec2.describe_instances)
        idle_cpu0 = cpu_seconds(g.pid)
        time.sleep(10)
        idle_cpu_pct = (cpu_seconds(g.pid) - idle_cpu0) / 10 * 100
        after = rss_kib(g.pid)
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
    moto = moto_figures(idle, calls, image)
    print(json.dumps({
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "run_to_first_200_s": {"median": round(statistics.median(times), 3),
                               "min": round(min(times), 3), "max": round(max(times), 3), "n": n},
        "idle_instances_running": len(live),
        "idle_all_running_s": round(all_running, 2),
        "per_instance_cgroup_memory_kib_median": statistics.median(memory),
        "per_instance_host_side_outside_cgroup_kib_median": statistics.median(outside),
        "gureum_rss_kib_before_after": [before, after],
        "gureum_rss_kib_per_instance": round((after - before) / max(len(ids), 1), 1),
        "gureum_idle_cpu_percent_with_instances": round(idle_cpu_pct, 2),
        "server_cpu_ms": {
            "describe_instances": {"gureum": round(describe_ms, 2),
                                   "moto": moto["describe_instances_cpu_ms"],
                                   "instances_listed": [len(live), moto["listed"]],
                                   "ratio": round(describe_ms / moto["describe_instances_cpu_ms"],
                                                  3)},
            "run_instances": {"gureum": round(run_ms, 2), "moto": moto["run_instances_cpu_ms"],
                              "ratio": round(run_ms / moto["run_instances_cpu_ms"], 3),
                              "gureum_parts": {k: round(v, 2) for k, v in run.items()}},
        },
    }, indent=2))


if __name__ == "__main__":
    main()
