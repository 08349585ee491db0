"""EC2 benchmark: RunInstances → first HTTP 200 from the user-data web server
(median of N launches); IDLE (default 50) running idle instances: gureum's RSS
before and after, each instance's own memory (its cgroup) and its host-side
processes (launcher and init); and server CPU per DescribeInstances over the
IDLE instances and per RunInstances call, against moto_server in the same run.

    sudo .venv/bin/python bench/ec2.py [N] [IDLE]

Server CPU is counted in nanoseconds by a cpuacct cgroup per server (see
bench/ec2_run.py): for gureum, its process (the request path and the
instance loop's work for the calls, counted until the launched instances
have booted and the security group updates they cause are applied, less what
gureum spends idle over that time) plus every process it starts (the launch
server, the commands it waits for, an instance's launcher until it has joined
the instance's own groups); moto has no work after its calls return nor
children. Each instance's own host-side CPU -- its launcher and init
preparing and booting it, in its cgroup -- is reported apart. Needs root (the
namespace driver). Prints one JSON object. bench/ec2_run.py measures the
RunInstances figure alone, in several rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from gureum.testing.server import running_gureum

sys.path.insert(0, str(Path(__file__).parent))
from api import cpu_seconds
from ec2_run import SETTLE, CpuGroup, Moto, gureum_round, launch_server

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


def group_ms(group: CpuGroup, calls: int, fn: Any) -> float:
    before = group.ns()
    for _ in range(calls):
        fn()
    return (group.ns() - before) / calls / 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    idle = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    calls = 40  # RunInstances calls measured
    group = CpuGroup(f"gureum-bench-{os.getpid()}")
    launches = CpuGroup("launch-server", group)
    try:
        figures = measure(group, launches, n, idle, calls)
    finally:
        launches.remove()
        group.remove()
    print(json.dumps(figures, indent=2))


def measure(group: CpuGroup, launches: CpuGroup, n: int, idle: int,
            calls: int) -> dict[str, Any]:
    with running_gureum() as g:
        group.add(g.pid)
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
            server = launch_server(g.pid)
            if server is not None:
                launches.add(server)
        ec2.get_waiter("instance_terminated").wait(
            Filters=[{"Name": "instance-state-name", "Values": ["terminated"]}])
        before = rss_kib(g.pid)
        ec2.describe_instances()
        time.sleep(SETTLE)
        run = gureum_round(group, launches, g.data_dir, ec2, image, calls, g.pid)
        run_ms = run["settled"]
        t0 = time.monotonic()
        ec2.run_instances(ImageId=image, MinCount=idle, MaxCount=idle,  # (the round's: gone)
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
        describe_ms = group_ms(group, DESCRIBES, ec2.describe_instances)
        idle_cpu0 = cpu_seconds(g.pid)
        time.sleep(10)
        idle_cpu_pct = (cpu_seconds(g.pid) - idle_cpu0) / 10 * 100
        after = rss_kib(g.pid)
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
    moto = Moto()
    try:
        moto_run = moto.round(calls)
        moto.ec2.run_instances(ImageId=moto.image, MinCount=idle - calls - 1,
                               MaxCount=idle - calls - 1, InstanceType="t3.nano")
        listed = sum(len(r["Instances"]) for r in moto.ec2.describe_instances()["Reservations"])
        moto_describe = group_ms(moto.group, DESCRIBES, moto.ec2.describe_instances)
    finally:
        moto.close()
    return {
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
            "describe_instances": {"gureum": round(describe_ms, 3),
                                   "moto": round(moto_describe, 3),
                                   "instances_listed": [len(live), listed],
                                   "ratio": round(describe_ms / moto_describe, 3)},
            "run_instances": {"gureum": round(run_ms, 3), "moto": round(moto_run, 3),
                              "ratio": round(run_ms / moto_run, 3),
                              "gureum_parts": {k: round(v, 3) for k, v in run.items()}},
        },
    }


if __name__ == "__main__":
    main()
