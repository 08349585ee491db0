"""The launcher and init of one instance, run with the host's ``python3``.

This file is a standalone script (standard library only, nothing of gureum is
imported): ``python3 guest.py launch CONFIG.json`` (or ``launch CONFIG.json -``
with the config on stdin: the directories it names are made and it is kept
as CONFIG.json).

- ``launch`` forks a launcher and returns once the instance has booted (or
  its init died, or ``wait_ready`` seconds passed); the launcher belongs to
  the host's init, not to gureum, and outlives a gureum that is killed.
- ``serve`` does what ``launch`` does for each request it reads, each
  launcher a fork of itself (gureum starts it once: no interpreter to start
  per instance), with the command line ``launch CONFIG.json -`` would give it.
  (Where a C compiler is, gureum runs ``launchd.c`` instead: it execs
  ``launch CONFIG.json -`` with ``GUREUM_READY_FD`` set, in the instance's
  cgroups, and that process is the launcher.)
- The launcher writes its files (the config, the user data, the rules file),
  makes the instance's cgroups and joins them, writes its pid to the
  config's ``pidfile``, makes the instance's network namespace and the host
  end of its veth (the config's ``host_net``, if any: ``attach``) -- all of it
  the instance's own CPU time, not its caller's --, joins that namespace, sets
  up its interface (``address``) and nftables rules, unshares PID, mount, UTS and IPC
  namespaces and forks the init. It forwards SIGTERM to the init and exits
  with it; on SIGHUP it applies the rules file (new security group rules).
- The init is PID 1 of the instance: it mounts the root volume (an overlay over
  ``/`` whose writable layer is the instance's), ``/proc``, ``/dev``, ``/sys``,
  a ``/tmp``, sets the hostname and ``/etc/hosts``, chroots, runs the per-boot
  scripts and, at first boot only, the user data; it logs to the console log,
  reaps every orphan, and on SIGTERM terminates everything and exits.
"""

from __future__ import annotations

import errno
import gc
import marshal
import os
import select
import sys
import time

TYPE_CHECKING = False  # (not typing's: importing typing would cost the launch server)
if TYPE_CHECKING:
    import signal
    from typing import Any
else:
    try:  # (signal's module makes enums of them: enum and what it imports, ~3.5 ms
        import _signal as signal  # of each launcher's CPU)
    except ImportError:
        import signal

# What only a launcher or an init needs is imported where it is used: the launch
# server (``serve``) stays small, and each fork of it costs less (see ``serve``).
# A boot imports neither json nor subprocess (nor what they import: re, enum,
# locale, threading..., ~10 ms of the instance's CPU at each boot): gureum sends
# the config in marshal's format (see ``LaunchServer``), CONFIG.json is written
# by ``json_text`` and commands are started with posix_spawn (``run``, ``spawn``).

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_BIND, MS_REC, MS_PRIVATE, MS_SHARED = 4096, 16384, 1 << 18, 1 << 20
STOP_GRACE = 5.0
DONE_MARKER = "/var/lib/gureum/user-data.done"

class _Library:
    """A C library's functions (the few a launcher calls: libc's mount,
    unshare, setns and sethostname, libnftables'), called through ``_ctypes``
    alone. ctypes' own module (its classes, and the ``types`` and ``_endian``
    it imports) cost each boot more than all the rest of its imports: ``import
    ctypes`` and a function of ``CDLL(None)`` took 4.4-5.9 ms of CPU, this
    0.75-0.82 (medians of 25 fresh interpreters each, load ~6). ``signatures``:
    a function's result and argument types, in ctypes' codes ("i" int, "I"
    32-bit unsigned, "L" unsigned long, "P" a pointer, "z" bytes or None); a
    function not named there takes ints, bytes or None and returns an int, as
    ctypes' do. Raises OSError if the library is not to be had."""

    def __init__(self, name: str | None, signatures: dict[str, tuple[str, str]] | None = None,
                 use_errno: bool = False) -> None:
        import _ctypes

        given: Any = name  # (None: the program and its libraries, libc among them)
        self._handle = _ctypes.dlopen(given, os.RTLD_NOW | os.RTLD_LOCAL)
        self._signatures = signatures or {}
        self._flags = _ctypes.FUNCFLAG_CDECL | (_ctypes.FUNCFLAG_USE_ERRNO if use_errno else 0)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # (not a C function: an attribute not set yet)
            raise AttributeError(name)
        import _ctypes

        result, arguments = self._signatures.get(name, ("i", ""))
        function_type: Any = type(name, (_ctypes.CFuncPtr,),
                                  {"_flags_": self._flags, "_restype_": _c_type(result)})
        function = function_type(_ctypes.dlsym(self._handle, name))
        if arguments:
            function.argtypes = tuple(_c_type(code) for code in arguments)
        setattr(self, name, function)  # (looked up once)
        return function


_C_TYPES: dict[str, Any] = {}


