"""Helpers for the EC2 end-to-end tests: a private gureum whose instances are
swept away even if a test fails, and checks that nothing is left on the host."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gureum.drivers.compute import hostnet
from gureum.testing.server import RunningGureum, free_port, running_gureum

USER_DATA = """#!/bin/bash
mkdir -p /srv/www && cd /srv/www
echo "hello from $(hostname)" > index.html
TOKEN=$(curl -s -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \\
        http://169.254.169.254/latest/api/token)
echo "id=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" \\
        http://169.254.169.254/latest/meta-data/instance-id)" >> index.html
echo "v1-ip=$(curl -s http://169.254.169.254/latest/meta-data/local-ipv4)" >> index.html
cat > /etc/rc.local <<'EOF2'
#!/bin/bash
cd /srv/www && exec python3 -m http.server 80
EOF2
chmod +x /etc/rc.local
exec /etc/rc.local
"""

root_only = os.geteuid() != 0


def guest_pids(data_dir: Path) -> list[int]:
    marker = str(data_dir / "ec2" / "guests").encode()
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes():
                    out.append(int(entry.name))
    return out


def init_pid(data_dir: Path, instance_id: str) -> int:
    """The host pid of an instance's init (the child of its launcher)."""
    launcher = int((data_dir / "ec2" / "guests" / instance_id / "launcher.pid").read_text())
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    return int(children[0])


def leftovers(instance_ids: list[str], data_dir: Path) -> list[str]:
    """What the given instances left on the host: processes, namespaces, links, cgroups, mounts."""
    found = [f"pid {p}" for p in guest_pids(data_dir)]
    netns = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    links = set(os.listdir("/sys/class/net"))
    mounts = Path("/proc/mounts").read_text()
    for i in instance_ids:
        if f"gureum-{i}" in netns:
            found.append(f"netns gureum-{i}")
        if "gv" + i[2:14] in links:
            found.append(f"veth of {i}")
        for ctl in ("cpu", "cpuacct", "memory", "pids", "blkio", "unified"):
            if Path(f"/sys/fs/cgroup/{ctl}/gureum/{i}").exists():
                found.append(f"cgroup {ctl} of {i}")
        if i in mounts:
            found.append(f"mount of {i}")
    return found


def sweep(data_dir: Path) -> None:
    """Remove whatever instances of this data dir are left (after a failed test)."""
    for pid in guest_pids(data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    claims = Path("/run/gureum/networks")
    if claims.is_dir():
        for claim in claims.iterdir():
            with contextlib.suppress(OSError):
                if claim.read_text().strip() == str(data_dir / "ec2"):
                    claim.unlink()
    guests = data_dir / "ec2" / "guests"
    ids = [p.name for p in guests.iterdir()] if guests.is_dir() else []
    for i in ids:
        subprocess.run(["ip", "netns", "del", f"gureum-{i}"], capture_output=True)
        for ctl in ("cpu", "cpuacct", "memory", "pids", "blkio", "unified"):
            d = Path(f"/sys/fs/cgroup/{ctl}/gureum/{i}")
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


@contextlib.contextmanager
def ec2_gureum(env: dict[str, str] | None = None) -> Iterator[RunningGureum]:
    """A gureum whose instances, and bridge, are all gone afterwards."""
    with running_gureum(env=env) as g:
        try:
            yield g
        finally:
            g.stop()
            sweep(g.data_dir)
            drop_bridge(g.data_dir)


def drop_bridge(data_dir: Path) -> None:
    """Delete this gureum's bridge if a crash left it: load balancers'
    addresses on it go with it."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        cidr = json.loads((data_dir / "ec2" / "network.json").read_text())["cidr"]
        name = hostnet.bridge_name(cidr)
        if hostnet.link_exists(name) and not hostnet.has_members(name):
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def wait_for(check: Callable[[], object], timeout: float = 20.0, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the condition is not met yet
            last = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last!r})")


def http_get(url: str, timeout: float = 1.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body: bytes = r.read()
        return body.decode()


NOBODY = 65534


class UnprivilegedGureum(RunningGureum):
    """A gureum run as ``nobody`` (so without root: EC2 picks the fallback driver)."""

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.data_dir, NOBODY, NOBODY)
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
               sys.executable, "-m", "gureum", "up", "--port", str(self.port),
               "--data-dir", str(self.data_dir), *self.args]
        env = {**os.environ, "HOME": str(self.data_dir), **self.env}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gureum exited early:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if self.health().get("status") == "running":
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"gureum did not become ready:\n{self.log_path.read_text()[-3000:]}")


def session_pids(data_dir: Path) -> list[int]:
    """Processes working in a fallback guest's volume (its session leader and what
    did not change directory)."""
    marker = str(data_dir / "ec2" / "guests")
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "cwd").startswith(marker):
                    out.append(int(entry.name))
    return out


@contextlib.contextmanager
def unprivileged_gureum() -> Iterator[RunningGureum]:
    data_dir = Path(tempfile.mkdtemp(prefix="gureum-nobody-"))
    os.chmod(data_dir, 0o755)
    g = UnprivilegedGureum(data_dir, free_port())
    try:
        g.start()
        yield g
    finally:
        g.stop()
        for pid in set(session_pids(data_dir) + guest_pids(data_dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(data_dir, ignore_errors=True)


def own_vpc(ec2: Any) -> tuple[str, int, str, list[str]]:
    """A VPC of one's own (10.x.0.0/16, x from a random tag) with a subnet in
    us-east-1a and one in us-east-1b: (the tag, x, the VPC's id, the subnets' ids)."""
    tag = uuid.uuid4().hex[:6]
    second = 100 + int(tag, 16) % 150
    vpc = ec2.create_vpc(CidrBlock=f"10.{second}.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{second}.{n}.0/24",
                                 AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))]
    return tag, second, vpc, subnets
