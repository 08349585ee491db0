"""Settings: the one place that reads the environment.

Every setting has a command-line flag (``gureum up --port``) and an
environment variable (``GUREUM_PORT``); flags win. The README's settings
table is this file.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

DEFAULT_ACCOUNT = "000000000000"
DEFAULT_ACCESS_KEY = "test"
DEFAULT_SECRET_KEY = "test"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("gureum", appauthor=False))


def _default_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("gureum", appauthor=False))


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _ranges(value: str) -> tuple[str, ...]:
    """A comma-separated list of /16 IPv4 ranges (``10.201.0.0/16,...``)."""
    out = []
    for text in (v.strip() for v in value.split(",")):
        if not text:
            continue
        try:
            net = ipaddress.IPv4Network(text)
        except ValueError:
            raise ValueError(f"GUREUM_INSTANCE_RANGES: {text!r} is not an IPv4 range") from None
        if net.prefixlen != 16 or not net.is_private:
            raise ValueError(f"GUREUM_INSTANCE_RANGES: {text} is not a private /16")
        out.append(str(net))
    return tuple(out)


@dataclass(frozen=True)
class Settings:
    """Everything gureum can be told. Immutable; build a new one to change it."""

    host: str = "127.0.0.1"
    port: int = 4566
    data_dir: Path = field(default_factory=_default_data_dir)
    # Derived data that is safe to share and to lose (prepared API models).
    cache_dir: Path = field(default_factory=_default_cache_dir)
    region: str = "us-east-1"
    default_account: str = DEFAULT_ACCOUNT
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    # Reject every access key gureum did not issue (production-like); by
    # default unknown keys are accepted as the root of an account.
    strict_credentials: bool = False
    log_level: str = "INFO"
    # The /16 of 127.0.0.0/8 whose addresses this gureum gives its endpoints
    # (load balancers, databases, caches); by default derived from the port so
    # that several gureums on one machine do not collide.
    loopback_prefix: str = ""
    # Speeds up the cloud's clocks for demos and local work: cooldowns,
    # warm-ups and alarm periods are divided by it (1 = AWS's own timing).
    time_scale: float = 1.0
    # Seconds between two ticks of the billing meter.
    meter_interval: float = 15.0
    # The load balancers' data plane: "haproxy", "builtin" (gureum's own
    # asyncio proxy) or "auto" (HAProxy when it is installed).
    proxy_driver: str = "auto"
    # Bytes in one GiB of a DB instance's AllocatedStorage (its quota): 2**30;
    # tests and demos shrink it to fill an instance quickly.
    rds_gib_bytes: int = 2**30
    # The HTTP front of the endpoint: "lean" (gureum's own HTTP/1.1 server for
    # API calls, aiohttp for the console) or "aiohttp" (aiohttp for everything).
    http: str = "lean"
    # The private ranges (/16) instances' default network may take on this host,
    # in order of preference; () = 172.31.0.0/16 down to 172.16.0.0/16.
    instance_ranges: tuple[str, ...] = ()

    # env var name -> (field name, converter)
    ENV: Mapping[str, tuple[str, Callable[[str], object]]] = dataclasses.field(
        default_factory=lambda: {
            "GUREUM_HOST": ("host", str),
            "GUREUM_PORT": ("port", int),
            "GUREUM_DATA_DIR": ("data_dir", Path),
            "GUREUM_CACHE_DIR": ("cache_dir", Path),
            "GUREUM_REGION": ("region", str),
            "GUREUM_DEFAULT_ACCOUNT": ("default_account", str),
            "GUREUM_ACCESS_KEY": ("access_key", str),
            "GUREUM_SECRET_KEY": ("secret_key", str),
            "GUREUM_STRICT_CREDENTIALS": ("strict_credentials", _bool),
            "GUREUM_LOG_LEVEL": ("log_level", str),
            "GUREUM_LOOPBACK_PREFIX": ("loopback_prefix", str),
            "GUREUM_TIME_SCALE": ("time_scale", float),
            "GUREUM_METER_INTERVAL": ("meter_interval", float),
            "GUREUM_PROXY_DRIVER": ("proxy_driver", str),
            "GUREUM_RDS_GIB_BYTES": ("rds_gib_bytes", int),
            "GUREUM_HTTP": ("http", str),
            "GUREUM_INSTANCE_RANGES": ("instance_ranges", _ranges),
        },
        repr=False,
        compare=False,
    )

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, **overrides: object
    ) -> Settings:
        """Defaults, then the environment, then explicit overrides (CLI flags)."""
        env = os.environ if env is None else env
        base = cls()
        values: dict[str, object] = {}
        for var, (name, conv) in base.ENV.items():
            if env.get(var, "") != "":
                values[name] = conv(env[var])
        values.update({k: v for k, v in overrides.items() if v is not None})
        port = int(str(values.get("port", base.port)))
        if not 0 < port < 65536:
            raise ValueError(f"port must be between 1 and 65535, not {port}")
        scale = float(str(values.get("time_scale", base.time_scale)))
        if not 0 < scale <= 3600:
            raise ValueError(f"time scale must be above 0 and at most 3600, not {scale}")
        if str(values.get("http", base.http)) not in ("lean", "aiohttp"):
            raise ValueError(f"GUREUM_HTTP must be lean or aiohttp, not {values['http']!r}")
        if not values.get("loopback_prefix"):
            values["loopback_prefix"] = f"127.{64 + port % 160}"
        for name in ("data_dir", "cache_dir"):
            if name in values:
                values[name] = Path(str(values[name])).expanduser()
        return dataclasses.replace(base, **values)  # type: ignore[arg-type]

    @property
    def endpoint(self) -> str:
        local = {"127.0.0.1", "0.0.0.0", "::", "localhost"}
        host = "localhost" if self.host in local else self.host
        return f"http://{host}:{self.port}"