def _c_type(code: str) -> Any:
    """ctypes' simple type of that code (as ``ctypes.c_int`` is of "i")."""
    found = _C_TYPES.get(code)
    if found is None:
        import _ctypes

        found = _C_TYPES[code] = type(f"c_{code}", (_ctypes._SimpleCData,), {"_type_": code})
    return found


_LIBC: list[_Library] = []  # (libc, once loaded: each mount and unshare calls it)


def _libc() -> Any:
    if not _LIBC:
        _LIBC.append(_Library(None, {"mount": ("i", "zzzLz"), "sethostname": ("i", "zL")},
                              use_errno=True))
    return _LIBC[0]


def _check(result: int, what: str) -> None:
    if result != 0:
        import _ctypes

        err = _ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


_NFTABLES: list[Any] = []  # (libnftables once loaded, or None where it is not to be had)


def _nftables() -> Any:
    if not _NFTABLES:
        try:
            lib: Any = _Library("libnftables.so.1", {
                "nft_ctx_new": ("P", "I"), "nft_ctx_free": ("i", "P"),
                "nft_ctx_buffer_output": ("i", "P"), "nft_ctx_buffer_error": ("i", "P"),
                "nft_ctx_get_error_buffer": ("z", "P"),
                "nft_run_cmd_from_buffer": ("i", "Pz")})
        except OSError:
            lib = None
        _NFTABLES.append(lib)
    return _NFTABLES[0]


