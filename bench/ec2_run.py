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
until they join their instance's groups (``launch_server``). ``loop_thread``
is the CPU of gureum's main thread (its event loop) alone over the round, from
/proc/PID/task/PID/schedstat, no idle CPU taken off (``fake_loop_thread`` the
fake-driver gureum's): where the share is, without the WAL sync and worker
threads.

A gureum round: CALLS RunInstances calls one after another, then wait until
every instance has booted and the instance loop has settled (the security
group updates the launches cause), less gureum's idle CPU over that time
(measured just before: the least of four half-second windows); then the
instances are terminated and the loop settles again before the next round.
A moto round: CALLS RunInstances calls (moto has nothing to finish after it
answers). The ratio is taken per pair
of rounds and the median reported, with the load average.

With ``--base N``, N idle instances are launched first and stay up through
every round (not counted): whether a launch costs more the more instances
there already are (work over every instance or every group member per launch)
shows as the difference between ``--base 0`` and ``--base 40``.

With ``--against SRC`` a second gureum runs at the same time from another
source tree (``SRC`` is put on its PYTHONPATH: a ``git worktree`` of an older
commit, say), in rounds alternating with this one's: two versions compared
under the same load (``ours_over_against``), not in runs minutes apart.

With ``--fake`` a gureum with the fake compute driver runs in the same
rounds too (the same calls, no driver work): ``driver_share`` is what the
real driver costs gureum per launch.

    sudo .venv/bin/python bench/ec2_run.py [--rounds 3] [--calls 40] [--base 0]
        [--against OTHER/src] [--fake]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from gureum.testing.server import running_gureum

sys.path.insert(0, str(Path(__file__).parent))
from api import FAKE_COMPUTE, find_moto, free_port, stop, wait_http

SETTLE = 2.5  # s: > the security group membership settle time (1 s)
IDLE = 2.0  # s: gureum's idle CPU is measured over this long before each round
IDLE_WINDOWS = 4


class CpuGroup:
    """A cgroup counting the CPU of the processes moved into it and of their
    descendants (those that stay in it), in nanoseconds."""

    def __init__(self, name: str, parent: CpuGroup | None = None) -> None:
        v1 = Path("/sys/fs/cgroup/cpuacct")
        self.path: Path
        self.v2: bool
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


def loop_ns(pid: int) -> int:
    """CPU ns of the process's main thread (gureum's event loop) so far."""
    try:
        return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


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
                 calls: int, pid: int) -> dict[str, float]:
    """One round of CALLS RunInstances on gureum; ms of CPU per call."""
    # ns per second: the least of a few windows, so that a periodic pass over every
    # instance (the metrics collection, the loop's resync: once a minute) that falls
    # into the idle measurement is not taken off every second of the round (with 40
    # instances up that made a round's figure negative); one that falls into the
    # round is counted to it.
    rates = []
    for _ in range(IDLE_WINDOWS):
        i0 = group.ns()
        time.sleep(IDLE / IDLE_WINDOWS)
        rates.append((group.ns() - i0) / (IDLE / IDLE_WINDOWS))
    idle_rate = min(rates)
    t0, c0, l0, e0 = time.monotonic(), group.ns(), launches.ns(), loop_ns(pid)
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
    t2, c2, l2, e2 = time.monotonic(), group.ns(), launches.ns(), loop_ns(pid)
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
        "loop_thread": (e2 - e0) / per,
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


