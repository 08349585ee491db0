"""The memory startup built, backed by huge pages.

What gureum builds at startup (code objects, module dictionaries, botocore's
models, compiled readers and writers) is what every request reads, scattered
over tens of MiB. On a small machine whose client threads share the cores,
each request starts with cold caches, and its address translations are cold
too: every 4 KiB page it touches may cost a page walk (two-level under a
hypervisor). Backed by 2 MiB pages, the same memory takes ~1/512 of the TLB
entries. bench/s3_pair.py measured 4 KiB S3 GETs and HEADs 3.5-6% cheaper in
server CPU with it, PUTs 1-4.5% (two runs; bench/README.md, s3_pair.py);
resident memory grew by ~1 MiB.

Linux only, and only where transparent huge pages are enabled (``always`` or
``madvise``) and ``MADV_COLLAPSE`` exists (Linux 6.1+); anywhere else nothing
is done.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading

log = logging.getLogger(__name__)

HUGE = 2 * 1024 * 1024
MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25


def anonymous_ranges(maps: str) -> list[tuple[int, int]]:
    """The 2 MiB-aligned parts of the private, writable, anonymous mappings
    (the heap among them) listed in ``maps`` (``/proc/self/maps``'s text)."""
    out: list[tuple[int, int]] = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[1].startswith("rw") or fields[1][3] != "p":
            continue
        name = fields[5] if len(fields) > 5 else ""
        if name not in ("", "[heap]"):
            continue  # files, stacks, [vvar] and the like
        low, high = (int(x, 16) for x in fields[0].split("-"))
        start, end = -(-low // HUGE) * HUGE, high // HUGE * HUGE
        if end > start:
            out.append((start, end))
    return out


def collapse() -> int:
    """Back the anonymous memory mapped so far with huge pages; the bytes
    collapsed (0 where the kernel cannot)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/maps") as f:
            ranges = anonymous_ranges(f.read())
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    done = 0
    for start, end in ranges:
        # (ctypes lets go of the GIL for the call: the event loop runs meanwhile.)
        if madvise(start, end - start, MADV_HUGEPAGE) != 0:
            return done  # no transparent huge pages here
        if madvise(start, end - start, MADV_COLLAPSE) == 0:
            done += end - start
    return done


def collapse_in_background() -> threading.Thread:
    """``collapse()`` in a thread of its own (~0.1 s of kernel work for ~30 MiB)."""

    def run() -> None:
        done = collapse()
        log.debug("huge pages: %d MiB of startup memory collapsed", done // HUGE * 2)

    thread = threading.Thread(target=run, name="gureum-hugepages", daemon=True)
    thread.start()
    return thread
