"""Short names for socket directories deep in a long data directory.

A Unix socket's path is limited to 107 bytes (``sun_path``), and the sockets
of gureum's engines and proxies live in its data directory (a database's in
``<data dir>/<id>/run``, a load balancer's control socket in its own
directory): a data directory deep in a home directory (or a test's temporary
one) is too long for them. Such a directory is
reached instead through a symbolic link named by a hash of its full path, in
``/run/gureum/sock`` (root) or ``<temp dir>/gureum-<uid>/sock``; the kernel
follows the link when the socket is bound and connected to, and the
directory's own permissions still decide who gets in. Short paths are used as
they are. A link whose directory is gone is stale and swept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path


class SocketPathError(OSError):
    """No usable short path for a socket directory."""

# sizeof(sun_path) less the terminating NUL.
MAX_SOCKET_PATH = 107


def link_root() -> Path:
    if os.geteuid() == 0:
        return Path("/run/gureum/sock")
    return Path(tempfile.gettempdir()) / f"gureum-{os.geteuid()}" / "sock"


def _safe_dir(path: Path) -> None:
    """Made if missing; it must be ours and writable by no one else (it may sit
    in a world-writable temp dir where anyone could have made it first)."""
    for p in (path.parent, path):
        with contextlib.suppress(FileExistsError):
            p.mkdir(mode=0o711, parents=p == path.parent)
        st = os.lstat(p)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or \
                st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SocketPathError(f"{p} is not a private directory of this user")
        if st.st_mode & 0o111 != 0o111:  # the engine user passes through
            os.chmod(p, stat.S_IMODE(st.st_mode) | 0o111)


def link_for(real: Path, root: Path | None = None) -> Path:
    digest = hashlib.sha256(str(real).encode()).hexdigest()[:20]
    return (root or link_root()) / digest


def socket_dir(real: Path, name: str, root: Path | None = None) -> Path:
    """The directory to name for the socket ``name`` in ``real``: ``real``
    itself if the path fits, else a link to it (made or corrected now)."""
    real = real.absolute()
    if len(os.fsencode(real / name)) <= MAX_SOCKET_PATH:
        return real
    link = link_for(real, root)
    if len(os.fsencode(link / name)) > MAX_SOCKET_PATH:
        raise SocketPathError(f"no short path for the socket directory {real}")
    _safe_dir(link.parent)
    with contextlib.suppress(OSError):
        if os.readlink(link) == str(real):
            return link
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(real)
    tmp.replace(link)
    return link


def remove_link(real: Path, root: Path | None = None) -> None:
    """Drop the link to ``real`` (if one was made) once the engine is gone."""
    link = link_for(real.absolute(), root)
    with contextlib.suppress(OSError):
        if os.readlink(link) == str(real.absolute()):
            link.unlink()


def sweep(root: Path | None = None) -> None:
    """Remove links whose directory no longer exists (an engine deleted while
    gureum was down, or a data directory removed by hand)."""
    base = root or link_root()
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink() and not os.path.exists(entry.path):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
