"""EC2 benchmark: RunInstances → first HTTP 200 from the user-data web server
(median of N launches), and the memory of idle instances.

    sudo .venv/bin/python bench/ec2.py [N] [IDLE]

Needs root (the namespace driver). Prints one JSON object.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

from gureum.testing.server import running_gureum

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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    idle = int(sys.argv[2]) if len(sys.argv) > 2 else 10
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
        t0 = time.monotonic()
        ids = [i["InstanceId"] for i in ec2.run_instances(
            ImageId=image, MinCount=idle, MaxCount=idle, InstanceType="t3.nano")["Instances"]]
        ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
        all_running = time.monotonic() - t0
        memory = []
        for i in ids:
            usage = Path(f"/sys/fs/cgroup/memory/gureum/{i}/memory.usage_in_bytes")
            memory.append(int(usage.read_text()) // 1024 if usage.exists() else 0)
        cpu = time.process_time()
        t0 = time.monotonic()
        for _ in range(20):
            ec2.describe_instances()
        describe_ms = (time.monotonic() - t0) / 20 * 1000
        after = rss_kib(g.pid)
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 1})
        del cpu
    print(json.dumps({
        "run_to_first_200_s": {"median": round(statistics.median(times), 3),
                               "min": round(min(times), 3), "max": round(max(times), 3), "n": n},
        "idle_instances": idle,
        "idle_all_running_s": round(all_running, 2),
        "per_instance_cgroup_memory_kib_median": statistics.median(memory),
        "gureum_rss_kib_before_after": [before, after],
        "describe_instances_ms_client_side": round(describe_ms, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
