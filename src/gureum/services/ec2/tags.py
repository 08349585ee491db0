"""CreateTags, DeleteTags, DescribeTags over instances, key pairs and the
default VPC's resources (whose tags are kept apart, by resource id)."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from ..common import tags as tagging
from .core import BY_PREFIX, INSTANCE, KEYPAIR, TAGS, EC2Core

_TYPES = {"i": "instance", "key": "key-pair", "vpc": "vpc", "subnet": "subnet",
          "sg": "security-group", "ami": "image", "dopt": "dhcp-options",
          "lt": "launch-template"}


class TagOperations(EC2Core):
    def _tagged(self, call: Call, resource_id: str) -> tuple[str, str, dict[str, Any]]:
        """(kind, store id, document) of a taggable resource."""
        prefix = resource_id.rsplit("-", 1)[0]
        if prefix == "i":
            return INSTANCE, resource_id, self.instance(call, resource_id)
        if prefix == "key":
            for doc in self.store.resources.list(KEYPAIR, call.account, call.region):
                if doc["id"] == resource_id:
                    return KEYPAIR, doc["name"], doc
            raise AWSError("InvalidKeyPair.NotFound",
                           f"The key pair '{resource_id}' does not exist")
        if prefix not in _TYPES:
            raise AWSError("InvalidID", f"The ID '{resource_id}' is not valid")
        if prefix in BY_PREFIX:
            own = self.store.resources.get(BY_PREFIX[prefix], call.account, call.region,
                                           resource_id)
            if own is not None:
                return BY_PREFIX[prefix], resource_id, own
            if prefix == "lt":
                raise AWSError("InvalidLaunchTemplateId.NotFound",
                               f"The launch template ID '{resource_id}' does not exist")
        doc = self.store.resources.get(TAGS, call.account, call.region, resource_id)
        return TAGS, resource_id, doc or {"id": resource_id, "tags": {}}

    def create_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        added = tagging.to_dict(params.get("Tags"))
        with self.store.tx():
            for rid in params.get("Resources") or []:
                kind, key, doc = self._tagged(call, rid)
                doc["tags"] = tagging.merge(doc.get("tags") or {}, added)
                self.store.resources.put(kind, call.account, call.region, key, doc)
                if kind == INSTANCE:
                    self.written(key)
        self.generation += 1  # instance records may have changed
        return {}

    def delete_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            for rid in params.get("Resources") or []:
                kind, key, doc = self._tagged(call, rid)
                tags = dict(doc.get("tags") or {})
                for tag in params.get("Tags") or [{"Key": k} for k in list(tags)]:
                    k = tag.get("Key")
                    if k in tags and ("Value" not in tag or tag["Value"] == tags[k]):
                        del tags[k]
                doc["tags"] = tags
                self.store.resources.put(kind, call.account, call.region, key, doc)
                if kind == INSTANCE:
                    self.written(key)
        self.generation += 1  # instance records may have changed
        return {}

    def describe_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        rows = []
        for kind in (INSTANCE, KEYPAIR, TAGS, *BY_PREFIX.values()):
            for doc in self.store.resources.list(kind, call.account, call.region):
                rtype = _TYPES.get(doc["id"].rsplit("-", 1)[0], "")
                for k, v in (doc.get("tags") or {}).items():
                    rows.append({"ResourceId": doc["id"], "ResourceType": rtype,
                                 "Key": k, "Value": v})
        getters = {
            "resource-id": filters.field("ResourceId"),
            "resource-type": filters.field("ResourceType"),
            "key": filters.field("Key"), "value": filters.field("Value"),
        }
        rows = filters.apply(rows, params.get("Filters"), getters)
        rows.sort(key=lambda r: (r["ResourceId"], r["Key"]))
        return {"Tags": rows}
