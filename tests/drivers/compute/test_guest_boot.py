"""What an instance's launcher and init import and run with: no json and no
subprocess (nor re, enum, locale... that they import, ~10 ms of each boot's
CPU): the config comes in marshal's format, CONFIG.json is written by
``json_text`` (as json.dumps writes it) and commands are started with
posix_spawn. Run in the host's ``python3 -S``, as a launcher is."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gureum.drivers.compute.namespaces import GUEST_SCRIPT, host_python


def guest_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gureum_guest_under_test", GUEST_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GUEST = guest_module()

PROGRAM = """
import os, sys
sys.path.insert(0, sys.argv[1])
import guest
code, said = guest.run(["sh", "-c", "cat; echo oops >&2; exit 3"], b"given\\n", capture=True)
print(code, said.decode().split())
code, _ = guest.run(["true"], b"x" * 200000)  # (more than a pipe holds, not read)
print(code)
sys.stdout.flush()
pid = guest.spawn(["/bin/sh", "-c", "echo $$ $(cut -d' ' -f6 /proc/$$/stat) "
                   "$(grep SigIgn /proc/$$/status | cut -f2) $(readlink /proc/$$/cwd)"], 1)
os.waitpid(pid, 0)
config = {"id": "i-1", "dir": "/x", "address": "10.0.0.2", "prefix": "24",
          "gateway": "10.0.0.1", "wait_ready": 5.0, "hide": ["/a"], "nft": None}
print(guest.json_text(guest.expand(config)))
print(sorted(m for m in ("json", "subprocess", "re", "enum", "locale", "socket", "threading")
             if m in sys.modules))
"""


def test_a_boot_imports_neither_json_nor_subprocess(tmp_path: Path) -> None:
    done = subprocess.run([host_python(), "-S", "-c", PROGRAM, str(GUEST_SCRIPT.parent)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "3 ['given', 'oops']"  # (its input given, its output and errors read)
    assert lines[1] == "0"
    pid, session, ignored, cwd = lines[2].split()
    assert session == pid and cwd == "/"  # (a session of its own, started from /)
    assert not int(ignored, 16) & (1 << 12)  # SIGPIPE as by default, not ignored as in Python
    kept = json.loads(lines[3])
    assert kept["net"] == ["10.0.0.2", 24, "10.0.0.1"] and kept["wait_ready"] == 5.0
    assert lines[4] == "[]"


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12))
def test_json_text_writes_what_json_dumps_writes(value: object) -> None:
    assert GUEST.json_text(value) == json.dumps(value)


def test_the_launcher_reads_the_config_gureum_sends() -> None:
    import marshal

    from gureum.drivers.compute.launches import MARSHAL_VERSION

    config = {"id": "i-1", "hide": ["/a", "/b"], "wait_ready": 5.0, "from_image": False,
              "user_data_b64": None, "cgroup_setup": {"mkdir": ["/c"], "write": [["/c/x", "1"]]}}
    sent = marshal.dumps(config, MARSHAL_VERSION)
    done = subprocess.run(
        [host_python(), "-S", "-c",
         "import marshal, sys; print(repr(marshal.loads(sys.stdin.buffer.read())))"],
        input=sent, capture_output=True, timeout=60, check=True)
    assert done.stdout.decode().strip() == repr(config)


ADDRESS = """
import sys
sys.path.insert(0, sys.argv[1])
import guest
guest.address("10.213.7.2", 24, "10.213.7.1")
print(sorted(m for m in ("socket", "subprocess", "enum") if m in sys.modules))
try:
    guest.address("10.213.7.2", 24, "10.213.7.1")
