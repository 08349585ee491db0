"""A launcher applies its instance's nftables rules with libnftables in its own
process (no ``nft`` process per security group change), in the network
namespace it is in, and says why rules were refused. Needs root and ``ip``."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gureum.drivers.compute.namespaces import GUEST_SCRIPT

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None,
    reason="needs root, ip and nft")

PROGRAM = """
import sys
sys.path.insert(0, sys.argv[1])
import guest
guest.nft_apply(b"table inet t {\\n chain input {\\n type filter hook input priority 0; "
                b"policy drop;\\n tcp dport 8080 accept\\n }\\n}\\n")
try:
    guest.nft_apply(b"table inet t {\\n chain input {\\n bogus\\n }\\n}\\n")
except OSError as exc:
    print("refused:", exc)
print("library" if guest._nftables() is not None else "command")
"""


def test_rules_are_applied_in_the_namespace_and_refusals_say_why() -> None:
    ns = f"gureum-test-nft-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", PROGRAM,
             str(GUEST_SCRIPT.parent)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert "refused:" in done.stdout and "syntax error" in done.stdout
        assert done.stdout.strip().endswith("library")  # (where libnftables is installed)
        listed = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "ruleset"],
                                capture_output=True, text=True, check=True).stdout
        assert "tcp dport 8080 accept" in listed
        host = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert "inet t\n" not in host + "\n"  # (not the host's)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


CALLS = """
import os, sys
sys.path.insert(0, sys.argv[1])
import guest
pid = os.fork()
if pid == 0:  # (in namespaces of its own: nothing of the host's changes)
    libc = guest._libc()
    guest._check(libc.unshare(guest.CLONE_NEWUTS | guest.CLONE_NEWNS), "unshare")
    name = b"gureum-calls-test"
    guest._check(libc.sethostname(name, len(name)), "sethostname")
    guest.mount(None, "/", None, guest.MS_REC | guest.MS_PRIVATE)
    guest.mount("tmpfs", sys.argv[2], "tmpfs", guest.MS_NOSUID | guest.MS_NODEV, "size=4k")
    with open("/proc/self/mounts") as f:
        mounted = f" {sys.argv[2]} tmpfs " in f.read()
    try:
        guest.mount("tmpfs", sys.argv[2] + "/missing", "tmpfs")
    except OSError as exc:
        refused = exc.errno
    print(os.uname().nodename, mounted, refused, guest._nftables() is not None,
          "ctypes" in sys.modules, flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_the_c_calls_of_a_launcher_work_and_say_why_without_importing_ctypes(
        tmp_path: Path) -> None:
    """libc's unshare, sethostname and mount (an unsigned long flags argument,
    NULL strings) and libnftables are called through ``_ctypes`` alone (ctypes'
    module cost each boot ~3.5 ms to import); a refused call's errno is kept."""
    done = subprocess.run([sys.executable, "-S", "-c", CALLS, str(GUEST_SCRIPT.parent),
                           str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gureum-calls-test", "True", str(errno.ENOENT), "True",
                                   "False"]
    assert os.uname().nodename != "gureum-calls-test"  # (the host's is as it was)
