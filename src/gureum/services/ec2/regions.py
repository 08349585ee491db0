"""DescribeRegions and DescribeAvailabilityZones: the standard AWS regions (from
botocore's endpoint data) and three availability zones in each."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import filters

# Regions launched after March 2019 are opt-in on AWS: listed only with
# AllRegions=true (as "not-opted-in"), as a new account sees them.
OPT_IN = {
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2",
    "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1", "mx-central-1",
}
ZONES_PER_REGION = 3

_DIRECTIONS = {
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
    "north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
}


@lru_cache(maxsize=1)
def all_regions() -> tuple[str, ...]:
    """The regions of the commercial partition, from botocore's small partition
    data (a millisecond, where the endpoint tables take a third of a second)."""
    from botocore.loaders import Loader

    partitions = Loader().load_data("partitions")["partitions"]
    names = next(p["regions"] for p in partitions if p["id"] == "aws")
    return tuple(sorted(n for n in names if re.fullmatch(r"[a-z]{2}-[a-z]+-\d", n)))


def zone_id(region: str, index: int) -> str:
    geo, direction, number = region.split("-")
    return f"{geo}{_DIRECTIONS.get(direction, direction[:1])}{number}-az{index + 1}"


def zones(region: str) -> list[dict[str, Any]]:
    return [
        {
            "State": "available",
            "OptInStatus": "opt-in-not-required",
            "Messages": [],
            "RegionName": region,
            "ZoneName": f"{region}{chr(ord('a') + i)}",
            "ZoneId": zone_id(region, i),
            "GroupName": region,
            "NetworkBorderGroup": region,
            "ZoneType": "availability-zone",
            "GroupLongName": region,
        }
        for i in range(ZONES_PER_REGION)
    ]


_REGION_FILTERS = {
    "endpoint": filters.field("Endpoint"),
    "region-name": filters.field("RegionName"),
    "opt-in-status": filters.field("OptInStatus"),
}
_ZONE_FILTERS = {
    "group-name": filters.field("GroupName"),
    "message": filters.field("Messages.Message"),
    "opt-in-status": filters.field("OptInStatus"),
    "region-name": filters.field("RegionName"),
    "state": filters.field("State"),
    "zone-id": filters.field("ZoneId"),
    "zone-name": filters.field("ZoneName"),
    "zone-type": filters.field("ZoneType"),
}


class RegionOperations:
    def describe_regions(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        every = params.get("AllRegions", False)
        regions = []
        for name in all_regions():
            status = "not-opted-in" if name in OPT_IN else "opt-in-not-required"
            if status == "not-opted-in" and not every:
                continue
            regions.append(
                {"RegionName": name, "Endpoint": f"ec2.{name}.amazonaws.com", "OptInStatus": status}
            )
        wanted = params.get("RegionNames")
        if wanted:
            unknown = [n for n in wanted if n not in all_regions()]
            if unknown:
                raise AWSError("InvalidParameterValue", f"Invalid region: {unknown[0]}")
            regions = [r for r in regions if r["RegionName"] in wanted]
        return {"Regions": filters.apply(regions, params.get("Filters"), _REGION_FILTERS)}

    def describe_availability_zones(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        found = zones(call.region)
        names, ids = params.get("ZoneNames"), params.get("ZoneIds")
        if names:
            bad = [n for n in names if n not in {z["ZoneName"] for z in found}]
            if bad:
                raise AWSError(
                    "InvalidParameterValue", f"The zone '{bad[0]}' does not exist."
                )
            found = [z for z in found if z["ZoneName"] in names]
        if ids:
            found = [z for z in found if z["ZoneId"] in ids]
        return {"AvailabilityZones": filters.apply(found, params.get("Filters"), _ZONE_FILTERS)}
