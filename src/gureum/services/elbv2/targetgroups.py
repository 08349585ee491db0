"""Target groups and their targets: create/describe/modify/delete, attributes,
register/deregister (draining for the deregistration delay).

A target group is in a VPC: the default one unless ``VpcId`` names another
(AWS requires ``VpcId`` for instance and ip targets; gureum takes the default
VPC then, as most of its callers want). Its instance targets must be
instances of that VPC, its ip targets addresses of the VPC's range or of a
private range (RFC 1918, RFC 6598) outside it, where AWS wants
``AvailabilityZone`` ``all``; or addresses on this host's loopback (gureum's
own: programs on the host as targets).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..ec2.regions import zones
from .core import (
    TG,
    Doc,
    ELBv2Core,
    arn,
    check_arn,
    check_name,
    check_port,
    check_tags,
    default_vpc_id,
    new_hex,
    page,
    validation,
)
from .limits import TARGET_GROUPS

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
VPC = "ec2:vpc"  # EC2's records of the VPCs users create
INSTANCE = "ec2:instance"
# Where ip targets outside their VPC may be (AWS: RFC 1918 and RFC 6598), and
# the host's loopback (gureum: programs on this host).
PRIVATE_RANGES = tuple(ipaddress.IPv4Network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
PROTOCOL_VERSIONS = ("HTTP1", "HTTP2", "GRPC")


def _int_range(params: dict[str, Any], key: str, low: int, high: int) -> None:
    value = params.get(key)
    if value is not None and not low <= int(value) <= high:
        raise validation(f"{key} must be between {low} and {high}")


def matcher_codes(matcher: str) -> tuple[int, ...]:
    codes: list[int] = []
    for part in matcher.split(","):
        low, _, high = part.partition("-")
        if int(high or low) < int(low):
            raise validation(f"Health check matcher range '{part}' must go from the lower "
                             "code to the higher")
        codes += range(int(low), int(high or low) + 1)
    return tuple(codes)


def _check_attribute(key: str, value: str, protocol: str) -> None:
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
    elif key == "stickiness.type" and value not in (
            ("lb_cookie", "app_cookie") if protocol in HTTP_PROTOCOLS else ("source_ip",)):
        raise validation(f"'{value}' is not a valid stickiness type for {protocol} target "
                         "groups")
    elif key == "load_balancing.cross_zone.enabled" and value not in (
            "true", "false", "use_load_balancer_configuration"):
        raise validation(f"'{key}' must be 'true', 'false' or "
                         "'use_load_balancer_configuration'")


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
        if hc["protocol"] == "TCP":
            if doc["protocol"] in HTTP_PROTOCOLS:
                raise validation("Health check protocol 'TCP' is not supported for target "
                                 f"groups with the {doc['protocol']} protocol")
            for key in ("HealthCheckPath", "Matcher"):
                if params.get(key) is not None:
                    raise validation(f"{key} cannot be given for TCP health checks")
            hc["path"] = hc["matcher"] = None
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

    def _vpc_id(self, call: Call, given: Any) -> str:
        """The VPC a new target group is in: ``given``, which must exist (else
        AWS's ValidationError), or the default VPC."""
        default = default_vpc_id(call.account, call.region)
        if given is None or given == default:
            return default
        found = (self.store.resources.get(VPC, call.account, call.region, given)
                 if isinstance(given, str) and given else None)
        if found is None:
            raise validation(f"The VPC ID '{given}' is not found")
        return str(given)

    def _vpc_ranges(self, call: Call, vpc_id: str) -> list[ipaddress.IPv4Network] | None:
        """The address range of a VPC (None when unknown: no EC2 here, or the
        default VPC where the host has no range for it)."""
        own = self.store.resources.get(VPC, call.account, call.region, vpc_id)
        if own is not None:
            return [ipaddress.IPv4Network(own["cidr"])]
        ec2 = (self.env.extras.get("services") or {}).get("ec2")
        if ec2 is None or not hasattr(ec2, "vpc_cidr"):
            return None
        try:
            return [ipaddress.IPv4Network(ec2.vpc_cidr())]
        except AWSError:  # (no range on this host for the default VPC)
            return None

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
        tags = check_tags(params.get("Tags"))
        version = params.get("ProtocolVersion")
        if version is not None and (protocol not in HTTP_PROTOCOLS
                                    or version not in PROTOCOL_VERSIONS):
            raise validation(f"Protocol version '{version}' is not valid: HTTP1, HTTP2 or "
                             "GRPC, for HTTP and HTTPS target groups")
        doc: Doc = {
            "account": call.account, "region": call.region, "name": name,
            "protocol": protocol, "port": port, "target_type": target_type,
            "vpc": self._vpc_id(call, params.get("VpcId")),
            "protocol_version": version or (
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
            if len(self.all(call, TG)) >= TARGET_GROUPS:
                raise AWSError("TooManyTargetGroups",
                               f"An account can have at most {TARGET_GROUPS} target groups")
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
            for a in params["TargetGroupArns"]:
                check_arn(call, a, "targetgroup")
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
        tg_arn = check_arn(call, params.get("TargetGroupArn"), "targetgroup")
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
                _check_attribute(key, value, doc["protocol"])
                doc["attributes"][key] = value
            self.put(TG, doc)
        self._wake_users(call, doc["arn"])
        return {"Attributes": [{"Key": k, "Value": v} for k, v in doc["attributes"].items()]}

    def _wake_users(self, call: Call, tg_arn: str) -> None:
        for lb_arn in self.lbs_of_tg(call, tg_arn):
            self.wake(lb_arn)

    # -- targets ----------------------------------------------------------

    def _targets(self, call: Call, doc: Doc, given: Any, registering: bool = False
                 ) -> list[tuple[str, int]]:
        """(id, port) of each target given; when ``registering``, each must be
        one the group can take (its VPC's instances, or addresses as the module
        says), with AWS's errors."""
        if not given:
            raise validation("At least one target must be specified")
        out = []
        ranges = (self._vpc_ranges(call, doc["vpc"])
                  if registering and doc["target_type"] == "ip" else None)
        for t in given:
            target_id = t.get("Id")
            port = t.get("Port") or doc["port"]
            check_port(port)
            zone = t.get("AvailabilityZone")
            if zone is not None and zone != "all" and zone not in {
                    z["ZoneName"] for z in zones(call.region)}:
                raise validation(f"Availability Zone '{zone}' is not valid in "
                                 f"{call.region}")
            if doc["target_type"] == "ip":
                try:
                    ip = ipaddress.IPv4Address(target_id)
                except ValueError:
                    raise AWSError("InvalidTarget", f"The IP address '{target_id}' is not a "
                                   "valid IPv4 address") from None
                if registering and ip not in LOOPBACK:
                    self._check_ip_target(doc, ip, zone, ranges)
            elif doc["target_type"] == "instance":
                inst = self.store.resources.get(INSTANCE, call.account, call.region,
                                                target_id) if isinstance(target_id, str) else None
                if inst is None or inst.get("state") == "terminated":
                    raise AWSError("InvalidTarget",
                                   f"The following targets are not valid instances: "
                                   f"'{target_id}'")
                if registering and inst.get("vpc_id", doc["vpc"]) != doc["vpc"]:
                    raise AWSError("InvalidTarget", "The following targets are not in the "
                                   f"target group VPC '{doc['vpc']}': '{target_id}'")
                if registering and zone is not None:
                    raise validation("An Availability Zone cannot be given for instance "
                                     "targets")
            out.append((str(target_id), int(port)))
        return out

    @staticmethod
    def _check_ip_target(doc: Doc, ip: ipaddress.IPv4Address, zone: Any,
                         ranges: list[ipaddress.IPv4Network] | None) -> None:
        """An ip target must be in its VPC, else in a private range with the
        zone ``all`` (where the VPC's range is unknown, only the latter is
        checked)."""
        if ranges is not None and any(ip in r for r in ranges):
            if zone == "all":
                raise validation(f"The IP address '{ip}' is within the VPC, and cannot have "
                                 "its Availability Zone overridden to 'all'")
            return
        if not any(ip in r for r in PRIVATE_RANGES):
            raise AWSError("InvalidTarget", f"The IP address '{ip}' is neither in the VPC "
                           f"'{doc['vpc']}' nor in a private range (10.0.0.0/8, "
                           "172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10)")
        if ranges is None or zone == "all":
            return
        if zone is None:
            raise validation(f"The Availability Zone is required for IP address '{ip}' "
                             "because it is not in the VPC")
        if doc["protocol"] in HTTP_PROTOCOLS:
            raise validation(f"The Availability Zone for IP address '{ip}' must be 'all' for "
                             "Application Load Balancer target groups, when not within the VPC")

    def register_targets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.tg(call, params.get("TargetGroupArn", ""))
            targets = self._targets(call, doc, params.get("Targets"), registering=True)
            zones_given = [t.get("AvailabilityZone") for t in params["Targets"]]
            existing = {(t["id"], t["port"]): t for t in doc["targets"]}
            for (target_id, port), zone in zip(targets, zones_given, strict=True):
                t = existing.get((target_id, port))
                if t is None:
                    t = {"id": target_id, "port": port, "state": "registered",
                         "since": self.now()}
                    doc["targets"].append(t)
                    existing[(target_id, port)] = t
                if zone:
                    t["zone"] = zone
                if t["state"] == "draining":  # registered again while draining
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
