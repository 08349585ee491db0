"""The memory gureum builds at startup is backed by huge pages, where the kernel
offers them (transparent huge pages enabled and ``MADV_COLLAPSE``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from gureum import hugepages
from gureum.testing.server import RunningGureum

MAPS = """\
00400000-00401000 r-xp 00000000 08:01 123 /usr/bin/python3
01000000-01a00000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000500000 rw-p 00000000 00:00 0
7f0000600000-7f0000700000 rw-p 00000000 00:00 0
7f0000800000-7f0000c00000 rw-s 00000000 00:05 9 /dev/zero (deleted)
7f0001000000-7f0001400000 rw-p 00000000 08:01 77 /var/lib/data.db
7ffd00000000-7ffd00400000 rw-p 00000000 00:00 0 [stack]
"""


def test_only_the_aligned_parts_of_private_anonymous_writable_mappings_are_taken() -> None:
    two = hugepages.HUGE
    assert hugepages.anonymous_ranges(MAPS) == [
        (0x01000000, 0x01000000 + 5 * two),  # the heap: 10 MiB
        (0x7F0000000000, 0x7F0000000000 + 2 * two),  # 5 MiB: its first 4 MiB
        # (1 MiB with no whole huge page in it, a shared mapping, a file, the stack: none)
    ]


def _thp_available() -> bool:
    try:
        mode = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False
    return "[never]" not in mode


def _anon_huge_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


needs_thp = pytest.mark.skipif(not _thp_available(),
                               reason="the kernel offers no transparent huge pages")


@needs_thp
def test_collapse_backs_a_processes_anonymous_memory_with_huge_pages() -> None:
    code = (
        "import os, gureum.hugepages as h\n"
        "block = bytearray(os.urandom(1024)) * (16 * 1024)\n"  # 16 MiB touched
        "done = h.collapse()\n"
        "kib = [int(l.split()[1]) for l in open('/proc/self/smaps_rollup')"
        " if l.startswith('AnonHugePages:')][0]\n"
        "print(done, kib)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    done, kib = int(out[0]), int(out[1])
    assert done >= 6 * hugepages.HUGE  # (the block need not start on a 2 MiB boundary)
    assert kib * 1024 >= 6 * hugepages.HUGE


@needs_thp
def test_a_running_gureum_has_its_startup_memory_in_huge_pages(gureum: RunningGureum) -> None:
    deadline = time.monotonic() + 10
    while _anon_huge_kib(gureum.pid) < 4096 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _anon_huge_kib(gureum.pid) >= 4096
