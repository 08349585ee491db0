"""CloudWatch: metrics and alarms."""

from __future__ import annotations

from ..base import Service


class CloudWatch(Service):
    name = "cloudwatch"
