"""The built-in catalogs: instance types (vCPUs and memory, which become cgroup
limits) and images (one honest image: this host's own OS, which every
instance's root volume is an overlay of)."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gureum.drivers.compute import Limits
from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from ..common.pagination import paginate


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    burstable: bool = False

    @property
    def limits(self) -> Limits:
        return Limits(vcpus=self.vcpus, memory_mib=self.memory_mib, pids=1024 * self.vcpus)


TYPES: dict[str, InstanceType] = {
    t.name: t
    for t in (
        InstanceType("t2.nano", 1, 512, True),
        InstanceType("t2.micro", 1, 1024, True),
        InstanceType("t2.small", 1, 2048, True),
        InstanceType("t2.medium", 2, 4096, True),
        InstanceType("t3.nano", 2, 512, True),
        InstanceType("t3.micro", 2, 1024, True),
        InstanceType("t3.small", 2, 2048, True),
        InstanceType("t3.medium", 2, 4096, True),
        InstanceType("t3.large", 2, 8192, True),
        InstanceType("t3.xlarge", 4, 16384, True),
        InstanceType("m5.large", 2, 8192),
        InstanceType("m5.xlarge", 4, 16384),
        InstanceType("c5.large", 2, 4096),
        InstanceType("c5.xlarge", 4, 8192),
        InstanceType("r5.large", 2, 16384),
    )
}
DEFAULT_TYPE = "t3.micro"


def instance_type(name: str) -> InstanceType:
    found = TYPES.get(name)
    if found is None:
        raise AWSError("InvalidParameterValue", f"Invalid value '{name}' for InstanceType.")
    return found


def architecture() -> str:
    return {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")


def describe_type(t: InstanceType) -> dict[str, Any]:
    return {
        "InstanceType": t.name,
        "CurrentGeneration": True,
        "FreeTierEligible": t.name in ("t2.micro", "t3.micro"),
        "SupportedUsageClasses": ["on-demand"],
        "SupportedRootDeviceTypes": ["ebs"],
        "SupportedVirtualizationTypes": ["hvm"],
        "BareMetal": False,
        "Hypervisor": "nitro",
        "ProcessorInfo": {"SupportedArchitectures": [architecture()]},
        "VCpuInfo": {"DefaultVCpus": t.vcpus, "DefaultCores": t.vcpus, "DefaultThreadsPerCore": 1},
        "MemoryInfo": {"SizeInMiB": t.memory_mib},
        "InstanceStorageSupported": False,
        "EbsInfo": {"EbsOptimizedSupport": "default", "EncryptionSupport": "supported"},
        "NetworkInfo": {
            "NetworkPerformance": "Up to 5 Gigabit",
            "MaximumNetworkInterfaces": 1,
            "Ipv4AddressesPerInterface": 1,
            "Ipv6Supported": False,
        },
        "PlacementGroupInfo": {"SupportedStrategies": []},
        "HibernationSupported": False,
        "BurstablePerformanceSupported": t.burstable,
        "SupportedBootModes": ["legacy-bios", "uefi"],
    }


_TYPE_FILTERS = {
    "instance-type": filters.field("InstanceType"),
    "current-generation": filters.field("CurrentGeneration"),
    "burstable-performance-supported": filters.field("BurstablePerformanceSupported"),
    "free-tier-eligible": filters.field("FreeTierEligible"),
    "vcpu-info.default-vcpus": filters.field("VCpuInfo.DefaultVCpus"),
    "memory-info.size-in-mib": filters.field("MemoryInfo.SizeInMiB"),
    "processor-info.supported-architecture": filters.field("ProcessorInfo.SupportedArchitectures"),
}


@lru_cache(maxsize=1)
def host_os() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            key, _, value = line.partition("=")
            info[key] = value.strip().strip('"')
    except OSError:
        pass
    return info


def _image_id(name: str) -> str:
    return "ami-" + hashlib.sha256(f"gureum-image:{name}".encode()).hexdigest()[:17]


@lru_cache(maxsize=1)
def images() -> dict[str, dict[str, Any]]:
    os_info = host_os()
    distro = os_info.get("ID", platform.system().lower())
    version = os_info.get("VERSION_ID", platform.release())
    pretty = os_info.get("PRETTY_NAME", f"{platform.system()} {platform.release()}")
    arch = architecture()
    name = f"{distro}-{version}-{arch}-host"
    image: dict[str, Any] = {
        "ImageId": _image_id(name),
        "Name": name,
        "Description": (
            f"{pretty}: this host's own operating system. Each instance's root volume is a "
            "copy-on-write overlay of the host's root filesystem (kernel shared with the host). "
            "With a key pair, ssh as ec2-user or root (where the host has sshd)."
        ),
        "ImageLocation": f"gureum/{name}",
        "ImageOwnerAlias": "amazon",
        "OwnerId": "000000000000",
        "State": "available",
        "Public": True,
        "Architecture": arch,
        "ImageType": "machine",
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "RootDeviceType": "ebs",
        "RootDeviceName": "/dev/xvda",
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "EnaSupport": True,
        "BootMode": "uefi-preferred",
        "CreationDate": "2024-01-01T00:00:00.000Z",
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda",
             "Ebs": {"DeleteOnTermination": True, "VolumeSize": 8, "VolumeType": "gp3",
                     "Encrypted": False}},
        ],
        "Tags": [],
    }
    return {image["ImageId"]: image}


def default_image_id() -> str:
    return next(iter(images()))


def find_image(image_id: str | None) -> dict[str, Any]:
    if not image_id:
        raise AWSError("MissingParameter", "The request must contain the parameter ImageId")
    if not image_id.startswith("ami-"):
        raise AWSError("InvalidAMIID.Malformed", f'Invalid id: "{image_id}" (expecting "ami-...")')
    image = images().get(image_id)
    if image is None:
        raise AWSError("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist")
    return image


_IMAGE_FILTERS = {
    name: filters.field(path)
    for name, path in {
        "architecture": "Architecture", "description": "Description", "image-id": "ImageId",
        "image-type": "ImageType", "is-public": "Public", "name": "Name",
        "owner-alias": "ImageOwnerAlias", "owner-id": "OwnerId",
        "platform-details": "PlatformDetails", "root-device-name": "RootDeviceName",
        "root-device-type": "RootDeviceType", "state": "State",
        "virtualization-type": "VirtualizationType", "hypervisor": "Hypervisor",
        "block-device-mapping.volume-size": "BlockDeviceMappings.Ebs.VolumeSize",
    }.items()
}


class CatalogOperations:
    def describe_images(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        found = list(images().values())
        ids = params.get("ImageIds")
        if ids:
            for image_id in ids:
                find_image(image_id)
            found = [i for i in found if i["ImageId"] in ids]
        owners = params.get("Owners")
        if owners:
            ok = {"amazon", "self", "000000000000", "gureum"}
            found = [i for i in found if any(o in ok for o in owners)]
        return {"Images": filters.apply(found, params.get("Filters"), _IMAGE_FILTERS)}

    def describe_instance_types(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        names = params.get("InstanceTypes")
        if names:
            for n in names:
                instance_type(n)
        found = [describe_type(t) for t in TYPES.values() if not names or t.name in names]
        found = filters.apply(found, params.get("Filters"), _TYPE_FILTERS)
        found.sort(key=lambda t: t["InstanceType"])
        page, token = paginate(found, params.get("NextToken"), params.get("MaxResults"),
                               key=lambda t: str(t["InstanceType"]), default_limit=100,
                               max_limit=100, min_limit=5)
        out: dict[str, Any] = {"InstanceTypes": page}
        if token:
            out["NextToken"] = token
        return out