def nft_apply(rules: bytes) -> None:
    """Apply an nftables ruleset in this process's network namespace.

    With libnftables in this process where the library is (~0.5 ms of CPU, its
    netlink socket closed again at once: nothing of it is left to the instance's
    processes), else with the ``nft`` command (a process to start: ~3.5 ms).
    Each security group change applies every member's rules, so this is paid
    per member per change. Raises OSError with nft's message if refused."""
    lib = _nftables()
    if lib is None:
        import subprocess

        done = subprocess.run(["nft", "-f", "-"], input=rules, capture_output=True)
        if done.returncode != 0:
            raise OSError(done.stderr.decode(errors="replace").strip() or "nft failed")
        return
    ctx = lib.nft_ctx_new(0)
    if not ctx:
        raise OSError("nft: no context")
    try:
        lib.nft_ctx_buffer_output(ctx)  # (nothing is printed: the buffers are dropped)
        lib.nft_ctx_buffer_error(ctx)
        if lib.nft_run_cmd_from_buffer(ctx, rules) != 0:
            said = lib.nft_ctx_get_error_buffer(ctx) or b""
            raise OSError(said.decode(errors="replace").strip() or "nft failed")
    finally:
        lib.nft_ctx_free(ctx)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    _check(_libc().mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {target}")


def log(console: int, message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    os.write(console, f"[{stamp}] gureum-init: {message}\n".encode())


# -- launch -------------------------------------------------------------------


def launch(config_path: str, from_stdin: bool = False) -> None:
    given_ready = os.environ.pop("GUREUM_READY_FD", None)
    if given_ready is not None and from_stdin:
        # Started by the C launch server (launchd.c), already in the instance's
        # cgroups: this process is the launcher.
        become_launcher(config_path, sys.stdin.buffer.read(), True, int(given_ready), None, (),
                        joined=True)
        os._exit(1)
    # Whatever the caller let this process inherit (its sockets, its pipes) must
    # not live on in the instance.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    import json

    if from_stdin:  # the config is given on stdin
        config = expand(json.load(sys.stdin))
    else:
        with open(config_path) as f:
            config = json.load(f)
    ready, _ = start(config_path, config, from_stdin)
    # Return once the init has booted, died, or the wait is over.
    error = said(ready) if select.select([ready], [], [], wait_ready(config))[0] else None
    if error is not None:
        sys.stderr.write(error)
        sys.exit(1)
    os._exit(0)


def expand(config: dict[str, Any]) -> dict[str, Any]:
    """A launch config as gureum sends it, with the parts that follow from the
    instance's directory (``dir``) and network filled in: the files and
    directories it names, its namespace, its address (``net``: see ``address``).
    Derived here, in the launcher (the instance's work), not built and encoded
    by gureum at each launch. A config that names them already (CONFIG.json,
    kept expanded) is left as it is."""
    d = config.get("dir")
    if d is None:
        return config
    for key, path in (("root", "root"), ("upper", "volume/upper"), ("work", "volume/work"),
                      ("console", "console.log"), ("ready", "ready"), ("rules", "rules.nft"),
                      ("reloads", "reloads"), ("pidfile", "launcher.pid")):
        config.setdefault(key, f"{d}/{path}")
    config.setdefault("mkdir", [f"{d}/volume/upper", f"{d}/volume/work", f"{d}/root"])
    config.setdefault("netns", f"/run/netns/gureum-{config['id']}")
    config.setdefault("user_data", f"{d}/user-data" if config.get("user_data_b64") else None)
    if "ip" not in config and "net" not in config:
        config["net"] = [config["address"], int(config.pop("prefix")), config.pop("gateway")]
    return config


def wait_ready(config: dict[str, Any]) -> float:
    return float(config.get("wait_ready") or 0)


def said(ready: int) -> str | None:
    """What a launcher's ready pipe says, once readable: None if the init booted (a
    byte) or died (end of file), or why the launcher failed ("!" and the error)."""
    text = os.read(ready, 4096)
    os.close(ready)
    if text[:1] == b"!":
        return text[1:].decode(errors="replace") or "launch failed"
    return None


def start(config_path: str, config: dict[str, Any] | bytes, new: bool,
          title: list[str] | None = None, reset: tuple[int, ...] = (),
          join: bytes = b"") -> tuple[int, int]:
    """Fork the instance's launcher; return its ready pipe (see ``said``) and pid.

    ``config``: as JSON text, is parsed by the launcher. ``join``: the
    instance's cgroups, as ``join_raw`` reads them, for the launcher to join
    before it does anything else.

    The launcher prepares the instance (``prepare``) before it launches it: that
    work is the instance's (it runs in the instance's cgroups), not its caller's.
    ``title``: the launcher's command line (see ``set_title``); ``reset``:
    signals whose handlers the launcher puts back to the default."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        return ready_r, pid
    try:  # (the fork never returns: whatever happens, it ends here)
        os.close(ready_r)
        become_launcher(config_path, config, new, ready_w, title, reset, join)
    finally:
        os._exit(1)


def become_launcher(config_path: str, given: dict[str, Any] | bytes, new: bool, ready_w: int,
                    title: list[str] | None, reset: tuple[int, ...], join: bytes = b"",
                    joined: bool = False) -> None:
    """``joined``: this process is in the instance's cgroups already."""
    try:
        # First of all, with as little as can be: from then on, what this process
        # does (and every page it copies from its parent) is the instance's.
        if join:
            join_raw(join)
            joined = True
        for signum in reset:
            signal.signal(signum, signal.SIG_DFL)
        gc.enable()
        try:
            config: dict[str, Any] = expand(
                marshal.loads(given) if isinstance(given, bytes) else given)
            if not isinstance(config, dict):
                raise ValueError("not a mapping")
        except (ValueError, EOFError, TypeError, AttributeError) as exc:
            os.write(ready_w, f"!launch failed: its config: {exc}".encode())
            os._exit(1)
        join_cgroups(config, limits_only=joined)
        if title is not None:
            set_title(title)
        prepare(config_path, config, new)
    except BaseException as exc:
        try:
            os.write(ready_w, f"!launch failed: {type(exc).__name__}: {exc}".encode())
        except OSError:
            pass  # (nobody waits any more)
        os._exit(1)
    config["ready_fd"] = ready_w
    os.set_inheritable(ready_w, False)  # (the C server's: none of the instance's commands')
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDWR)
    console = os.open(config["console"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(console, 1)
    os.dup2(console, 2)
    for low, high in zip((2, *sorted((devnull, console, ready_w))),
                         (*sorted((devnull, console, ready_w)), os.sysconf("SC_OPEN_MAX")),
                         strict=True):
        os.closerange(low + 1, high)  # all but these: nothing of whoever forked it
    try:
        launcher(config, console)
    except BaseException as exc:  # the console log is the only place to say why
        log(console, f"launch failed: {exc!r}")
        os._exit(1)
    os._exit(0)


def join_raw(join: bytes) -> None:
    """Make and join the instance's cgroups, one after another: ``join`` is their
    ``cgroup.procs`` files, NUL-separated (as ``LaunchServer`` sends them), the
    CPU accounting one first: from the moment this process is in it, its CPU
    is counted as the instance's. Bytes as they came, read with as little work
    as can be."""
    pid = b"%d" % os.getpid()
    for path in join.split(b"\0") if join else ():
        directory = os.path.dirname(path)
        try:
            os.mkdir(directory)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, pid)
        finally:
            os.close(fd)


def join_cgroups(config: dict[str, Any], limits_only: bool = False) -> None:
    """Make the instance's cgroups, set their limits and move this process into
    them (``limits_only``: made and joined already, by ``join_raw``)."""
    setup = config.get("cgroup_setup") or {}
    if not limits_only:
        for path in setup.get("mkdir", []):
            os.makedirs(path, exist_ok=True)
    for path, value in setup.get("write", []):
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError:
            pass  # a controller this host lacks: no such limit
    if not limits_only:
        pid = str(os.getpid())
        for procs in config["cgroups"]:
            with open(procs, "w") as f:
                f.write(pid)


def prepare(config_path: str, config: dict[str, Any], new: bool) -> None:
    """In the launcher (in its cgroups): its files, its pid in the ``pidfile``.

    ``new``: the config comes from gureum, not from CONFIG.json: make the
    directories it names, write the user data, keep the config as CONFIG.json."""
    text = config.pop("hosts_text", None)  # (not kept in CONFIG.json)
    if new:
        config["config_path"] = config_path
        for path in config.pop("mkdir", []):
            os.makedirs(path, exist_ok=True)
    if text is not None and config.get("hosts"):
        # The instance's hosts file as gureum gave it, unless gureum wrote one
        # since (newer names).
        try:
            fd = os.open(config["hosts"], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass
        else:
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
    if new:
        data = config.pop("user_data_b64", None)
        if data is not None and config.get("user_data"):
            with open(config["user_data"], "wb") as f:
                import base64

                f.write(base64.b64decode(data))
        with open(config["config_path"], "w") as f:
            f.write(json_text(config))
    if config.get("rules") and config.get("nft"):
        # The rules file gureum writes new rules over (made here, not by gureum:
        # creating a file is what costs, and it is the instance's own setup).
        with open(config["rules"], "w") as f:
            f.write("flush ruleset\n" + config["nft"])
    tmp = config["pidfile"] + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, config["pidfile"])


_ESCAPES = {**{c: f"\\u{c:04x}" for c in (*range(0x20), 0x7F)}, 0x22: '\\"', 0x5C: "\\\\",
            0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def json_text(value: Any) -> str:
    """``value`` (None, bools, numbers, strings, lists, dicts with string keys)
    as JSON text, as json.dumps writes it, without importing json (and re)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        text = value.translate(_ESCAPES)
        if not text.isascii():
            text = "".join(c if ord(c) < 0x80 else "".join(
                f"\\u{u:04x}" for u in ((ord(c),) if ord(c) < 0x10000 else (
                    0xD800 + ((ord(c) - 0x10000) >> 10), 0xDC00 + ((ord(c) - 0x10000) & 0x3FF))))
                for c in text)
        return f'"{text}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json_text(str(k))}: {json_text(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(f"not JSON: {type(value).__name__}")


def title_room() -> int:
    """Bytes this process's command line may take (see ``set_title``)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[46]) - int(fields[45])  # arg_end - arg_start
    except (OSError, IndexError, ValueError):
        return 0


def set_title(args: list[str]) -> bool:
    """Rewrite this process's command line (as ``ps`` and /proc/PID/cmdline show
    it) in place, within the room its original arguments took; False if it does
    not fit. Forks inherit it."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        begin, end = int(fields[45]), int(fields[46])  # arg_start, arg_end
    except (OSError, IndexError, ValueError):
        return False
    title = b"\0".join(a.encode() for a in args)
    if end <= begin or len(title) >= end - begin:
        return False
    try:  # (through /proc: no ctypes in the launch server)
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(begin)
            mem.write(title.ljust(end - begin, b"\0"))
    except OSError:
        return False
    return True


# A request to ``serve``: a head of HEAD bytes, ``ID WAIT JOIN PATH CONFIG`` (the
# request's number, seconds to wait for the boot, then the lengths of the three
# parts that follow, space-separated, padded with spaces, ending in a newline),
# then the cgroups to join (see ``join_raw``), CONFIG.json's path and the config.
HEAD = 64


def read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``; None at its end."""
    data = b""
    while len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            return None
        data += more
    return data


def serve() -> None:
    """``guest.py serve``: launch instances on request, each launcher a fork of
    this process (no interpreter to start per launch), known by the command line
    ``launch CONFIG.json -`` would give it. A request (see ``HEAD``) is read on
    stdin: this process reads its head and forks; the fork reads the rest, says
    so, joins the instance's cgroups and parses the config. The answer is one
    line on stdout, ``{"id": N, "error": null or "why", "pid": the launcher's}``,
    once that instance has booted, failed, or the request's wait is over.

    This process does as little as it can between forks: each page it writes
    while its launchers share it is copied (a fork shares them all), so a config
    read, split and freed here cost ~50 page copies per launch, and a launch
    about 0.8 ms of its CPU more. Launchers are reaped here when they end; this
    process exits at the end of its input (gureum stopped or was killed), and
    its launchers go on (the host's init adopts them)."""
    def reap_children(signum: int, frame: object) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def answer(number: int, error: str | None, pid: int | None = None) -> None:
        # (one write under PIPE_BUF: never interleaved with another)
        if error is None:
            os.write(1, b'{"id": %d, "error": null, "pid": %s}\n'
                     % (number, b"null" if pid is None else b"%d" % pid))
        else:
            os.write(1, (json_text({"id": number, "error": error[:2000], "pid": None})
                         + "\n").encode())

    script = os.path.abspath(sys.argv[0])
    python = sys.executable or "python3"
    room = title_room()
    set_title([python, script, "serve"])
    # Its pages stay shared with the launchers it forks: no collection writes to them.
    gc.disable()
    gc.freeze()
    signal.signal(signal.SIGCHLD, reap_children)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # gureum's ^C: gureum says when to stop
    reset = (signal.SIGCHLD, signal.SIGINT)
    told_r, told_w = os.pipe()  # a fork says here that it has read its request
    # ready pipe -> (request id, deadline, launcher pid)
    waiting: dict[int, tuple[int, float, int]] = {}
    while True:
        timeout = (max(0.0, min(d for _, d, _ in waiting.values()) - time.monotonic())
                   if waiting else None)
        readable = select.select([0, *waiting], [], [], timeout)[0]
        for fd in readable:
            if fd != 0:
                number, _, pid = waiting.pop(fd)
                error = said(fd)
                answer(number, error, None if error else pid)
                continue
            head = read_exactly(0, HEAD)
            if head is None:
                return
            try:
                fields = head.split()
                number, wait = int(fields[0]), float(fields[1])
                sizes = (int(fields[2]), int(fields[3]), int(fields[4]))
            except (ValueError, IndexError):
                return  # not a request: nothing after it can be read right
            ready_r, ready_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(ready_r)
                    body = read_exactly(0, sum(sizes))
                    os.write(told_w, b".")
                    if body is None:
                        os._exit(1)
                    join, path = body[:sizes[0]], body[sizes[0]:sizes[0] + sizes[1]]
                    config_path = path.decode()
                    title = [python, script, "launch", config_path, "-"]
                    if len(b"\0".join(t.encode() for t in title)) >= room:
                        os.write(ready_w, b"!no room for the launcher's command line")
                        os._exit(1)
                    become_launcher(config_path, body[sizes[0] + sizes[1]:], True, ready_w,
                                    title, reset, join)
                finally:
                    os._exit(1)
            os.close(ready_w)
            # The next request is read once this one's fork has read its own.
            if told_r not in select.select([told_r, ready_r], [], [])[0]:
                answer(number, said(ready_r) or "launch failed: the launcher ended")
                return  # (it ended before reading its request: where the next begins is lost)
            os.read(told_r, 1)
            waiting[ready_r] = (number, time.monotonic() + wait, pid)
        now = time.monotonic()
        for fd, (number, deadline, pid) in list(waiting.items()):
            if deadline <= now and fd not in readable:
                del waiting[fd]
                os.close(fd)
                answer(number, None, pid)


def run(argv: list[str], data: bytes, capture: bool = False) -> tuple[int, bytes]:
    """Run ``argv`` (looked for on PATH) with ``data`` on its stdin; its exit
    code and, if ``capture``, its output and errors (else they go to this
    process's). With posix_spawn: no subprocess to import (see above)."""
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe() if capture else (-1, -1)
    actions = [(os.POSIX_SPAWN_DUP2, stdin_r, 0)]
    if capture:
        actions += [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, out_w, 2)]
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions,
                              setsigdef=(signal.SIGPIPE,))
    finally:
        os.close(stdin_r)
        if capture:
            os.close(out_w)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(stdin_w, view):]
    except BrokenPipeError:
        pass  # (it ended without reading it all: its exit code says how)
    finally:
        os.close(stdin_w)
    output = b""
    if capture:
        try:
            while more := os.read(out_r, 65536):
                output += more
        finally:
            os.close(out_r)
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status), output
        except InterruptedError:
            continue


