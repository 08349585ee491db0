"""Start a real gureum for tests: a subprocess on a free port with its own data
dir (``running_gureum``), and clients for it. Used by the end-to-end tests of
every service, and usable from a project's own conftest:

    @pytest.fixture(scope="session")
    def cloud():
        with running_gureum() as g:
            yield g
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RunningGureum:
    """A gureum process; ``client("s3")`` gives a boto3 client bound to it."""

    def __init__(self, data_dir: Path, port: int, args: Sequence[str] = (),
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.args = list(args)
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "test-server.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> None:
        cmd = [
            sys.executable, "-m", "gureum", "up",
            "--port", str(self.port), "--data-dir", str(self.data_dir), *self.args,
        ]
        env = {**os.environ, **self.env}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
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

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoint}/_gureum/health", timeout=2) as r:
            result: dict[str, Any] = json.load(r)
            return result

    def reset(self, service: str | None = None) -> None:
        url = f"{self.endpoint}/_gureum/reset" + (f"?service={service}" if service else "")
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=30).close()

    def stop(self, kill: bool = False, timeout: float = 15.0) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # The process group may hold children (engines); none may outlive a test.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.proc = None
        _drop_data_table(self.data_dir)
        _prune_names()
        _sweep_cgroups()
        _prune_claims()

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def env_vars(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY,
                 region: str = REGION) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
        }

    def client(self, service: str, *, region: str = REGION, access_key: str = ACCESS_KEY,
               secret_key: str = SECRET_KEY, protocol: str | None = None, **config: Any) -> Any:
        """A boto3 client; ``protocol`` makes it speak one of the protocols its
        model lists (CloudWatch: smithy-rpc-v2-cbor, json or query)."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session()
        if protocol is not None:
            _force_protocol(session, service, protocol)
        return session.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
        )

    def aws(self, *args: str, check: bool = False, access_key: str = ACCESS_KEY,
            secret_key: str = SECRET_KEY, region: str = REGION
            ) -> subprocess.CompletedProcess[str]:
        """Run the real AWS CLI against this gureum."""
        exe = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
        if exe is None:
            raise RuntimeError("the AWS CLI is not installed (pip install awscli)")
        env = {**os.environ, **self.env_vars(access_key, secret_key, region)}
        env.pop("AWS_PROFILE", None)
        # Some AWS CLI v1 commands (rds among them) ignore AWS_ENDPOINT_URL.
        prefix = [] if "--endpoint-url" in args else ["--endpoint-url", self.endpoint]
        return subprocess.run(
            [exe, *prefix, *args], capture_output=True, text=True, env=env, check=check,
            timeout=120,
        )


def _prune_names() -> None:
    """Drop the /etc/hosts blocks of gureums that are gone (killed ones cannot)."""
    from gureum.drivers.names import HostsFile

    if os.geteuid() == 0 and HostsFile.usable():
        with contextlib.suppress(OSError):
            HostsFile("test-prune").clear()


def _drop_data_table(data_dir: Path) -> None:
    """The host filter of the stopped gureum's databases and caches (a gureum
    killed with SIGKILL cannot remove it itself)."""
    from gureum.drivers import hostfw

    with contextlib.suppress(OSError, ValueError, KeyError):
        hostfw.drop(json.loads((data_dir / "ec2" / "network.json").read_text())["cidr"])


def _prune_claims(claims: Path = Path("/run/gureum/networks")) -> None:
    """Drop instance-network claims whose data directory is gone (a test
    deletes its data dir; the next gureum would drop them too)."""
    for claim in claims.glob("*") if claims.is_dir() else []:
        with contextlib.suppress(OSError):
            if not Path(claim.read_text().strip()).is_dir():
                claim.unlink()


def _sweep_cgroups(root: Path = Path("/sys/fs/cgroup")) -> None:
    """Remove the empty cgroups a killed gureum could not remove itself: cache
    nodes', DB engines' and the instances' parent when it holds no instance."""
    if os.geteuid() != 0:
        return
    for hierarchy in [root, *root.iterdir()] if root.is_dir() else []:
        for path in [*hierarchy.glob("gureum-cache-*"), *hierarchy.glob("gureum-rds-*")]:
            with contextlib.suppress(OSError):
                if not (path / "cgroup.procs").read_text().strip():
                    path.rmdir()
        parent = hierarchy / "gureum"
        with contextlib.suppress(OSError):
            if (
                parent.is_dir()
                and not any(p.is_dir() for p in parent.iterdir())
                and not (parent / "cgroup.procs").read_text().strip()
            ):
                parent.rmdir()


_MODEL_ROOT: Path | None = None


def _model_root() -> Path:
    """One directory of protocol-forced models per test process, removed at exit."""
    global _MODEL_ROOT
    if _MODEL_ROOT is None:
        import atexit

        _MODEL_ROOT = Path(tempfile.mkdtemp(prefix="gureum-model-"))
        atexit.register(shutil.rmtree, _MODEL_ROOT, True)
    return _MODEL_ROOT


def _force_protocol(session: Any, service: str, protocol: str) -> None:
    """Make ``session`` load a copy of the service model that lists only
    ``protocol`` (botocore otherwise picks its own preferred one)."""
    from botocore.loaders import Loader

    root = _model_root() / protocol
    loader = session._session.get_component("data_loader")
    model = Loader().load_service_model(service, "service-2")
    if protocol not in model["metadata"].get("protocols", [model["metadata"]["protocol"]]):
        raise ValueError(f"{service} does not speak {protocol}")
    target = root / service / model["metadata"]["apiVersion"]
    if not (target / "service-2.json").exists():
        model = json.loads(json.dumps(model))
        model["metadata"]["protocol"] = protocol
        model["metadata"]["protocols"] = [protocol]
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f"service-2.json.{os.getpid()}"
        tmp.write_text(json.dumps(model))
        tmp.replace(target / "service-2.json")
    loader.search_paths.insert(0, str(root))


@contextlib.contextmanager
def running_gureum(
    args: Sequence[str] = (), env: dict[str, str] | None = None, data_dir: Path | None = None
) -> Iterator[RunningGureum]:
    tmp = None
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="gureum-test-")
        data_dir = Path(tmp)
    server = RunningGureum(data_dir, free_port(), args, env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            _prune_claims()
