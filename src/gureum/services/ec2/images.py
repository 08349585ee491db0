"""CreateImage and DeregisterImage: images made from an instance's root volume.

An image made by CreateImage is a store document (``ec2:image``) and a
read-only layer on the compute driver: a copy of the instance's writable
layer (which holds everything the instance changed, including what its own
image brought). An instance launched from it starts its root volume as a
copy of that layer, over the base system. (Stacking the layer as an overlay
lower directory is what the design wanted; overlayfs refuses a lower inside
the base system's own tree, so the driver copies.) The image loop (``ec2-images``) does the
disk work: ``pending`` → layer captured → ``available``; a deregistered image
disappears from the API at once and its layer is deleted once no instance
still stands on it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from gureum.control import Loop
from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from ..common import tags as tagging
from ..common.ids import hex_id
from .catalog import _IMAGE_FILTERS, architecture, find_image, images
from .core import IMAGE, INSTANCE, EC2Core

IMAGE_LOOP = "ec2-images"
_NAME = re.compile(r"[a-zA-Z0-9().\-/_ \[\]'@]{3,128}")


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "ImageId": doc["id"], "Name": doc["name"], "Description": doc.get("description") or "",
        "ImageLocation": f"{doc['account']}/{doc['name']}", "OwnerId": doc["account"],
        "State": doc["state"], "Public": False, "Architecture": architecture(),
        "ImageType": "machine", "PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances",
        "RootDeviceType": "ebs", "RootDeviceName": "/dev/xvda", "VirtualizationType": "hvm",
        "Hypervisor": "xen", "EnaSupport": True, "BootMode": "uefi-preferred",
        "CreationDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(doc["created"])),
        "SourceInstanceId": doc["instance_id"],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
            "DeleteOnTermination": True, "VolumeSize": 8, "VolumeType": "gp3",
            "Encrypted": False}}],
        "Tags": tagging.to_list(doc.get("tags")),
    }


class ImageOperations(EC2Core):
    def setup_images(self) -> None:
        self.env.loops.add(Loop(IMAGE_LOOP, self.reconcile_image, clock=self.env.clock,
                                resync=self.resync_images, resync_interval=60.0))

    async def resync_images(self) -> Iterable[str]:
        return [f"{d['account']}|{d['region']}|{d['id']}" for d in self.store.resources.list(IMAGE)]

    def launch_image(self, call: Call, image_id: str | None) -> dict[str, Any]:
        """An image to launch: ``layers`` (top first) and the described ``ImageId``."""
        if image_id and image_id not in images() and image_id.startswith("ami-"):
            doc = self.store.resources.get(IMAGE, call.account, call.region, image_id)
            if doc is not None and doc["state"] != "deregistered":
                if doc["state"] != "available":
                    raise AWSError("InvalidAMIID.Unavailable",
                                   f"The image id '[{image_id}]' is not available yet")
                return {"ImageId": doc["id"], "layers": doc["layers"]}
        return {**find_image(image_id), "layers": []}

    def create_image(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("Name") or ""
        if not _NAME.fullmatch(name):
            raise AWSError("InvalidAMIName.Malformed",
                           "AMI names must be between 3 and 128 characters long, and may "
                           "contain letters, numbers, '(', ')', '.', '-', '/', '_', ' ', '[', "
                           "']', ''' and '@'")
        tags: dict[str, str] = {}
        for spec in params.get("TagSpecifications") or []:
            if spec.get("ResourceType") == "image":
                tags.update(tagging.to_dict(spec.get("Tags")))
        with self.store.tx():
            instance = self.instance(call, params.get("InstanceId", ""))
            if instance["state"] not in ("running", "stopped"):
                raise AWSError("IncorrectInstanceState",
                               f"The instance '{instance['id']}' is not in a state from which "
                               "an image can be created.")
            if self.store.resources.list(IMAGE, call.account, call.region,
                                         where=lambda d: d["name"] == name
                                         and d["state"] != "deregistered"):
                raise AWSError("InvalidAMIName.Duplicate",
                               f"AMI name {name} is already in use by an AMI")
            image_id = hex_id("ami")
            doc = {"id": image_id, "account": call.account, "region": call.region,
                   "name": name, "description": params.get("Description"), "tags": tags,
                   "instance_id": instance["id"], "state": "pending", "created": self.now(),
                   "layers": [image_id]}
            self.store.resources.put(IMAGE, call.account, call.region, image_id, doc)
        self._wake_image(call.account, call.region, image_id)
        return {"ImageId": image_id}

    def deregister_image(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        image_id = params.get("ImageId") or ""
        with self.store.tx():
            doc = self.store.resources.get(IMAGE, call.account, call.region, image_id)
            if doc is None or doc["state"] == "deregistered":
                if image_id in images():
                    raise AWSError("AuthFailure",
                                   f"Not authorized for image:{image_id}")
                raise AWSError("InvalidAMIID.NotFound",
                               f"The image id '[{image_id}]' does not exist")
            doc["state"] = "deregistered"
            self.store.resources.put(IMAGE, call.account, call.region, image_id, doc)
        self._wake_image(call.account, call.region, image_id)
        return {"Return": True}

    def own_images(self, call: Call) -> list[dict[str, Any]]:
        return [_view(d) for d in self.store.resources.list(
            IMAGE, call.account, call.region, where=lambda d: d["state"] != "deregistered")]

    def describe_images(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        owners = params.get("Owners")
        found: list[dict[str, Any]] = []
        if not owners or any(o in ("amazon", "gureum", "000000000000") for o in owners):
            found += list(images().values())
        if not owners or any(o in ("self", call.account) for o in owners):
            found += self.own_images(call)
        ids = params.get("ImageIds")
        if ids:
            known = {i["ImageId"] for i in found} | {i["ImageId"] for i in self.own_images(call)}
            for image_id in ids:
                if image_id not in known:
                    find_image(image_id)  # the malformed/not-found error
            found = [i for i in found if i["ImageId"] in ids]
        found = list({i["ImageId"]: i for i in found}.values())
        return {"Images": filters.apply(found, params.get("Filters"), _IMAGE_FILTERS)}

    def _wake_image(self, account: str, region: str, image_id: str) -> None:
        if IMAGE_LOOP in self.env.loops:
            self.env.loops.wake(IMAGE_LOOP, f"{account}|{region}|{image_id}")

    async def reconcile_image(self, key: str) -> float | None:
        account, region, image_id = key.split("|")
        doc = self.store.resources.get(IMAGE, account, region, image_id)
        if doc is None:
            return None
        if doc["state"] == "pending":
            await self.driver.capture(doc["instance_id"], image_id)
            with self.store.tx():
                fresh = self.store.resources.get(IMAGE, account, region, image_id)
                if fresh is not None and fresh["state"] == "pending":
                    fresh["state"] = "available"
                    self.store.resources.put(IMAGE, account, region, image_id, fresh)
            return None
        if doc["state"] == "deregistered":
            users = self.store.resources.list(
                INSTANCE, where=lambda d: d["state"] != "terminated"
                and image_id in (d.get("layers") or []))
            if users:
                return 30.0
            await self.driver.drop_layer(image_id)
            with self.store.tx():
                self.store.resources.delete(IMAGE, account, region, image_id)
        return None