def launcher(config: dict[str, Any], console: int) -> None:
    if config.get("host_net"):  # the namespace and the host end of its veth
        try:
            attach(config["netns"], *config["host_net"])
        except OSError as exc:
            os.write(config["ready_fd"], b"!" + str(exc).encode()[:4000])
            raise
    else:
        if config.get("host_ip"):  # (from an older gureum: its ip commands)
            code, said = run(["ip", "-batch", "-"], config["host_ip"].encode(), capture=True)
            if code != 0:
                os.write(config["ready_fd"], b"!" + said.strip()[:4000])
                raise OSError(said.decode(errors="replace").strip())
        fd = os.open(config["netns"], os.O_RDONLY)
        _check(_libc().setns(fd, CLONE_NEWNET), "setns")
        os.close(fd)
    try:  # announce the address when eth0 comes up: a host that asked for it
        # before the instance was there (or knew an old instance's MAC for it)
        # learns it at once, not at its next ARP try a second later.
        with open("/proc/sys/net/ipv4/conf/eth0/arp_notify", "w") as f:
            f.write("1")
    except OSError:
        pass
    if config.get("net"):
        address(*config["net"])
    else:  # (a config kept by an older gureum: its ``ip`` commands)
        code, _ = run(["ip", "-batch", "-"], "\n".join(config["ip"]).encode())
        if code != 0:
            raise OSError(f"ip -batch: exit code {code}")
    if config.get("nft"):
        nft_apply(config["nft"].encode())
    _check(_libc().unshare(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC), "unshare")
    child = os.fork()
    if child == 0:
        try:
            init(config, console)
        except BaseException as exc:
            log(console, f"init failed: {exc!r}")
            os._exit(1)
        os._exit(0)
    os.close(config["ready_fd"])  # the init holds it: its end says it died

    def forward(signum: int, frame: object) -> None:
        try:
            os.kill(child, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def reload(signum: int, frame: object) -> None:
        # New security group rules for the instance (written by gureum before SIGHUP).
        try:
            with open(config["rules"], "rb") as f:
                rules = f.read()
        except (KeyError, OSError):
            return
        try:
            nft_apply(rules)
        except OSError as exc:
            log(console, f"security group rules not applied: {exc}")

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, reload)
    if config.get("reloads"):  # says that SIGHUP is now safe to send
        with open(config["reloads"], "w") as f:
            f.write("nft\n")
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            status = 0
            break
    os._exit(os.waitstatus_to_exitcode(status) if status else 0)


