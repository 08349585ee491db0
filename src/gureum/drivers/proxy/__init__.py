"""Load-balancer data planes: HAProxy processes, built-in asyncio proxy
processes, or an in-memory fake.

``ProxyDriver`` is the contract (``base``); ``HAProxyDriver`` runs one HAProxy
per proxy (``haproxy``, configuration from ``haproxy_config``);
``BuiltinDriver`` runs gureum's own proxy process per proxy (``builtin``);
``FakeProxyDriver`` documents the semantics for unit tests."""

from __future__ import annotations

from .base import (
    Action,
    Backend,
    Check,
    Condition,
    Counters,
    Listener,
    ProxyDriver,
    ProxySpec,
    Rule,
    Server,
    ServerHealth,
)
from .builtin import BuiltinDriver
from .fake import FakeProxyDriver
from .haproxy import HAProxyDriver, ProxyError, available

__all__ = ["Action", "Backend", "BuiltinDriver", "Check", "Condition", "Counters",
           "FakeProxyDriver", "HAProxyDriver", "Listener", "ProxyDriver", "ProxyError",
           "ProxySpec", "Rule", "Server", "ServerHealth", "available"]
