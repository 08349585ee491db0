"""Node hours for the billing meter, read from the cache node records.

Every cache node (a cache cluster, alone or in a replication group) is one
``NodeUsage:<node type>`` hour for each clock hour or part of one from its
creation until its deletion is asked: AWS bills on-demand nodes by the
node-hour, a partial node-hour as a full hour. A node type change bills the
new type from the hour it is seen in (both types pay that hour, as a
resize does on AWS).
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
                yield Gauge(**node, whole_hours=True,
                            since=float(created) if isinstance(created, int | float) else None)
            elif since < float(updated) <= now:
                yield Gauge(**node, whole_hours=True, until=float(updated))
