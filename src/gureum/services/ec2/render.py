"""An instance record as AWS describes it (the ``Instance`` shape)."""

from __future__ import annotations

from typing import Any

from ..common import filters
from ..common import tags as tagging
from .catalog import TYPES

STATE_CODES = {
    "pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
    "stopping": 64, "stopped": 80,
}


def state(doc: dict[str, Any]) -> dict[str, Any]:
    return {"Code": STATE_CODES[doc["state"]], "Name": doc["state"]}


def instance(doc: dict[str, Any]) -> dict[str, Any]:
    terminated = doc["state"] == "terminated"
    ip = None if terminated else doc["ip"]
    itype = TYPES.get(doc["type"])
    out: dict[str, Any] = {
        "InstanceId": doc["id"],
        "ImageId": doc["image_id"],
        "State": state(doc),
        "PrivateDnsName": "" if terminated else doc["fqdn"],
        "PublicDnsName": "",
        "StateTransitionReason": doc.get("transition_reason", ""),
        "AmiLaunchIndex": doc["launch_index"],
        "ProductCodes": [],
        "InstanceType": doc["type"],
        "LaunchTime": doc["launch_time"],
        "Placement": {"AvailabilityZone": doc["az"], "GroupName": "", "Tenancy": "default"},
        "Monitoring": {"State": doc.get("monitoring", "disabled")},
        "Architecture": doc["architecture"],
        "RootDeviceType": "ebs",
        "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": [] if terminated else [
            {"DeviceName": "/dev/xvda",
             "Ebs": {"AttachTime": doc["launch_time"], "DeleteOnTermination": True,
                     "Status": "attached", "VolumeId": "vol-" + doc["id"][2:]}},
        ],
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "ClientToken": doc.get("client_token") or "",
        "Tags": tagging.to_list(doc.get("tags")),
        "SecurityGroups": [] if terminated else doc["security_groups"],
        "SourceDestCheck": True,
        "EbsOptimized": False,
        "EnaSupport": True,
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "BootMode": "uefi",
        "CurrentInstanceBootMode": "uefi",
        "MetadataOptions": {
            "State": "applied", "HttpTokens": doc.get("http_tokens", "optional"),
            "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled",
            "HttpProtocolIpv6": "disabled",
            "InstanceMetadataTags": doc.get("metadata_tags", "disabled"),
        },
        "CpuOptions": {"CoreCount": itype.vcpus if itype else 1, "ThreadsPerCore": 1},
        "PrivateDnsNameOptions": {
            "HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
            "EnableResourceNameDnsAAAARecord": False,
        },
    }
    if ip is not None:
        out["PrivateIpAddress"] = ip
        out["SubnetId"] = doc["subnet_id"]
        out["VpcId"] = doc["vpc_id"]
        out["NetworkInterfaces"] = [{
            "NetworkInterfaceId": "eni-" + doc["id"][2:],
            "SubnetId": doc["subnet_id"], "VpcId": doc["vpc_id"],
            "Description": "", "OwnerId": doc["account"], "Status": "in-use",
            "PrivateIpAddress": ip, "PrivateDnsName": doc["fqdn"], "SourceDestCheck": True,
            "Groups": doc["security_groups"], "InterfaceType": "interface",
            "Attachment": {"AttachmentId": "eni-attach-" + doc["id"][2:],
                           "DeviceIndex": 0, "Status": "attached",
                           "AttachTime": doc["launch_time"], "DeleteOnTermination": True,
                           "NetworkCardIndex": 0},
            "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": ip,
                                    "PrivateDnsName": doc["fqdn"]}],
        }]
    if doc.get("key_name"):
        out["KeyName"] = doc["key_name"]
    if doc.get("state_reason"):
        code, message = doc["state_reason"]
        out["StateReason"] = {"Code": code, "Message": message}
    return out


FILTERS = {
    name: filters.field(path)
    for name, path in {
        "instance-id": "InstanceId",
        "instance-state-name": "State.Name",
        "instance-state-code": "State.Code",
        "private-ip-address": "PrivateIpAddress",
        "network-interface.addresses.private-ip-address": "PrivateIpAddress",
        "private-dns-name": "PrivateDnsName",
        "subnet-id": "SubnetId",
        "vpc-id": "VpcId",
        "image-id": "ImageId",
        "instance-type": "InstanceType",
        "availability-zone": "Placement.AvailabilityZone",
        "key-name": "KeyName",
        "architecture": "Architecture",
        "client-token": "ClientToken",
        "launch-index": "AmiLaunchIndex",
        "launch-time": "LaunchTime",
        "root-device-type": "RootDeviceType",
        "instance.group-id": "SecurityGroups.GroupId",
        "instance.group-name": "SecurityGroups.GroupName",
        "state-reason-code": "StateReason.Code",
        "platform-details": "PlatformDetails",
        "monitoring-state": "Monitoring.State",
    }.items()
}
