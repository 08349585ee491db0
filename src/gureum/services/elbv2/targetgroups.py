"""Target groups and their targets: create/describe/modify/delete, attributes,
register/deregister (draining for the deregistration delay)."""

from __future__ import annotations

import re
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import tags as tagutil
from .core import (
    TG,
    Doc,
    ELBv2Core,
    arn,
    check_name,
    check_port,
    default_vpc_id,
    new_hex,
    page,
    validation,
)

HTTP_PROTOCOLS = ("HTTP", "HTTPS")
STREAM_PROTOCOLS = ("TCP", "TLS", "UDP", "TCP_UDP")
ALB_TG_ATTRIBUTES = {
    "deregistration_delay.timeout_seconds": "300",
    "stickiness.enabled": "false",
    "stickiness.type": "lb_cookie",
    "stickiness.lb_cookie.duration_seconds": "86400",
    "stickiness.app_cookie.cookie_name": "",
    "stickiness.app_cookie.duration_seconds": "86400",
    "load_balancing.algorithm.type": "round_robin",
    "load_balancing.algorithm.anomaly_mitigation": "off",
    "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
    "slow_start.duration_seconds": "0",
}
NLB_TG_ATTRIBUTES = {
    "deregistration_delay.timeout_seconds": "300",
    "deregistration_delay.connection_termination.enabled": "false",
    "stickiness.enabled": "false",
    "stickiness.type": "source_ip",
    "proxy_protocol_v2.enabled": "false",
    "preserve_client_ip.enabled": "false",
    "load_balancing.cross_zone.enabled": "use_load_balancer_configuration",
}
_MATCHER = re.compile(r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*")


def _int_range(params: dict[str, Any], key: str, low: int, high: int) -> None:
    value = params.get(key)
    if value is not None and not low <= int(value) <= high:
        raise validation(f"{key} must be between {low} and {high}")


def matcher_codes(matcher: str) -> tuple[int, ...]:
    codes: list[int] = []
    for part in matcher.split(","):
        low, _, high = part.partition("-")
        codes += range(int(low), int(high or low) + 1)
    return tuple(codes)


def _check_attribute(key: str, value: str) -> None:
    numeric = {"deregistration_delay.timeout_seconds": (0, 3600),
               "stickiness.lb_cookie.duration_seconds": (1, 604800),
               "stickiness.app_cookie.duration_seconds": (1, 604800),
               "slow_start.duration_seconds": (0, 900)}
    if key in numeric:
        low, high = numeric[key]
        if not value.isdigit() or not low <= int(value) <= high:
            raise validation(f"'{key}' must be an integer between {low} and {high}")
        if key == "slow_start.duration_seconds" and 0 < int(value) < 30:
            raise validation("Slow start duration must be 0 or between 30 and 900 seconds")
    elif key.endswith(".enabled") and key != "load_balancing.cross_zone.enabled":
        if value not in ("true", "false"):
            raise validation(f"'{key}' must be 'true' or 'false'")
    elif key == "load_balancing.algorithm.type":
        if value not in ("round_robin", "least_outstanding_requests",
                         "weighted_random"):
            raise validation(f"'{value}' is not a valid load balancing algorithm")
    elif key == "stickiness.type" and value not in ("lb_cookie", "app_cookie", "source_ip"):
        raise validation(f"'{value}' is not a valid stickiness type")


class TargetGroupOperations(ELBv2Core):
    def _health_settings(self, doc: Doc, params: dict[str, Any], creating: bool) -> None:
        stream = doc["protocol"] in STREAM_PROTOCOLS
        hc = doc.setdefault("hc", {})
        if creating:
            hc.update({
                "protocol": "TCP" if stream else doc["protocol"], "port": "traffic-port",
                "enabled": True, "interval": 30, "timeout": 10 if stream else 5,
                "healthy": 5, "unhealthy": 2, "path": None if stream else "/",
                "matcher": None if stream else "200",
            })
        _int_range(params, "HealthCheckIntervalSeconds", 5, 300)
        _int_range(params, "HealthCheckTimeoutSeconds", 2, 120)
        _int_range(params, "HealthyThresholdCount", 2, 10)
        _int_range(params, "UnhealthyThresholdCount", 2, 10)
        mapping = {"HealthCheckProtocol": "protocol", "HealthCheckPort": "port",
                   "HealthCheckEnabled": "enabled", "HealthCheckIntervalSeconds": "interval",
                   "HealthCheckTimeoutSeconds": "timeout", "HealthyThresholdCount": "healthy",
                   "UnhealthyThresholdCount": "unhealthy", "HealthCheckPath": "path"}
        for key, field in mapping.items():
            if params.get(key) is not None:
                hc[field] = params[key]
        if hc["protocol"] not in ("HTTP", "HTTPS", "TCP"):
            raise validation(f"Health check protocol '{hc['protocol']}' is not supported")
        if hc["protocol"] in HTTP_PROTOCOLS and not hc.get("path"):
            hc["path"] = "/"
        if hc.get("path") and not str(hc["path"]).startswith("/"):
            raise validation("Health check path must begin with a '/' character")
        port = str(hc["port"])
        if port != "traffic-port" and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise validation("Health check port must be 'traffic-port' or 1-65535")
        matcher = params.get("Matcher")
        if matcher:
            code = matcher.get("HttpCode")
            if matcher.get("GrpcCode") or not code or not _MATCHER.fullmatch(code):
                raise validation(f"Health check matcher HTTP code '{code}' is not valid")
            if not all(200 <= c <= 499 for c in matcher_codes(code)):
                raise validation("Health check matcher codes must be between 200 and 499")
            hc["matcher"] = code
        if hc["protocol"] in HTTP_PROTOCOLS and not hc.get("matcher"):
            hc["matcher"] = "200"
        if creating and params.get("HealthCheckTimeoutSeconds") is None:
            hc["timeout"] = max(2, min(int(hc["timeout"]), int(hc["interval"]) - 1))
        if int(hc["timeout"]) >= int(hc["interval"]):
            raise validation("Health check timeout must be smaller than the interval")

    def create_target_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = check_name(params.get("Name"), "Target group")
        target_type = params.get("TargetType") or "instance"
        if target_type not in ("instance", "ip", "lambda", "alb"):
            raise validation(f"Target type '{target_type}' is not valid")
        if target_type in ("lambda", "alb"):
            raise AWSError("UnsupportedProtocol",
                           f"Target type '{target_type}' is not supported here")
        protocol = params.get("Protocol")
        if protocol is None:
            raise validation("A protocol must be specified")
        if protocol not in HTTP_PROTOCOLS + STREAM_PROTOCOLS + ("GENEVE",):
            raise validation(f"Protocol '{protocol}' is not valid")
        if protocol in ("UDP", "TCP_UDP", "GENEVE", "TLS", "HTTPS"):
            raise AWSError("UnsupportedProtocol", f"Protocol '{protocol}' is not supported here")
        port = check_port(params.get("Port"))
        tags = tagutil.to_dict(params.get("Tags"), "ValidationError")
        doc: Doc = {
            "account": call.account, "region": call.region, "name": name,
            "protocol": protocol, "port": port, "target_type": target_type,
            "vpc": params.get("VpcId") or default_vpc_id(call.account, call.region),
            "protocol_version": params.get("ProtocolVersion") or (
                "HTTP1" if protocol in HTTP_PROTOCOLS else None),
            "ip_type": params.get("IpAddressType") or "ipv4",
            "attributes": dict(ALB_TG_ATTRIBUTES if protocol in HTTP_PROTOCOLS
                               else NLB_TG_ATTRIBUTES),
            "targets": [], "tags": tags, "created": self.now(),
        }
        self._health_settings(doc, params, creating=True)
        with self.store.tx():
            for other in self.all(call, TG):
                if other["name"] == name:
                    same = all(other[k] == doc[k] for k in ("protocol", "port", "target_type"))
                    if same and other["hc"] == doc["hc"]:
                        return {"TargetGroups": [self.render_tg(call, other)]}
                    raise AWSError("DuplicateTargetGroupName",
                                   f"A target group with the name '{name}' already exists")
            doc["arn"] = arn(call, f"targetgroup/{name}/{new_hex()}")
            self.put(TG, doc)
        return {"TargetGroups": [self.render_tg(call, doc)]}

    def render_tg(self, call: Call, doc: Doc) -> dict[str, Any]:
        hc = doc["hc"]
        out: dict[str, Any] = {
            "TargetGroupArn": doc["arn"], "TargetGroupName": doc["name"],
            "Protocol": doc["protocol"], "Port": doc["port"], "VpcId": doc["vpc"],
            "HealthCheckProtocol": hc["protocol"], "HealthCheckPort": str(hc["port"]),
            "HealthCheckEnabled": bool(hc["enabled"]),
            "HealthCheckIntervalSeconds": int(hc["interval"]),
            "HealthCheckTimeoutSeconds": int(hc["timeout"]),
            "HealthyThresholdCount": int(hc["healthy"]),
            "UnhealthyThresholdCount": int(hc["unhealthy"]),
            "LoadBalancerArns": self.lbs_of_tg(call, doc["arn"]),
            "TargetType": doc["target_type"], "IpAddressType": doc["ip_type"],
        }
        if hc.get("path"):
            out["HealthCheckPath"] = hc["path"]
        if hc.get("matcher"):
            out["Matcher"] = {"HttpCode": hc["matcher"]}
        if doc.get("protocol_version"):
            out["ProtocolVersion"] = doc["protocol_version"]
        return out

    def describe_target_groups(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        docs = self.all(call, TG)
        if params.get("LoadBalancerArn"):
            lb_arn = self.lb(call, params["LoadBalancerArn"])["arn"]
            docs = [d for d in docs if lb_arn in self.lbs_of_tg(call, d["arn"])]
        if params.get("TargetGroupArns"):
            by_arn = {d["arn"]: d for d in docs}
            missing = [a for a in params["TargetGroupArns"] if a not in by_arn]
            if missing:
                raise AWSError("TargetGroupNotFound", f"Target groups '{missing}' not found")
            docs = [by_arn[a] for a in dict.fromkeys(params["TargetGroupArns"])]
        if params.get("Names"):
            by_name = {d["name"]: d for d in docs}
            missing = [n for n in params["Names"] if n not in by_name]
            if missing:
                raise AWSError("TargetGroupNotFound", f"Target groups '{missing}' not found")
            docs = [by_name[n] for n in dict.fromkeys(params["Names"])]
        items, marker = page(docs, params)
        out: dict[str, Any] = {"TargetGroups": [self.render_tg(call, d) for d in items]}
        if marker:
            out["NextMarker"] = marker
        return out

    def modify_target_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.tg(call, params.get("TargetGroupArn", ""))
            self._health_settings(doc, params, creating=False)
            self.put(TG, doc)
        self._wake_users(call, doc["arn"])
        return {"TargetGroups": [self.render_tg(call, doc)]}

    def delete_target_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        tg_arn = params.get("TargetGroupArn", "")
        with self.store.tx():
            if self.get(call, TG, tg_arn) is None:
                return {}
            users = self.lbs_of_tg(call, tg_arn)
            if users:
                raise AWSError("ResourceInUse",
                               f"Target group '{tg_arn}' is currently in use by a listener "
                               "or a rule")
            self.store.resources.delete(TG, call.account, call.region, tg_arn)
        return {}

    def describe_target_group_attributes(self, call: Call, params: dict[str, Any]
                                         ) -> dict[str, Any]:
        doc = self.tg(call, params.get("TargetGroupArn", ""))
        return {"Attributes": [{"Key": k, "Value": v} for k, v in doc["attributes"].items()]}

    def modify_target_group_attributes(self, call: Call, params: dict[str, Any]
                                       ) -> dict[str, Any]:
        with self.store.tx():
            doc = self.tg(call, params.get("TargetGroupArn", ""))
            for item in params.get("Attributes") or []:
                key, value = item.get("Key", ""), str(item.get("Value", ""))
                if key not in doc["attributes"]:
                    raise validation(f"Target group attribute key '{key}' is not recognized")
                _check_attribute(key, value)
                doc["attributes"][key] = value
            self.put(TG, doc)
        self._wake_users(call, doc["arn"])
        return {"Attributes": [{"Key": k, "Value": v} for k, v in doc["attributes"].items()]}

    def _wake_users(self, call: Call, tg_arn: str) -> None:
        for lb_arn in self.lbs_of_tg(call, tg_arn):
            self.wake(lb_arn)

    # -- targets ----------------------------------------------------------

    def _targets(self, call: Call, doc: Doc, given: Any) -> list[tuple[str, int]]:
        if not given:
            raise validation("At least one target must be specified")
        out = []
        for t in given:
            target_id = t.get("Id")
            port = t.get("Port") or doc["port"]
            check_port(port)
            if doc["target_type"] == "ip":
                parts = str(target_id).split(".")
                if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
                    raise AWSError("InvalidTarget",
                                   f"The IP address '{target_id}' is not a valid IPv4 address")
            elif doc["target_type"] == "instance":
                inst = self.store.resources.get("ec2:instance", call.account, call.region,
                                                target_id)
                if inst is None or inst.get("state") == "terminated":
                    raise AWSError("InvalidTarget",
                                   f"The following targets are not valid instances: "
                                   f"'{target_id}'")
            out.append((str(target_id), int(port)))
        return out

    def register_targets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.tg(call, params.get("TargetGroupArn", ""))
            targets = self._targets(call, doc, params.get("Targets"))
            existing = {(t["id"], t["port"]): t for t in doc["targets"]}
            for target_id, port in targets:
                t = existing.get((target_id, port))
                if t is None:
                    doc["targets"].append({"id": target_id, "port": port, "state": "registered",
                                           "since": self.now()})
                elif t["state"] == "draining":  # registered again while draining
                    t.update(state="registered", until=None)
            self.put(TG, doc)
        self._wake_users(call, doc["arn"])
        return {}

    def deregister_targets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.tg(call, params.get("TargetGroupArn", ""))
            targets = self._targets(call, doc, params.get("Targets"))
            existing = {(t["id"], t["port"]): t for t in doc["targets"]}
            delay = int(doc["attributes"]["deregistration_delay.timeout_seconds"])
            in_use = bool(self.lbs_of_tg(call, doc["arn"]))
            for target_id, port in targets:
                t = existing.get((target_id, port))
                if t is None:
                    raise AWSError("InvalidTarget",
                                   f"The target '{target_id}:{port}' is not registered")
                if not in_use or delay == 0:
                    doc["targets"].remove(t)
                elif t["state"] != "draining":
                    t.update(state="draining", until=self.now() + delay)
            self.put(TG, doc)
        self._wake_users(call, doc["arn"])
        return {}
