"""Node hours for the billing meter, read from the cache node records.

Every cache node (a cache cluster, alone or in a replication group) is one
``NodeUsage:<node type>`` hour per hour from its creation until its deletion
is asked, as AWS bills on-demand nodes; a node type change ends one run and
starts another at the next tick.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from ..billing import Gauge
from .core import NODE

SERVICE = "AmazonElastiCache"
OPERATION = "CreateCacheCluster:0002"  # Redis (and Valkey, priced as Redis here)


class CacheNodes:
    """The ElastiCache usage source (see the module docstring)."""

    name = "elasticache"

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        rows = conn.execute(
            "SELECT account, region, data, updated FROM resources WHERE kind = ?", (NODE,)
        ).fetchall()
        for account, region, data, updated in rows:
            doc = json.loads(data)
            node_type = str(doc.get("node_type", ""))
            node = dict(account=account, region=region, service=SERVICE,
                        usage_type=f"NodeUsage:{node_type}", resource=doc["id"], amount=1.0,
                        unit="Hrs", operation=OPERATION,
                        attrs={"node_type": node_type, "tags": doc.get("tags") or {}})
            if doc.get("status") != "deleting":
                created = doc.get("created")
                yield Gauge(**node,
                            since=float(created) if isinstance(created, int | float) else None)
            elif since < float(updated) <= now:
                yield Gauge(**node, until=float(updated))
