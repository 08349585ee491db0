"""The gureum process: builds the store, services, loops and gateway from the
settings and serves them on one endpoint: API calls through the lean HTTP
front (``gureum.httpfront``), everything else through the aiohttp application
(``GUREUM_HTTP=aiohttp``: everything through aiohttp).

Besides the AWS APIs it answers ``/_gureum/health`` (readiness per service),
``/_gureum/reset`` (wipe state, for tests) and ``/_gureum/shutdown`` (for
``gureum down``); the last two answer only loopback clients, as does the web
console (``gureum.console``) at ``/_gureum/``.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import ipaddress
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from gureum import __version__, console, hugepages
from gureum.config import Settings
from gureum.control.clock import SystemClock
from gureum.control.loop import LoopRunner
from gureum.drivers.names import GuestNames, HostsFile, MemoryNames, NameRegistry
from gureum.errors import AWSError
from gureum.gateway.auth import Authenticator
from gureum.gateway.catalog import SERVICES as SPECS
from gureum.gateway.catalog import Models
from gureum.gateway.handler import Gateway
from gureum.gateway.protocols.base import HttpRequest
from gureum.httpfront import LeanSite
from gureum.services import SERVICES
from gureum.services.base import Env, Service
from gureum.services.common.addresses import AddressPool
from gureum.store import Store

log = logging.getLogger("gureum")

STATE_FILE = "gureum.json"
CLOUD_KEY: web.AppKey[Cloud] = web.AppKey("cloud")
STOP_KEY: web.AppKey[Callable[[], None]] = web.AppKey("stop")


class Cloud:
    """Everything one running gureum owns."""

    def __init__(self, settings: Settings, clock: Any = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.started = time.time()
        self.store = Store.open(settings.data_dir / "gureum.db")
        key = self.store.get_access_key(settings.access_key)
        if key is None or key.secret_access_key != settings.secret_key:
            self.store.put_access_key(
                settings.access_key, settings.secret_key, settings.default_account
            )
        self.loops = LoopRunner()
        self.names = GuestNames(_names(settings))  # (and in instances' hosts files)
        self.names.clear()  # names left by a gureum that was killed
        self.env = Env(
            settings=settings,
            store=self.store,
            clock=self.clock,
            loops=self.loops,
            names=self.names,
            addresses=AddressPool(self.store, settings.loopback_prefix),
        )
        self.services: dict[str, Service] = {name: cls(self.env) for name, cls in SERVICES.items()}
        # Services call each other in-process (Auto Scaling launches through
        # EC2, registers with ELB, owns CloudWatch alarms).
        self.env.extras["services"] = self.services
        self.models = Models(settings.cache_dir / "models")
        self.gateway = Gateway(
            self.services,
            self.models,
            Authenticator(settings, self.store, self.clock),
            settings.region,
            self.store,
        )
        self._warm_thread: threading.Thread | None = None
        self.stopping = asyncio.Event() if _has_loop() else None

    async def start(self) -> None:
        for service in self.services.values():
            await service.start()
        self.loops.start()
        self._warm_thread = threading.Thread(target=self._warm, name="warm-models", daemon=True)
        self._warm_thread.start()

    def _warm(self) -> None:
        # Load the models (and what services prepare) in the order users call
        # them; a request for a model not yet loaded loads it itself
        # (thread-safe). Shapes resolve on first use, which takes milliseconds.
        for name in ("sts", "ec2", "s3", *SPECS):
            try:
                self.models.get(name)
                if name in self.services:
                    self.services[name].warm()
            except Exception:  # a broken model must not stop the others
                log.exception("could not load the %s model", name)
            time.sleep(0.001)  # let the event loop's thread take the GIL

    async def stop(self) -> None:
        await self.loops.stop()
        # Last started, first stopped: data planes on EC2's network (load
        # balancers', databases' and caches' addresses on its bridge) stop
        # while it is still there, e.g. cache nodes save their data.
        for service in reversed(self.services.values()):
            await service.stop()
        self.names.clear()
        self.store.close()

    async def reset(self, service: str | None = None) -> list[str]:
        names = [service] if service else list(self.services)
        for name in names:
            await self.services[name].reset()
        return names

    def health(self) -> dict[str, Any]:
        services = {}
        for name in SPECS:
            if name not in self.services:
                state = "unavailable"
            else:
                state = "available" if self.models.loaded(name) else "starting"
            services[name] = state
        drivers = {}
        for name, service in self.services.items():
            kind = getattr(getattr(service, "driver", None), "kind", None)
            if isinstance(kind, str):
                drivers[name] = kind  # e.g. ec2: namespace | process | fake
        return {
            "status": "running",
            "version": __version__,
            "endpoint": self.settings.endpoint,
            "region": self.settings.region,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started, 3),
            "services": services,
            "drivers": drivers,
        }


def _names(settings: Settings) -> NameRegistry:
    """Endpoint names in /etc/hosts when gureum may write it (as root), else
    kept in memory (endpoints are then given by address)."""
    if os.geteuid() == 0 and HostsFile.usable():
        tag = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:12]
        return HostsFile(tag)
    return MemoryNames()


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


async def _signed_by_root(cloud: Cloud, request: web.Request) -> bool:
    """Whether the request is SigV4-signed with a root key gureum issued (an
    unknown key, accepted elsewhere as an account root, proves nothing)."""
    http = HttpRequest(
        method=request.method,
        path=request.path,
        raw_path=request.raw_path.split("?", 1)[0],
        raw_query=request.query_string,
        query=request.query,  # type: ignore[arg-type]
        headers=request.headers,
        host=request.host,
        body=await request.read(),
    )
    try:
        identity, _, secret = cloud.gateway.auth.authenticate(http, SPECS["sts"])
    except AWSError:
        return False
    return secret is not None and identity.kind == "root"


def _loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def build_app(cloud: Cloud) -> web.Application:
    app = web.Application(client_max_size=1024**4)
    app[CLOUD_KEY] = cloud

    async def health(request: web.Request) -> web.Response:
        return web.json_response(cloud.health())

    async def reset(request: web.Request) -> web.Response:
        if not _loopback(request) and not await _signed_by_root(cloud, request):
            message = {"error": "reset answers loopback clients and root credentials only"}
            return web.json_response(message, status=403)
        service = request.query.get("service")
        if service is not None and service not in cloud.services:
            return web.json_response({"error": f"unknown service {service!r}"}, status=400)
        names = await cloud.reset(service)
        return web.json_response({"reset": names})

    async def shutdown(request: web.Request) -> web.Response:
        if not _loopback(request):
            message = {"error": "shutdown answers loopback clients only"}
            return web.json_response(message, status=403)
        stopping = request.app.get(STOP_KEY)
        if stopping is not None:
            asyncio.get_running_loop().call_soon(stopping)
        return web.json_response({"status": "stopping"})

    app.router.add_get("/_gureum/health", health)
    app.router.add_post("/_gureum/reset", reset)
    app.router.add_post("/_gureum/shutdown", shutdown)
    console.install(app, cloud.env, cloud.services, allowed=_loopback)
    app.router.add_route("*", "/{tail:.*}", cloud.gateway.handle)
    return app


class StartupError(Exception):
    """A reason gureum cannot start, said in one line."""


def serve(settings: Settings, on_ready: Callable[[Cloud], None] | None = None) -> None:
    """Run gureum in the foreground until SIGINT/SIGTERM or ``gureum down``."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(settings, on_ready))


