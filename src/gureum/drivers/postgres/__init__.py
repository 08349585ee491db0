"""PostgreSQL engines: a Protocol, the real server driver and an in-memory fake."""

from .base import EngineError, EngineSpec, EngineUsage, PostgresDriver, Role
from .fake import FakePostgres
from .scram import verifier
from .server import PostgresServers, find_bin_dir

__all__ = [
    "EngineError",
    "EngineSpec",
    "EngineUsage",
    "FakePostgres",
    "PostgresDriver",
    "PostgresServers",
    "Role",
    "find_bin_dir",
    "verifier",
]