# rtnetlink (linux/rtnetlink.h, if_link.h, veth.h, neighbour.h): the messages
# ``address`` and ``attach`` send.
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_DELNEIGH, NLMSG_ERROR = 16, 20, 24, 29, 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 1, 4, 0x200, 0x400
IFA_ADDRESS, IFA_LOCAL, RTA_GATEWAY, NDA_DST = 1, 2, 5, 1
IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1


def address(local: str, prefix: int, gateway: str) -> None:
    """In the instance's network namespace: ``lo`` and ``eth0`` up, ``eth0``
    addressed ``local/prefix``, the default route via ``gateway``; what ``ip
    link set lo up; addr add; link set eth0 up; route add default via`` do, as
    four rtnetlink requests from this process (an ``ip`` process to start was
    ~1.2 ms of each boot's CPU). Raises OSError with the kernel's errno if one
    is refused."""
    import _socket
    from struct import pack

    up = pack("=BxHiII", _socket.AF_UNSPEC, 0, 0, 1, 1)  # ifinfomsg: IFF_UP set
    eth0 = _socket.if_nametoindex("eth0")
    local_raw, gateway_raw = _socket.inet_aton(local), _socket.inet_aton(gateway)
    create = NLM_F_CREATE | NLM_F_EXCL
    rtnetlink((
        (RTM_NEWLINK, 0, up[:4] + pack("=i", _socket.if_nametoindex("lo")) + up[8:], "lo up"),
        (RTM_NEWADDR, create, pack("=BBBBI", _socket.AF_INET, prefix, 0, 0, eth0)
         + _attr(IFA_LOCAL, local_raw) + _attr(IFA_ADDRESS, local_raw),
         f"address {local}/{prefix}"),
        (RTM_NEWLINK, 0, up[:4] + pack("=i", eth0) + up[8:], "eth0 up"),
        # rtmsg: main table, by boot, universe scope, unicast
        (RTM_NEWROUTE, create, pack("=BBBBBBBBI", _socket.AF_INET, 0, 0, 0, 254, 3, 0, 1, 0)
         + _attr(RTA_GATEWAY, gateway_raw), f"default route via {gateway}"),
    ))


