"""Elastic Load Balancing (v2): load balancers, listeners, target groups."""

from __future__ import annotations

from ..base import Service


class ELBv2(Service):
    name = "elbv2"
