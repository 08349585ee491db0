"""Tags on load balancers, target groups, listeners and rules."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import tags as tagutil
from .core import LB, LISTENER, RULE, TG, Doc, ELBv2Core

KINDS = (LB, TG, LISTENER, RULE)


class TagOperations(ELBv2Core):
    def _tagged(self, call: Call, resource_arn: str) -> tuple[str, Doc]:
        for kind in KINDS:
            doc = self.get(call, kind, resource_arn)
            if doc is not None:
                return kind, doc
        code = {"loadbalancer": "LoadBalancerNotFound", "targetgroup": "TargetGroupNotFound",
                "listener": "ListenerNotFound", "listener-rule": "RuleNotFound"}
        resource = resource_arn.split(":", 5)[-1].split("/")[0] if resource_arn else ""
        raise AWSError(code.get(resource, "ValidationError"),
                       f"Resource '{resource_arn}' not found")

    def add_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        added = tagutil.to_dict(params.get("Tags"), "ValidationError")
        with self.store.tx():
            for resource_arn in params.get("ResourceArns") or []:
                kind, doc = self._tagged(call, resource_arn)
                doc["tags"] = {**doc.get("tags", {}), **added}
                if len(doc["tags"]) > tagutil.MAX_TAGS:
                    raise AWSError("TooManyTags", "A resource can have at most 50 tags")
                self.put(kind, doc)
        return {}

    def remove_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            for resource_arn in params.get("ResourceArns") or []:
                kind, doc = self._tagged(call, resource_arn)
                for key in params.get("TagKeys") or []:
                    doc.get("tags", {}).pop(key, None)
                self.put(kind, doc)
        return {}

    def describe_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        out = []
        for resource_arn in params.get("ResourceArns") or []:
            _, doc = self._tagged(call, resource_arn)
            out.append({"ResourceArn": resource_arn,
                        "Tags": tagutil.to_list(doc.get("tags"))})
        return {"TagDescriptions": out}