except OSError as exc:
    print(exc.errno, exc)
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                    reason="needs root and iproute2")
def test_an_instance_is_addressed_over_rtnetlink_as_ip_would() -> None:
    """The launcher addresses the instance's eth0, brings it and lo up and
    routes by its gateway with rtnetlink requests of its own (no ``ip``
    process started); a request the kernel refuses is an OSError with its
    errno."""
    ns, veth = f"gureum-test-nl{os.getpid()}", f"gtnl{os.getpid() % 100000}"
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
                        "netns", ns], check=True)
        done = subprocess.run(["ip", "netns", "exec", ns, host_python(), "-S", "-c", ADDRESS,
                               str(GUEST_SCRIPT.parent)], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "[]", "17 [Errno 17] address 10.213.7.2/24: File exists"]

        def shown(*what: str) -> list[dict[str, object]]:
            out = subprocess.run(["ip", "-n", ns, "-j", *what], capture_output=True,
                                 text=True, check=True).stdout
            found: list[dict[str, object]] = json.loads(out)
            return found

        links = {link["ifname"]: link["flags"] for link in shown("link", "show")}
        assert "UP" in links["lo"] and "UP" in links["eth0"]  # type: ignore[operator]
        addresses = [(a["local"], a["prefixlen"]) for link in shown("-4", "addr", "show", "eth0")
                     for a in link["addr_info"]]  # type: ignore[attr-defined]
        assert addresses == [("10.213.7.2", 24)]
        routes = shown("route", "show", "default")
        assert [(r["gateway"], r["dev"]) for r in routes] == [("10.213.7.1", "eth0")]
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", veth], capture_output=True)


ATTACH = """
import os, sys
sys.path.insert(0, sys.argv[1])
import guest
netns, veth, bridge = sys.argv[2:5]
try:
    guest.attach(netns + "-nobridge", veth, bridge + "x", "10.213.8.2")
except OSError as exc:
    print("no bridge:", os.path.exists(netns + "-nobridge"))
host = os.readlink("/proc/self/ns/net")
guest.attach(netns, veth, bridge, "10.213.8.2")
own = os.stat("/proc/self/ns/net").st_ino
print(os.readlink("/proc/self/ns/net") != host, os.stat(netns).st_ino == own)
guest.address("10.213.8.2", 24, "10.213.8.1")
"""


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                    reason="needs root and iproute2")
def test_the_launcher_makes_its_namespace_and_veth_as_ip_would() -> None:
    """The launcher makes the instance's network namespace (bound at its
    /run/netns name, as ``ip netns add`` binds it: ``ip netns exec`` enters
    it) and its veth on the bridge, up, with eth0 in the namespace, by its own
    unshare and rtnetlink requests, and ends in that namespace; a missing
    bridge is an OSError before anything is made."""
    pid = os.getpid()
    ns, veth, bridge = f"gureum-test-at{pid}", f"gtat{pid % 100000}", f"gtbr{pid % 100000}"
    try:
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", "10.213.8.1/24", "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        done = subprocess.run([host_python(), "-S", "-c", ATTACH, str(GUEST_SCRIPT.parent),
                               f"/run/netns/{ns}", veth, bridge], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == ["no bridge: False", "True True"]
        assert ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                    check=True).stdout
        host_end = json.loads(subprocess.run(["ip", "-j", "link", "show", veth],
                                             capture_output=True, text=True, check=True).stdout)
        assert host_end[0]["master"] == bridge and "UP" in host_end[0]["flags"]
        inside = subprocess.run(["ip", "netns", "exec", ns, "ip", "-4", "-br", "addr", "show",
                                 "eth0"], capture_output=True, text=True, check=True).stdout
        assert "10.213.8.2/24" in inside
        # The host reaches it over the bridge (refused: nothing listens, but it answered).
        reached = subprocess.run(["ip", "netns", "exec", ns, host_python(), "-c",
                                  "import socket\ntry:\n socket.create_connection("
                                  "('10.213.8.1', 9), timeout=2)\nexcept OSError as e:\n"
                                  " print(type(e).__name__)"],
                                 capture_output=True, text=True, timeout=30)
        assert reached.stdout.strip() == "ConnectionRefusedError"
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
