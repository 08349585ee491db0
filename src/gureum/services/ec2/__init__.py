"""EC2: the service object; its operations live in modules by resource."""

from __future__ import annotations

from ..base import Service
from .regions import RegionOperations, all_regions


class EC2(RegionOperations, Service):
    name = "ec2"

    def warm(self) -> None:
        all_regions()
