"""Tags on load balancers, target groups, listeners and rules."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import tags as tagutil
from .core import LB, LISTENER, RULE, TG, Doc, ELBv2Core, check_arn, check_tags, validation

# An ARN's resource type -> its store kind and the error of one not found.
KINDS = {"loadbalancer": (LB, "LoadBalancerNotFound"),
         "targetgroup": (TG, "TargetGroupNotFound"),
         "listener": (LISTENER, "ListenerNotFound"),
         "listener-rule": (RULE, "RuleNotFound")}


class TagOperations(ELBv2Core):
    def _tagged(self, call: Call, resource_arn: Any) -> tuple[str, Doc]:
        """The record an ARN names: a malformed one (or one of another account
        or region) is AWS's ValidationError, one of nothing its NotFound."""
        text = resource_arn if isinstance(resource_arn, str) else ""
        resource = text.split(":", 5)[-1].split("/")[0] if text.count(":") >= 5 else ""
        if resource not in KINDS:
            raise validation(f"'{resource_arn}' is not a valid resource ARN")
        kind, code = KINDS[resource]
        doc = self.get(call, kind, check_arn(call, text, resource))
        if doc is None:
            raise AWSError(code, f"Resource '{resource_arn}' not found")
        return kind, doc

    def add_tags(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        added = check_tags(params.get("Tags"))
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
