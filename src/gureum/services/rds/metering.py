"""What DB instances cost: the billing meter's usage source for RDS.

- Instance hours, by class and deployment (``InstanceUsage:db.t3.micro`` or
  ``Multi-AZUsage:db.t3.micro``), with the engine's price list operation
  (``CreateDBInstance:0014`` PostgreSQL, ``:0002`` MySQL, ``:0018``
  MariaDB), while the instance runs: from backing-up (the server is up)
  through available, modifying and rebooting, until it is stopped or deleted.
  AWS bills per second with a ten-minute minimum per start.
- Allocated storage in GB-months (``RDS:GP2-Storage``, or
  ``RDS:Multi-AZ-GP2-Storage``, likewise gp3), while the instance exists,
  stopped or not.

Registered with ``register_source`` when the RDS package is imported.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from ..billing.sources import Gauge
from .core import INSTANCE

SERVICE = "AmazonRDS"
OPERATIONS = {"postgres": "CreateDBInstance:0014", "mysql": "CreateDBInstance:0002",
              "mariadb": "CreateDBInstance:0018"}
RUNNING = {"backing-up", "available", "modifying", "rebooting", "stopping",
           "storage-optimization"}
NO_STORAGE = {"creating", "failed"}  # nothing provisioned yet, or given up
MINIMUM = 600.0


class InstanceUsage:
    """The RDS usage source (see the module docstring)."""

    name = "rds"

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        rows = conn.execute("SELECT account, region, data, updated FROM resources"
                            " WHERE kind = ?", (INSTANCE,)).fetchall()
        for account, region, data, updated in rows:
            doc: dict[str, Any] = json.loads(data)
            status = doc.get("status")
            klass = str(doc.get("class", ""))
            multi = bool(doc.get("multi_az"))
            attrs: dict[str, Any] = {"instance_type": klass, "tags": doc.get("tags") or {},
                                     "engine": doc.get("engine")}
            arn = f"arn:aws:rds:{region}:{account}:db:{doc['id']}"
            hours = dict(account=account, region=region, service=SERVICE,
                         usage_type=f"{'Multi-AZUsage' if multi else 'InstanceUsage'}:{klass}",
                         resource=arn, amount=1.0, unit="Hrs",
                         operation=OPERATIONS.get(str(doc.get("engine")), ""),
                         minimum=MINIMUM, attrs=attrs)
            if status in RUNNING:
                yield Gauge(**hours, since=float(updated))
            elif since < updated <= now:
                yield Gauge(**hours, until=float(updated))
            if status in NO_STORAGE:
                continue
            volume = str(doc.get("storage_type") or "gp2").upper()
            yield Gauge(account=account, region=region, service=SERVICE,
                        usage_type=f"RDS:{'Multi-AZ-' if multi else ''}{volume}-Storage",
                        resource=arn, amount=float(doc.get("storage") or 0), unit="GB-Mo",
                        attrs=attrs)