class FakeGureum:
    """A gureum with the fake compute driver (instances are records), in a CPU
    group of its own: the same calls with no driver work, so that the real
    driver's share of a launch (``driver_share``) is measured in the same rounds."""

    def __init__(self) -> None:
        self.group = CpuGroup(f"gureum-bench-fake-{os.getpid()}")
        self.data_dir = tempfile.mkdtemp(prefix="gureum-bench-")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GUREUM_", "AWS_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FAKE_COMPUTE, "up", "--port", str(port),
             "--data-dir", self.data_dir, "--log-level", "WARNING"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        self.group.add(self.proc.pid)
        wait_http(f"http://127.0.0.1:{port}/_gureum/health", self.proc, "gureum (fake driver)")
        self.ec2 = boto3.client("ec2", endpoint_url=f"http://127.0.0.1:{port}",
                                region_name="us-east-1", aws_access_key_id="test",
                                aws_secret_access_key="test")
        self.image = self.ec2.describe_images()["Images"][0]["ImageId"]
        self.ec2.run_instances(ImageId=self.image, MinCount=1, MaxCount=1,
                               InstanceType="t3.nano")  # (warm)

    def round(self, calls: int) -> dict[str, float]:
        rates = []
        for _ in range(IDLE_WINDOWS):
            i0 = self.group.ns()
            time.sleep(IDLE / IDLE_WINDOWS)
            rates.append((self.group.ns() - i0) / (IDLE / IDLE_WINDOWS))
        idle_rate = min(rates)
        t0, c0, e0 = time.monotonic(), self.group.ns(), loop_ns(self.proc.pid)
        ids = [self.ec2.run_instances(ImageId=self.image, MinCount=1, MaxCount=1,
                                      InstanceType="t3.nano")["Instances"][0]["InstanceId"]
               for _ in range(calls)]
        t1, c1 = time.monotonic(), self.group.ns()
        time.sleep(SETTLE)
        t2, c2, e2 = time.monotonic(), self.group.ns(), loop_ns(self.proc.pid)
        self.ec2.terminate_instances(InstanceIds=ids)
        time.sleep(SETTLE)
        per = 1e6 * calls
        return {"at_return": (c1 - c0 - idle_rate * (t1 - t0)) / per,
                "settled": (c2 - c0 - idle_rate * (t2 - t0)) / per,
                "loop_thread": (e2 - e0) / per}

    def close(self) -> None:
        stop(self.proc)
        self.group.remove()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class Gureum:
    """A running gureum in CPU groups of its own, with its warm and base instances."""

    def __init__(self, g: Any, name: str, base: int) -> None:
        self.g = g
        self.group = CpuGroup(f"gureum-bench-{name}-{os.getpid()}")
        self.launches = CpuGroup("launch-server", self.group)
        self.group.add(g.pid)
        self.ec2 = g.client("ec2")
        self.image = self.ec2.describe_images()["Images"][0]["ImageId"]
        self.kept = [self._run() for _ in range(1 + base)]  # (warm, then base)
        self.ec2.get_waiter("instance_running").wait(InstanceIds=self.kept,
                                                     WaiterConfig={"Delay": 0.5})
        if base:
            time.sleep(SETTLE)
        server = launch_server(g.pid)
        if server is not None:  # (not its forks: the instances' launchers and inits)
            self.launches.add(server, descendants=False)

    def _run(self) -> str:
        return str(self.ec2.run_instances(ImageId=self.image, MinCount=1, MaxCount=1,
                                          InstanceType="t3.nano")["Instances"][0]["InstanceId"])

    def round(self, calls: int) -> dict[str, float]:
        return gureum_round(self.group, self.launches, self.g.data_dir, self.ec2, self.image,
                            calls, self.g.pid)

    def close(self) -> None:
        self.ec2.terminate_instances(InstanceIds=self.kept)
        self.ec2.get_waiter("instance_terminated").wait(InstanceIds=self.kept,
                                                        WaiterConfig={"Delay": 0.5})

    def remove(self) -> None:
        self.launches.remove()
        self.group.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--base", type=int, default=0,
                        help="idle instances kept up through the rounds, not counted")
    parser.add_argument("--against", metavar="SRC",
                        help="another gureum's source directory (its src/), run at the same "
                             "time in rounds alternating with this one's")
    parser.add_argument("--fake", action="store_true",
                        help="also a gureum with the fake compute driver, in the same rounds: "
                             "the real driver's share of a launch (driver_share)")
    args = parser.parse_args()
    moto = None
    fake: FakeGureum | None = None
    rows = []
    loads = [os.getloadavg()[0]]
    ours: Gureum | None = None
    other: Gureum | None = None
    try:
        with contextlib.ExitStack() as stack:
            ours = Gureum(stack.enter_context(running_gureum()), "ours", args.base)
            if args.against:
                env = {"PYTHONPATH": str(Path(args.against).resolve())}
                other = Gureum(stack.enter_context(running_gureum(env=env)), "other",
                               args.base)
            moto = Moto()
            if args.fake:
                fake = FakeGureum()
            for n in range(args.rounds):
                faked = fake.round(args.calls) if fake is not None and n % 2 else None
                theirs_g: dict[str, float] | None
                if other is not None and n % 2:
                    theirs_g = other.round(args.calls)
                    mine = ours.round(args.calls)
                else:
                    mine = ours.round(args.calls)
                    theirs_g = other.round(args.calls) if other is not None else None
                if fake is not None and faked is None:
                    faked = fake.round(args.calls)
                theirs = moto.round(args.calls)
                loads.append(os.getloadavg()[0])
                row = {**{k: round(v, 3) for k, v in mine.items()},
                       "moto": round(theirs, 3), "ratio": round(mine["settled"] / theirs, 3)}
                if theirs_g is not None:
                    row["against_settled"] = round(theirs_g["settled"], 3)
                    row["against_process"] = round(theirs_g["gureum_process"], 3)
                    row["against_ratio"] = round(theirs_g["settled"] / theirs, 3)
                    row["ours_over_against"] = round(mine["settled"] / theirs_g["settled"], 3)
                if faked is not None:
                    row["fake_settled"] = round(faked["settled"], 3)
                    row["fake_at_return"] = round(faked["at_return"], 3)
                    row["fake_loop_thread"] = round(faked["loop_thread"], 3)
                    row["driver_share"] = round(mine["settled"] - faked["settled"], 3)
                rows.append(row)
                print(json.dumps(rows[-1]), file=sys.stderr)
            for g in (ours, other):
                if g is not None:
                    g.close()
    finally:
        if moto is not None:
            moto.close()
        if fake is not None:
            fake.close()
        for g in (ours, other):
            if g is not None:
                g.remove()

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 3)

    out = {
        "gureum_settled_median": median("settled"),
        "gureum_at_return_median": median("at_return"),
        "gureum_process_median": median("gureum_process"),
        "launch_server_median": median("launch_server"),
        "moto_median": median("moto"),
        "ratio_median": median("ratio"),
    }
    if args.against:
        out.update({k: median(k) for k in ("against_settled", "against_process",
                                            "against_ratio", "ours_over_against")})
    if args.fake:
        out.update({k: median(k) for k in ("fake_settled", "fake_at_return", "driver_share")})
    print(json.dumps({
        "load_average_1m": [round(x, 2) for x in loads],
        "base_instances": args.base,
        "rounds": rows,
        "run_instances_ms": out,
    }, indent=2))


if __name__ == "__main__":
    main()
