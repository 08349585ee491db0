"""RDS: managed PostgreSQL and MariaDB. Each DB instance is a real server
process (see ``gureum.drivers.postgres`` and ``gureum.drivers.mysql``) on its
own address (a private one where instances reach it: ``common.private``; its
VPC security groups guard it there: ``common.ingress``), driven by the
instance loop in ``lifecycle.py``; ``instances.py``, ``snapshots.py``,
``params.py`` and ``misc.py`` hold the operations."""

from __future__ import annotations

from ..billing.sources import register_source
from .lifecycle import Lifecycle
from .metering import InstanceUsage
from .misc import MiscOperations
from .params import ParameterGroupOperations
from .subnetgroups import SubnetGroupOperations

register_source("rds", InstanceUsage)


class RDS(Lifecycle, MiscOperations, ParameterGroupOperations, SubnetGroupOperations):
    name = "rds"
