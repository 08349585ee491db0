"""The ``gureum`` command: ``up``, ``status``, ``down``, ``env`` and ``aws``.

Only ``up`` imports the server (aiohttp, botocore models, the store); the other
commands use the standard library alone so that they answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from gureum import __version__
from gureum.config import Settings

if TYPE_CHECKING:
    from gureum.server import Cloud

# Written by the running server (gureum.server.STATE_FILE); read here without
# importing the server, which would cost a third of a second per command.
STATE_FILE = "gureum.json"
LOG_FILE = "gureum.log"

DETACH_DEADLINE = 20.0
DOWN_DEADLINE = 20.0
HTTP_TIMEOUT = 2.0

# Set in the environment of the server `gureum up --detach` starts.
_DETACHED_ENV = "_GUREUM_DETACHED"

# The variables an AWS CLI/SDK reads that would make it talk to something else.
_CONFLICTING_ENV = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class CliError(Exception):
    """Something to tell the user in one line, then exit with ``code``."""

    def __init__(self, message: str, code: int = 1, prefix: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.prefix = prefix


# ---------------------------------------------------------------------------
# helpers


def _settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Settings:
    try:
        settings = Settings.load(
            environ,
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            data_dir=getattr(args, "data_dir", None),
            region=getattr(args, "region", None),
            strict_credentials=True if getattr(args, "strict_credentials", False) else None,
            log_level=getattr(args, "log_level", None),
        )
    except ValueError as exc:  # e.g. GUREUM_PORT=abc
        raise CliError(f"invalid setting in the environment: {exc}") from None
    if not 1 <= settings.port <= 65535:
        raise CliError(f"a port is between 1 and 65535, not {settings.port}")
    return settings


def _read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _local_url(host: str, port: int) -> str:
    """The URL this machine reaches a server listening on host:port at."""
    if host in {"0.0.0.0", "localhost", ""}:
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class Target:
    """Where a gureum is (or would be): its URL, public endpoint and pid."""

    def __init__(self, url: str, endpoint: str, pid: int | None, data_dir: Path | None) -> None:
        self.url = url.rstrip("/")
        self.endpoint = endpoint
        self.pid = pid
        self.data_dir = data_dir


def _target(args: argparse.Namespace, settings: Settings) -> Target:
    endpoint_flag: str | None = getattr(args, "endpoint", None)
    if endpoint_flag:
        return Target(endpoint_flag, endpoint_flag.rstrip("/"), None, None)
    state = _read_state(settings.data_dir)
    if state is not None and "port" in state:
        host = str(state.get("host", settings.host))
        port = int(state["port"])
        pid = state.get("pid")
        return Target(
            _local_url(host, port),
            str(state.get("endpoint", _local_url(host, port))),
            int(pid) if isinstance(pid, int) else None,
            settings.data_dir,
        )
    return Target(
        _local_url(settings.host, settings.port), settings.endpoint, None, settings.data_dir
    )


def _http(method: str, url: str, timeout: float = HTTP_TIMEOUT) -> tuple[int, Any]:
    """One request without proxies; (status, parsed JSON or None). Raises OSError."""
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def _health(url: str, timeout: float = HTTP_TIMEOUT) -> dict[str, Any] | None:
    try:
        status, body = _http("GET", f"{url}/_gureum/health", timeout)
    except (OSError, ValueError):
        return None
    return body if status == 200 and isinstance(body, dict) else None


def _alive(pid: int) -> bool:
    """Whether pid is a live process (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_gone(pid: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _aws_env(settings: Settings, endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": settings.access_key,
        "AWS_SECRET_ACCESS_KEY": settings.secret_key,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
    }


def _banner(settings: Settings, endpoint: str, pid: int, detached: bool) -> str:
    lines = [
        f"gureum {__version__} is running (pid {pid})",
        f"  endpoint     {endpoint}",
        f"  region       {settings.region}",
        f"  access key   {settings.access_key}",
        f"  secret key   {settings.secret_key}",
        f"  account      {settings.default_account}",
        f"  data dir     {settings.data_dir}",
        "",
        f'Point the AWS CLI and SDKs at it:  eval "$(gureum env{_env_flags(settings)})"',
    ]
    if detached:
        lines.append(
            f"Logs: {settings.data_dir / LOG_FILE}    Stop it: gureum down{_env_flags(settings)}"
        )
    else:
        lines.append(f"Stop it with Ctrl-C or gureum down{_env_flags(settings)}.")
    return "\n".join(lines)


def _env_flags(settings: Settings) -> str:
    """The flags ``gureum env`` needs to find this gureum (its data dir holds the port)."""
    if settings.data_dir.absolute() == Settings.load().data_dir.absolute():
        return ""
    return f" --data-dir {shlex.quote(str(settings.data_dir))}"


def _format_uptime(seconds: float) -> str:
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{seconds:.1f}s"


def _running_elsewhere(settings: Settings) -> str | None:
    """A message if a gureum already serves this data dir, else None."""
    state = _read_state(settings.data_dir)
    if state is None:
        return None
    pid = state.get("pid")
    if not isinstance(pid, int) or pid == os.getpid() or not _alive(pid):
        return None
    url = _local_url(str(state.get("host", settings.host)), int(state.get("port", 0)))
    health = _health(url)
    if health is None or health.get("pid") != pid:
        return None
    return (
        f"already running at {state.get('endpoint', url)} (pid {pid}) "
        f"with the data directory {settings.data_dir}; stop it with gureum down"
    )


# ---------------------------------------------------------------------------
# up


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    try:
        root.setLevel(level.upper())
    except ValueError as exc:
        raise CliError(f"unknown log level {level!r}") from exc
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def cmd_up(args: argparse.Namespace) -> int:
    settings = _settings(args)
    already = _running_elsewhere(settings)
    if already is not None:
        raise CliError(already)
    if args.detach:
        return _up_detached(args, settings)
    _configure_logging(settings.log_level)

    from gureum.server import StartupError, serve

    def on_ready(cloud: Cloud) -> None:
        detached = os.environ.get(_DETACHED_ENV) == "1"
        print(_banner(settings, settings.endpoint, os.getpid(), detached), flush=True)

    try:
        serve(settings, on_ready=on_ready)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 130
    return 0


def _child_argv(args: argparse.Namespace, settings: Settings) -> list[str]:
    argv = [sys.executable, "-m", "gureum", "up"]
    argv += ["--host", settings.host, "--port", str(settings.port)]
    argv += ["--data-dir", str(settings.data_dir.absolute())]
    argv += ["--region", settings.region, "--log-level", settings.log_level]
    if settings.strict_credentials:
        argv.append("--strict-credentials")
    return argv


def _up_detached(args: argparse.Namespace, settings: Settings) -> int:
    log_path = settings.data_dir / LOG_FILE
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        log = log_path.open("ab")
    except OSError as exc:
        raise CliError(
            f"the data directory {settings.data_dir} is unusable: {exc.strerror or exc}"
        ) from None
    with log:
        offset = log.tell()
        child = subprocess.Popen(
            _child_argv(args, settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, _DETACHED_ENV: "1"},
        )
    url = _local_url(settings.host, settings.port)
    deadline = time.monotonic() + DETACH_DEADLINE
    while True:
        code = child.poll()
        if code is not None:
            _report_child_failure(log_path, offset, code)
            return 1
        health = _health(url, timeout=1.0)
        if health is not None and health.get("pid") == child.pid:
            break
        if time.monotonic() > deadline:
            child.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(5)
            raise CliError(
                f"gureum did not answer at {settings.endpoint} within {DETACH_DEADLINE:.0f} s;"
                f" see {log_path}"
            )
        time.sleep(0.05)
    print(_banner(settings, settings.endpoint, child.pid, detached=True), flush=True)
    return 0


def _report_child_failure(log_path: Path, offset: int, code: int) -> None:
    try:
        with log_path.open("rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        text = ""
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and lines[-1].startswith("gureum: "):
        print(lines[-1], file=sys.stderr)  # the server's own one-line reason
        return
    print(f"gureum: the server exited with code {code}; the end of {log_path}:", file=sys.stderr)
    for line in lines[-20:]:
        print(f"  {line}", file=sys.stderr)


# ---------------------------------------------------------------------------
# status, down


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    target = _target(args, settings)
    health = _health(target.url)
    if health is None:
        if args.json:
            print(json.dumps({"status": "stopped", "endpoint": target.endpoint}))
        raise CliError(
            f"gureum is not running (nothing answers at {target.endpoint})", prefix=False
        )
    if args.json:
        print(json.dumps(health, indent=2, sort_keys=True))
        return 0
    services: dict[str, str] = health.get("services") or {}
    counts: dict[str, int] = {}
    for state in services.values():
        counts[state] = counts.get(state, 0) + 1
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    out = [
        f"gureum {health.get('version', '?')} is {health.get('status', 'running')}",
        f"  endpoint   {health.get('endpoint', target.endpoint)}",
        f"  region     {health.get('region', '?')}",
        f"  pid        {health.get('pid', '?')}",
        f"  uptime     {_format_uptime(float(health.get('uptime', 0.0)))}",
    ]
    if target.data_dir is not None:
        out.append(f"  data dir   {target.data_dir}")
    out.append(f"  services   ({summary})" if summary else "  services   (none)")
    width = max((len(name) for name in services), default=0)
    out += [f"    {name:<{width}}  {state}" for name, state in sorted(services.items())]
    print("\n".join(out))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    settings = _settings(args)
    target = _target(args, settings)
    health = _health(target.url)
    pid = target.pid
    if health is not None and isinstance(health.get("pid"), int):
        pid = int(health["pid"])
    if health is None and (pid is None or not _alive(pid)):
        if getattr(args, "purge", False):
            _purge(settings.data_dir)
            return 0
        raise CliError(
            f"gureum is not running (nothing answers at {target.endpoint})", prefix=False
        )
    deadline = time.monotonic() + DOWN_DEADLINE
    asked = False
    if health is not None:
        try:
            status, _ = _http("POST", f"{target.url}/_gureum/shutdown")
            asked = status == 200
        except OSError:
            asked = False
    if pid is None:
        # Only an --endpoint was given: wait for it to stop answering.
        while time.monotonic() < deadline and _health(target.url, timeout=0.5) is not None:
            time.sleep(0.1)
        if _health(target.url, timeout=0.5) is not None:
            raise CliError(f"gureum at {target.endpoint} did not stop")
        print(f"gureum at {target.endpoint} stopped")
        return 0
    if not asked and _alive(pid):  # e.g. listening on a non-loopback address
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, deadline):
        raise CliError(
            f"gureum (pid {pid}) did not stop within {DOWN_DEADLINE:.0f} s; kill it with kill {pid}"
        )
    print(f"gureum (pid {pid}) stopped")
    if getattr(args, "purge", False):
        _purge(settings.data_dir)
    return 0


def _live_guests(data_dir: Path) -> list[str]:
    guests = data_dir / "ec2" / "guests"
    live = []
    for pidfile in guests.glob("*/launcher.pid") if guests.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            if _alive(int(pidfile.read_text())):
                live.append(pidfile.parent.name)
    return live


def _purge(data_dir: Path) -> None:
    """Delete the data dir of a stopped gureum, with what it claimed on the host."""
    live = _live_guests(data_dir)
    if live:
        raise CliError(
            f"instances still run from {data_dir} ({', '.join(live)}); start gureum and run "
            "gureum down --purge to stop them first"
        )
    state = data_dir / "ec2"
    if (state / "network.json").exists():
        from gureum.drivers import hostfw
        from gureum.drivers.compute import hostnet

        hostnet.drop_unused_bridges(state)
        hostfw.drop(hostnet.choose(state).cidr)  # (databases' and caches' filter)
        hostnet.release(state, hostnet.choose(state))
    shutil.rmtree(data_dir, ignore_errors=True)
    from gureum.drivers import sockdir

    sockdir.sweep()  # short links to its engines' and proxies' socket directories
    print(f"deleted {data_dir}")


def cmd_ssh(args: argparse.Namespace) -> int:
    """A root shell inside an instance: enter the namespaces of its init."""
    settings = _settings(args)
    launcher = settings.data_dir / "ec2" / "guests" / args.instance_id / "launcher.pid"
    try:
        pid = int(launcher.read_text())
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, ValueError):
        children = []
    if not children:
        raise CliError(f"instance {args.instance_id} is not running here")
    command = args.command or ["/bin/bash", "-l"]
    nsenter = shutil.which("nsenter") or "nsenter"
    argv = [nsenter, "-t", children[0], "-m", "-u", "-i", "-n", "-p", "-r", "-w", *command]
    os.execv(nsenter, argv)


# ---------------------------------------------------------------------------
# env, aws


def cmd_env(args: argparse.Namespace) -> int:
    settings = _settings(args)
    target = _target(args, settings)
    for name, value in _aws_env(settings, target.endpoint).items():
        print(f"export {name}={shlex.quote(value)}")
    print(f"unset {' '.join(_CONFLICTING_ENV)}")
    return 0


def cmd_bill(args: argparse.Namespace) -> int:
    """Month-to-date cost by service, top resources, forecast and budgets."""
    settings = _settings(args)
    target = _target(args, settings)
    if _health(target.url) is None:
        raise CliError(
            f"gureum is not running (nothing answers at {target.endpoint})", prefix=False
        )
    from gureum.bill import report

    print(report(target.url, settings.access_key, settings.secret_key, top=args.top))
    return 0


def find_aws() -> str | None:
    """The ``aws`` next to this Python first (the venv's), then on PATH."""
    here = Path(sys.executable).parent
    for name in ("aws", "aws.cmd", "aws.exe"):
        candidate = here / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("aws")


def run_aws(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> int:
    settings = _settings(argparse.Namespace(), environ)
    target = _target(argparse.Namespace(), settings)
    aws = find_aws()
    if aws is None:
        raise CliError("the AWS CLI is not installed; install it with pip install 'gureum[cli]'")
    env = dict(os.environ if environ is None else environ)
    for name in _CONFLICTING_ENV:
        env.pop(name, None)
    env.update(_aws_env(settings, target.endpoint))
    command = [aws, *argv]
    if not any(a == "--endpoint-url" or a.startswith("--endpoint-url=") for a in argv):
        # Some AWS CLI v1 commands (rds among them) ignore AWS_ENDPOINT_URL.
        command[1:1] = ["--endpoint-url", target.endpoint]
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(aws, command, env)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130


# ---------------------------------------------------------------------------
# the parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, not {port}")
    return port


def _add_location(parser: argparse.ArgumentParser, endpoint: bool = True) -> None:
    parser.add_argument("--host", help="the address gureum listens on (GUREUM_HOST)")
    parser.add_argument("--port", type=_port, help="the port gureum listens on (GUREUM_PORT)")
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="gureum's data directory (GUREUM_DATA_DIR)"
    )
    if endpoint:
        parser.add_argument(
            "--endpoint", metavar="URL", help="talk to the gureum at this URL instead"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gureum",
        description="A real cloud on one machine that speaks the AWS APIs.",
    )
    parser.add_argument("--version", action="version", version=f"gureum {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    up = commands.add_parser("up", help="start the cloud (in the foreground unless --detach)")
    _add_location(up, endpoint=False)
    up.add_argument("--region", help="the default region (GUREUM_REGION)")
    up.add_argument(
        "--detach", action="store_true", help="run in the background; logs go to DIR/gureum.log"
    )
    up.add_argument(
        "--strict-credentials",
        action="store_true",
        default=False,
        help="reject access keys gureum did not issue (GUREUM_STRICT_CREDENTIALS=1)",
    )
    up.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, ... (GUREUM_LOG_LEVEL)")
    up.set_defaults(func=cmd_up)

    status = commands.add_parser("status", help="show whether gureum runs and its services")
    _add_location(status)
    status.add_argument("--json", action="store_true", help="print the health document as JSON")
    status.set_defaults(func=cmd_status)

    down = commands.add_parser("down", help="stop a running gureum (exit 1 if none runs)")
    _add_location(down)
    down.add_argument(
        "--purge", action="store_true",
        help="also delete the data dir (every bucket, instance volume and database)",
    )
    down.set_defaults(func=cmd_down)

    bill = commands.add_parser("bill", help="the month-to-date bill, top resources, forecast")
    _add_location(bill)
    bill.add_argument("--top", type=int, default=5, help="how many resources to list")
    bill.set_defaults(func=cmd_bill)

    ssh = commands.add_parser("ssh", help="a root shell inside an instance: gureum ssh i-...")
    ssh.add_argument("--data-dir", help="the data directory (GUREUM_DATA_DIR)")
    ssh.add_argument("instance_id")
    ssh.add_argument("command", nargs=argparse.REMAINDER, help="a command instead of a shell")
    ssh.set_defaults(func=cmd_ssh)

    env = commands.add_parser("env", help='print shell exports: eval "$(gureum env)"')
    _add_location(env)
    env.add_argument("--region", help="the region to export (GUREUM_REGION)")
    env.set_defaults(func=cmd_env)

    commands.add_parser(
        "aws",
        help="run the AWS CLI against gureum: gureum aws s3 ls",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] == "aws":
            # Everything after "aws" is the AWS CLI's, options included.
            sys.exit(run_aws(args_list[1:]))
        args = build_parser().parse_args(args_list)
        sys.exit(args.func(args))
    except CliError as exc:
        print(f"gureum: {exc}" if exc.prefix else str(exc), file=sys.stderr)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # gureum status | head
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