async def _serve(settings: Settings, on_ready: Callable[[Cloud], None] | None) -> None:
    from gureum.store import StoreError

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        cloud = Cloud(settings)
    except (OSError, StoreError) as exc:
        raise StartupError(f"the data directory {settings.data_dir} is unusable: {exc}") from exc
    app = build_app(cloud)
    stop = asyncio.Event()
    app[STOP_KEY] = stop.set
    # Bodies are read as sent: SigV4 signs the compressed bytes, and an S3
    # object's Content-Encoding is the object's, not the transfer's.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, auto_decompress=False)
    await runner.setup()
    site: web.BaseSite
    if settings.http == "lean":
        site = LeanSite(runner, settings.host, settings.port, cloud.gateway.answer,
                        reuse_address=True, backlog=1024, in_flight=cloud.gateway.store)
    else:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        cloud.store.close()
        raise StartupError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
            " (is another gureum or service using that port? try --port)"
        ) from exc
    await cloud.start()
    # What startup built (models, compiled readers and writers, services) lives
    # as long as the process: frozen out of the collector, a full collection
    # scans only what requests made since (it cost ~5 ms per large response).
    gc.collect()
    gc.freeze()
    # That memory, read by every request, backed by huge pages (see gureum.hugepages).
    hugepages.collapse_in_background()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    state = settings.data_dir / STATE_FILE
    _write_state(state, settings)
    try:
        if on_ready is not None:
            on_ready(cloud)
        await stop.wait()
    finally:
        log.info("gureum is stopping")
        try:
            state.unlink()
        except FileNotFoundError:
            pass
        await runner.cleanup()
        await cloud.stop()


def _write_state(path: Path, settings: Settings) -> None:
    data = {
        "pid": os.getpid(),
        "host": settings.host,
        "port": settings.port,
        "endpoint": settings.endpoint,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = json.loads((data_dir / STATE_FILE).read_text())
        return result
    except (OSError, ValueError):
        return None
