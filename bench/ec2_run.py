"""Server CPU per RunInstances call, gureum (real instances: the namespace
driver, root) against moto_server, both running at once, in alternating
rounds, counted in nanoseconds.

Each server is moved into a cpuacct cgroup of its own (cgroup v1, or cpu.stat
in v2) before any call: the group's usage is the CPU of the server, all its
threads and every process it starts (gureum's launch server, the commands
gureum or it waits for), exited or not, to the nanosecond -- not the 10 ms
ticks of /proc/PID/stat. An instance's launcher moves itself into the
instance's own groups as its first steps; from then on what it and the
instance do is the instance's (reported apart, as ``instance_side_median``).

The launch server (gureum's helper that forks each instance's launcher) is
moved into a group of its own inside gureum's, so the figures split into
gureum's process (``gureum_process``) and the launch server with its forks
until they join their instance's groups (``launch_server``).

A gureum round: CALLS RunInstances calls one after another, then wait until
every instance has booted and the instance loop has settled (the security
group updates the launches cause), less gureum's idle CPU over that time
(measured just before); then the instances are terminated and the loop
settles again before the next round. A moto round: CALLS RunInstances calls
(moto has nothing to finish after it answers). The ratio is taken per pair
of rounds and the median reported, with the load average.

With ``--base N``, N idle instances are launched first and stay up through
every round (not counted): whether a launch costs more the more instances
there already are (work over every instance or every group member per launch)
shows as the difference between ``--base 0`` and ``--base 40``.

    sudo .venv/bin/python bench/ec2_run.py [--rounds 3] [--calls 40] [--base 0]
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
from typing import Any

import boto3

from gureum.testing.server import running_gureum

sys.path.insert(0, str(Path(__file__).parent))
from api import find_moto, free_port, stop, wait_http

SETTLE = 2.5  # s: > the security group membership settle time (1 s)
IDLE = 2.0  # s: gureum's idle CPU is measured over this long before each round


class CpuGroup:
    """A cgroup counting the CPU of the processes moved into it and of their
    descendants (those that stay in it), in nanoseconds."""

    def __init__(self, name: str, parent: CpuGroup | None = None) -> None:
        v1 = Path("/sys/fs/cgroup/cpuacct")
        if parent is not None:
            self.path, self.v2 = parent.path / name, parent.v2
        elif v1.is_dir() and (v1 / "cpuacct.usage").exists():
            self.path, self.v2 = v1 / name, False
        else:
            self.path, self.v2 = Path("/sys/fs/cgroup") / name, True
        self.path.mkdir(exist_ok=True)
        self.parent = parent

    def add(self, pid: int, descendants: bool = True) -> None:
        """Move pid (all its threads) and its live descendants into the group."""
        pids = [pid]
        while pids:
            p = pids.pop()
            try:
                (self.path / "cgroup.procs").write_text(str(p))
                if not descendants:
                    return
                for task in Path(f"/proc/{p}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass

    def ns(self) -> int:
        if not self.v2:
            return int((self.path / "cpuacct.usage").read_text())
        for line in (self.path / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) * 1000
        return 0

    def remove(self) -> None:
        """Remove the group once its processes have gone (bounded wait)."""
        if self.parent is not None:  # (what is left goes back to the parent)
            for pid in (self.path / "cgroup.procs").read_text().split():
                try:
                    (self.parent.path / "cgroup.procs").write_text(pid)
                except OSError:
                    pass
        deadline = time.monotonic() + 10
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    print(f"note: {self.path} still holds processes: "
                          f"{(self.path / 'cgroup.procs').read_text().split()}", file=sys.stderr)
                    return
                time.sleep(0.1)


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


def launch_server(pid: int) -> int | None:
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"serve" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
            except OSError:
                pass
    return None


def gureum_round(group: CpuGroup, launches: CpuGroup, data_dir: Path, ec2: Any, image: str,
                 calls: int) -> dict[str, float]:
    """One round of CALLS RunInstances on gureum; ms of CPU per call."""
    i0 = group.ns()
    time.sleep(IDLE)
    idle_rate = (group.ns() - i0) / IDLE  # ns per second
    t0, c0, l0 = time.monotonic(), group.ns(), launches.ns()
    ids = [ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                             InstanceType="t3.nano")["Instances"][0]["InstanceId"]
           for _ in range(calls)]
    t1, c1 = time.monotonic(), group.ns()
    guests = data_dir / "ec2" / "guests"
    while not all((guests / i / "ready").exists() for i in ids):
        if time.monotonic() - t0 > 60:
            raise TimeoutError("instances did not boot")
        time.sleep(0.05)
    time.sleep(SETTLE)
    t2, c2, l2 = time.monotonic(), group.ns(), launches.ns()
    instance_side = statistics.median(instance_cpu_ms(i) for i in ids)
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 0.5})
    time.sleep(SETTLE)
    per = 1e6 * calls
    return {
        "at_return": (c1 - c0 - idle_rate * (t1 - t0)) / per,
        "settled": (c2 - c0 - idle_rate * (t2 - t0)) / per,
        "gureum_process": (c2 - c0 - (l2 - l0) - idle_rate * (t2 - t0)) / per,
        "launch_server": (l2 - l0) / per,
        "idle_subtracted": idle_rate * (t2 - t0) / per,
        "calls_s": (t1 - t0) / calls * 1000,
        "instance_side_median": instance_side,
    }


def moto_round(group: CpuGroup, ec2: Any, image: str, calls: int) -> float:
    c0 = group.ns()
    for _ in range(calls):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.nano")
    return (group.ns() - c0) / 1e6 / calls


class Moto:
    """moto_server in its own CPU group."""

    def __init__(self) -> None:
        self.group = CpuGroup(f"gureum-bench-moto-{os.getpid()}")
        port = free_port()
        self.proc = subprocess.Popen([find_moto(), "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.group.add(self.proc.pid)
        wait_http(f"http://127.0.0.1:{port}/moto-api/", self.proc, "moto_server")
        self.ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}",
                                region_name="us-east-1", aws_access_key_id="test",
                                aws_secret_access_key="test")
        self.image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        self.ec2.describe_instances()  # warm
        self.ec2.run_instances(ImageId=self.image, MinCount=1, MaxCount=1,
                               InstanceType="t3.nano")

    def round(self, calls: int) -> float:
        return moto_round(self.group, self.ec2, self.image, calls)

    def close(self) -> None:
        stop(self.proc)
        self.group.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--base", type=int, default=0,
                        help="idle instances kept up through the rounds, not counted")
    args = parser.parse_args()
    group = CpuGroup(f"gureum-bench-{os.getpid()}")
    launches = CpuGroup("launch-server", group)
    moto = None
    rows = []
    loads = [os.getloadavg()[0]]
    try:
        with running_gureum() as g:
            group.add(g.pid)
            moto = Moto()
            ec2 = g.client("ec2")
            image = ec2.describe_images()["Images"][0]["ImageId"]
            warm = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                     InstanceType="t3.nano")["Instances"][0]["InstanceId"]
            ec2.get_waiter("instance_running").wait(InstanceIds=[warm],
                                                    WaiterConfig={"Delay": 0.5})
            base = [ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                                      InstanceType="t3.nano")["Instances"][0]["InstanceId"]
                    for _ in range(args.base)]
            if base:
                ec2.get_waiter("instance_running").wait(InstanceIds=base,
                                                        WaiterConfig={"Delay": 0.5})
                time.sleep(SETTLE)
            server = launch_server(g.pid)
            if server is not None:  # (not its forks: the instances' launchers and inits)
                launches.add(server, descendants=False)
            for _ in range(args.rounds):
                ours = gureum_round(group, launches, g.data_dir, ec2, image, args.calls)
                theirs = moto.round(args.calls)
                loads.append(os.getloadavg()[0])
                rows.append({**{k: round(v, 3) for k, v in ours.items()},
                             "moto": round(theirs, 3),
                             "ratio": round(ours["settled"] / theirs, 3)})
                print(json.dumps(rows[-1]), file=sys.stderr)
            ec2.terminate_instances(InstanceIds=[warm, *base])
            ec2.get_waiter("instance_terminated").wait(InstanceIds=[warm, *base],
                                                       WaiterConfig={"Delay": 0.5})
    finally:
        if moto is not None:
            moto.close()
        launches.remove()
        group.remove()
    print(json.dumps({
        "load_average_1m": [round(x, 2) for x in loads],
        "base_instances": args.base,
        "rounds": rows,
        "run_instances_ms": {
            "gureum_settled_median": round(statistics.median(r["settled"] for r in rows), 3),
            "gureum_at_return_median": round(statistics.median(r["at_return"] for r in rows), 3),
            "gureum_process_median": round(statistics.median(r["gureum_process"] for r in rows),
                                           3),
            "launch_server_median": round(statistics.median(r["launch_server"] for r in rows), 3),
            "moto_median": round(statistics.median(r["moto"] for r in rows), 3),
            "ratio_median": round(statistics.median(r["ratio"] for r in rows), 3),
        },
    }, indent=2))


if __name__ == "__main__":
    main()
