"""ElastiCache: managed Redis."""

from __future__ import annotations

from ..base import Service


class ElastiCache(Service):
    name = "elasticache"