def attach(netns: str, veth: str, bridge: str, address: str) -> None:
    """On the host, ending in the instance's new network namespace: what ``ip
    netns add NS; link add VETH type veth peer name eth0 netns NS; link set
    VETH master BRIDGE; link set VETH up; neigh flush to ADDRESS`` did (an
    ``ip`` process to start, ~2 ms of each boot's CPU): the namespace is made
    by this process's unshare and bound at ``netns`` as ``ip netns add`` binds
    it (``/run/netns`` a shared mount), the veth made by one rtnetlink request
    over a socket opened in the host's namespace before, with its peer in the
    new one. The host forgets ``address``'s neighbour entry (see
    ``NamespaceDriver._attach``). Raises OSError if a step fails."""
    import _socket
    from struct import pack

    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, 0)  # (the host's)
    try:
        master = _socket.if_nametoindex(bridge)
        run_dir = os.path.dirname(netns)
        os.makedirs(run_dir, mode=0o755, exist_ok=True)
        made = False
        while True:  # (as ip: mounts made in /run/netns reach every mount namespace)
            try:
                mount("", run_dir, "none", MS_SHARED | MS_REC)
                break
            except OSError as exc:
                if exc.errno != errno.EINVAL or made:
                    raise
            mount(run_dir, run_dir, "none", MS_BIND | MS_REC)
            made = True
        os.close(os.open(netns, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
        try:
            _check(_libc().unshare(CLONE_NEWNET), "unshare")
            mount("/proc/self/ns/net", netns, "none", MS_BIND)
        except BaseException:
            os.unlink(netns)
            raise
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            peer = (pack("=BxHiII", 0, 0, 0, 0, 0) + _attr(IFLA_IFNAME, b"eth0\0")
                    + _attr(IFLA_NET_NS_FD, pack("=I", own)))
            info = (_attr(IFLA_INFO_KIND, b"veth\0")
                    + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer)))
            rtnetlink((
                (RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                 pack("=BxHiII", _socket.AF_UNSPEC, 0, 0, 1, 1)  # IFF_UP
                 + _attr(IFLA_IFNAME, veth.encode() + b"\0")
                 + _attr(IFLA_MASTER, pack("=I", master)) + _attr(IFLA_LINKINFO, info),
                 f"veth {veth}"),
                (RTM_DELNEIGH, 0, pack("=BBHiHBB", _socket.AF_INET, 0, 0, master, 0, 0, 0)
                 + _attr(NDA_DST, _socket.inet_aton(address)), f"neighbour {address}"),
            ), sock, ignore=(errno.ENOENT,))
        finally:
            os.close(own)
    finally:
        sock.close()


def _attr(kind: int, value: bytes) -> bytes:
    """An rtnetlink attribute (padded to 4 bytes)."""
    size = 4 + len(value)
    return (size | kind << 16).to_bytes(4, sys.byteorder) + value + bytes(-size % 4)


