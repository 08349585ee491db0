"""RDS: managed relational databases."""

from __future__ import annotations

from ..base import Service


class RDS(Service):
    name = "rds"
