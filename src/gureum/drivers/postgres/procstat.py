"""What a server's process tree has used, read from /proc: CPU time and the
bytes its processes made the storage layer read and write.

A server is its main process and that process's children. CPU time counts
the main process, its living children and (through the main process's
``cutime``/``cstime``) every child it has already reaped, so a connection
that came and went still counts. I/O bytes count the living processes only
(the kernel keeps no reaped-children total for them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0


@dataclass(frozen=True)
class TreeUsage:
    cpu_seconds: float
    read_bytes: int | None  # None: /proc/<pid>/io is not readable here
    write_bytes: int | None


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    return text[text.rfind(")") + 2:].split()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            found += [int(c) for c in text.split()]
        return found
    except OSError:
        pass
    for entry in Path("/proc").iterdir():  # kernels without the children file
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def _io(pid: int) -> tuple[int, int] | None:
    try:
        lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    except OSError:
        return None
    values = dict(line.split(": ", 1) for line in lines if ": " in line)
    try:
        return int(values["read_bytes"]), int(values["write_bytes"])
    except (KeyError, ValueError):
        return None


def tree_usage(pid: int) -> TreeUsage | None:
    """Usage of ``pid`` and its children; None if ``pid`` is gone."""
    main = _stat(pid)
    if main is None:
        return None
    # Fields after the name start at field 3 (state): utime is 14, cstime 17.
    ticks = sum(int(v) for v in main[11:15])
    read: int | None = 0
    write: int | None = 0
    for p in [pid, *_children(pid)]:
        if p != pid:
            fields = _stat(p)
            if fields is None:
                continue
            ticks += int(fields[11]) + int(fields[12])
        io = _io(p)
        if io is None or read is None or write is None:
            read = write = None
        else:
            read, write = read + io[0], write + io[1]
    return TreeUsage(ticks / TICKS, read, write)


def dir_bytes(path: Path) -> int:
    """Bytes the files under ``path`` take on disk (blocks, as ``du``)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total