def rtnetlink(requests: tuple[tuple[int, int, bytes, str], ...], sock: Any = None,
              ignore: tuple[int, ...] = ()) -> None:
    """Send each request (its type, flags beyond REQUEST and ACK, body, what it
    does) and read its answer; OSError with the kernel's errno for the first
    refused (but errors in ``ignore``). ``sock``: an rtnetlink socket to use (else one
    opened in this process's network namespace)."""
    import _socket
    from struct import pack, unpack_from

    own = sock is None
    if own:
        sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, 0)  # NETLINK_ROUTE
    try:
        for seq, (kind, flags, body, what) in enumerate(requests, 1):
            sock.send(pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                           seq, 0) + body)
            answer = sock.recv(8192)
            _, answer_kind, _, answer_seq, _ = unpack_from("=IHHII", answer)
            if answer_seq != seq or answer_kind != NLMSG_ERROR:
                raise OSError(f"{what}: an unexpected rtnetlink answer ({answer_kind})")
            error = -unpack_from("=i", answer, 16)[0]
            if error and error not in ignore:
                raise OSError(error, f"{what}: {os.strerror(error)}")
    finally:
        if own:
            sock.close()


# -- init ---------------------------------------------------------------------


def setup_root(config: dict[str, Any]) -> None:
    root = config["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    options = f"lowerdir=/,upperdir={config['upper']},workdir={config['work']}"
    mount("overlay", root, "overlay", 0, options)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("/dev", root + "/dev", None, MS_BIND | MS_REC)
    mount("sysfs", root + "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for tmp in ("/tmp", "/run"):
        mount("tmpfs", root + tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for hidden in config.get("hide", []):
        if os.path.isdir(root + hidden):
            mount("tmpfs", root + hidden, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=4k")
    hostname, fqdn = config["hostname"], config["fqdn"]
    name = hostname.encode()  # (libc is loaded: socket's module would import enum)
    _check(_libc().sethostname(name, len(name)), "sethostname")
    with open(root + "/etc/hostname", "w") as f:
        f.write(hostname + "\n")
    # gureum keeps the instance's hosts file (its own lines and gureum's names)
    # current on the host, in place: bound here, the instance sees each change.
    hosts = config.get("hosts")
    try:
        if not hosts:
            raise OSError("no hosts file from gureum")
        mount(hosts, root + "/etc/hosts", None, MS_BIND)
    except OSError:
        with open(root + "/etc/hosts", "w") as f:
            f.write(f"127.0.0.1 localhost\n{config['address']} {fqdn} {hostname}\n"
                    "::1 localhost ip6-localhost ip6-loopback\n")
    os.chroot(root)
    os.chdir("/")


def spawn(argv: list[str], console: int) -> int:
    """Start ``argv`` (a path) in a session of its own, from /, its input
    /dev/null and its output the console log."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
    os.chdir("/")
    null = os.open("/dev/null", os.O_RDONLY)
    try:
        # (only 0, 1 and 2 are inherited: every other descriptor is close-on-exec)
        return os.posix_spawn(argv[0], argv, env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, console, 1),
            (os.POSIX_SPAWN_DUP2, console, 2)],
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    finally:
        os.close(null)


def user_data_argv(data: bytes, console: int) -> list[str] | None:
    """How to run the user data: a ``#!`` script, or a cloud-config subset."""
    os.makedirs("/var/lib/cloud/instance", exist_ok=True)
    if data.startswith(b"#!"):
        path = "/var/lib/cloud/instance/user-data.txt"
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o700)
        return [path]
    if data.startswith(b"#cloud-config"):
        return cloud_config(data, console)
    log(console, "user data is neither a #! script nor #cloud-config: not run")
    return None


def cloud_config(data: bytes, console: int) -> list[str] | None:
    if sys.flags.no_site:  # (the launch server runs without: yaml may be a site package)
        import site

        site.main()
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        log(console, "cloud-config needs python3-yaml in the image: not run")
        return None
    doc = yaml.safe_load(data) or {}
    for item in doc.get("write_files") or []:
        path = item["path"]
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "a" if item.get("append") else "w") as f:
            f.write(item.get("content", ""))
        os.chmod(path, int(str(item.get("permissions", "0644")), 8))
        log(console, f"cloud-config: wrote {path}")
    if doc.get("packages"):
        log(console, f"cloud-config: packages {doc['packages']} unsupported by this image")
    lines = ["#!/bin/sh", "set -e"]
    for cmd in doc.get("runcmd") or []:
        if isinstance(cmd, list):
            lines.append(" ".join("'" + str(a).replace("'", "'\\''") + "'" for a in cmd))
        else:
            lines.append(str(cmd))
    path = "/var/lib/cloud/instance/runcmd"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o700)
    return [path]


SSHD = "/usr/sbin/sshd"
SSH_DIR = "/etc/ssh/gureum"
SSHD_CONFIG = f"""Port 22
HostKey {SSH_DIR}/ssh_host_ed25519_key
HostKey {SSH_DIR}/ssh_host_rsa_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
PidFile /run/sshd.pid
Subsystem sftp internal-sftp
"""
SSHD_SCRIPT = f"""#!/bin/sh
# The instance's own host keys (made at first boot, kept on its root volume).
for kind in ed25519 rsa; do
  [ -f {SSH_DIR}/ssh_host_${{kind}}_key ] ||
    ssh-keygen -q -t $kind -N '' -C "$(hostname)" -f {SSH_DIR}/ssh_host_${{kind}}_key
done
mkdir -p /run/sshd && chmod 0755 /run/sshd
exec {SSHD} -D -e -f {SSH_DIR}/sshd_config
"""


def authorize(keys: str, user: str, console: int) -> None:
    """Install the key pair's public key for root and ``user`` (made if missing,
    with no password: key logins only)."""
    import pwd
    import subprocess

    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", "-p", "*", user],
                       stdout=console, stderr=console, check=False)
    for name in dict.fromkeys(["root", user]):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        ssh = os.path.join(entry.pw_dir, ".ssh")
        os.makedirs(ssh, mode=0o700, exist_ok=True)
        path = os.path.join(ssh, "authorized_keys")
        with open(path, "w") as f:
            f.write(keys.strip() + "\n")
        os.chmod(path, 0o600)
        for p in (entry.pw_dir, ssh, path):
            if p != "/root" or name == "root":
                os.chown(p, entry.pw_uid, entry.pw_gid)


