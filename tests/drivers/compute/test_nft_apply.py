"""A launcher applies its instance's nftables rules with libnftables in its own
process (no ``nft`` process per security group change), in the network
namespace it is in, and says why rules were refused. Needs root and ``ip``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

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