def start_sshd(config: dict[str, Any], console: int) -> None:
    """Where the image has sshd and the instance a key pair: sshd on port 22."""
    keys = config.get("authorized_keys")
    if not keys:
        return
    if not os.path.exists(SSHD):
        log(console, "a key pair was given, but this image has no sshd")
        return
    authorize(keys, config.get("login_user") or "ec2-user", console)
    os.makedirs(SSH_DIR, mode=0o700, exist_ok=True)
    with open(f"{SSH_DIR}/sshd_config", "w") as f:
        f.write(SSHD_CONFIG)
    with open(f"{SSH_DIR}/start", "w") as f:
        f.write(SSHD_SCRIPT)
    os.chmod(f"{SSH_DIR}/start", 0o700)
    log(console, "starting sshd")
    spawn([f"{SSH_DIR}/start"], console)


def boot(config: dict[str, Any], console: int, user_data: bytes | None) -> None:
    log(console, f"booting {config['id']} as {config['hostname']} ({config['address']})")
    start_sshd(config, console)
    scripts = ["/etc/rc.local"]
    per_boot = "/var/lib/cloud/scripts/per-boot"
    if os.path.isdir(per_boot):
        scripts += [os.path.join(per_boot, n) for n in sorted(os.listdir(per_boot))]
    for script in scripts:
        if os.path.isfile(script) and os.access(script, os.X_OK):
            log(console, f"running {script}")
            spawn([script], console)
    # Per instance, as cloud-init: an instance launched from an image made of
    # another instance runs its own user data. (The older shared marker still
    # counts for volumes without image layers, made before this.)
    marker = f"/var/lib/cloud/instances/{config['id']}/sem/user-data.done"
    legacy = not config.get("from_image") and os.path.exists(DONE_MARKER)
    if user_data and not os.path.exists(marker) and not legacy:
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "w") as f:
            f.write(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + "\n")
        argv = user_data_argv(user_data, console)
        if argv:
            log(console, "running user data")
            spawn(argv, console)
    log(console, "boot finished")


def reap() -> bool:
    """Reap every exited child; False once there are no children left."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def init(config: dict[str, Any], console: int) -> None:
    user_data = None
    if config.get("user_data") and os.path.exists(config["user_data"]):
        with open(config["user_data"], "rb") as f:
            user_data = f.read()
    ready = os.open(config["ready"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    stop = False
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.set_wakeup_fd(wfd)

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    setup_root(config)
    boot(config, console, user_data)
    os.write(ready, b"%d\n" % time.time_ns())
    os.close(ready)
    if config.get("ready_fd") is not None:
        try:
            os.write(config["ready_fd"], b"1")
        except OSError:
            pass  # (whoever launched it stopped waiting: a boot slower than wait_ready)
        os.close(config["ready_fd"])
    while not stop:
        select.select([rfd], [], [], 5.0)
        try:
            os.read(rfd, 512)
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                raise
        reap()
    log(console, "stopping: terminating every process")
    for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 2.0)):
        try:
            os.kill(-1, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + grace
        while reap() and time.monotonic() < deadline:
            time.sleep(0.02)
    log(console, "stopped")


def main(argv: list[str]) -> int:
    if argv[1:2] == ["serve"] and len(argv) <= 3:  # (a third argument: room for titles)
        serve()
        return 0
    if len(argv) not in (3, 4) or argv[1] != "launch" or argv[3:] not in ([], ["-"]):
        print("usage: guest.py launch CONFIG.json [-] | guest.py serve [ROOM]",
              file=sys.stderr)
        return 2
    launch(argv[2], from_stdin=argv[3:] == ["-"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
