"""Load balancers: create, describe, delete, attributes.

A new load balancer is ``provisioning`` until the data-plane loop has its
proxy listening, then ``active``. It gets an address in each of its subnets
(or one loopback address without an instance network: ``addresses``); its
DNS name (AWS's format, under ``gureum.internal``) resolves on this machine
to the first.

What EC2 answers about a load balancer's subnets is said in ELB's words (its
model's errors): a host with no range left for the default VPC's network,
or a subnet with no free address, is ``InvalidSubnet`` ("the specified
subnet is out of available addresses", a client error as AWS has it, where
EC2 says ``InsufficientInstanceCapacity``, 500, of the same host), and the
load balancer is not made."""

from __future__ import annotations

import functools
import ipaddress
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from gureum.errors import AWSError

from ..base import Call
from ..ec2.regions import zones
from .addresses import SUBNET
from .core import (
    LB,
    LISTENER,
    RULE,
    Doc,
    arn,
    check_arn,
    check_name,
    check_tags,
    default_subnet_id,
    default_vpc_id,
    new_hex,
    page,
    validation,
)
from .limits import LOAD_BALANCERS
from .secgroups import SecurityGroupOperations

# Not under ``localhost``: curl and browsers answer every *.localhost name with
# 127.0.0.1 themselves, without looking at /etc/hosts (RFC 6761), so a load
# balancer on its own 127.x.y.z would be unreachable by its name.
DOMAIN = "gureum.internal"
ALB_ATTRIBUTES = {
    "deletion_protection.enabled": "false",
    "idle_timeout.timeout_seconds": "60",
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
    "routing.http2.enabled": "true",
    "routing.http.drop_invalid_header_fields.enabled": "false",
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
    "routing.http.xff_client_port.enabled": "false",
    "routing.http.xff_header_processing.mode": "append",
    "waf.fail_open.enabled": "false",
}
NLB_ATTRIBUTES = {
    "deletion_protection.enabled": "false",
    "load_balancing.cross_zone.enabled": "false",
    "access_logs.s3.enabled": "false",
    "access_logs.s3.bucket": "",
    "access_logs.s3.prefix": "",
}


# EC2's codes for what it answers about subnets -> ELB's for the same.
NO_ROOM = "The specified subnet is out of available addresses: "
EC2_CODES = {"InsufficientInstanceCapacity": ("InvalidSubnet", NO_ROOM),
             "InsufficientFreeAddressesInSubnet": ("InvalidSubnet", NO_ROOM),
             "InvalidSubnetID.NotFound": ("SubnetNotFound", ""),
             "Unsupported": ("InvalidConfigurationRequest", "")}
XFF_MODES = ("append", "preserve", "remove")
Operation = TypeVar("Operation", bound=Callable[..., dict[str, Any]])


def in_elb_words(operation: Operation) -> Operation:
    """``operation`` answering EC2's errors about subnets with ELB's (400)."""
    @functools.wraps(operation)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return operation(*args, **kwargs)
        except AWSError as exc:
            if exc.code not in EC2_CODES:
                raise
            code, prefix = EC2_CODES[exc.code]
            raise AWSError(code, prefix + exc.message, 400, sender=True) from None
    return wrapper  # type: ignore[return-value]


def _check_attribute(key: str, value: str) -> None:
    if key.endswith(".enabled") and value not in ("true", "false"):
        raise validation(f"Load balancer attribute '{key}' must be 'true' or 'false'")
    if key == "routing.http.xff_header_processing.mode" and value not in XFF_MODES:
        raise validation(f"'{key}' must be 'append', 'preserve' or 'remove'")
    bad_timeout = not value.isdigit() or not 1 <= int(value) <= 4000
    if key == "idle_timeout.timeout_seconds" and bad_timeout:
        raise validation("Idle timeout must be an integer between 1 and 4000 seconds")


def _addresses(doc: Doc, subnet_id: str) -> list[dict[str, str]]:
    """A network load balancer's address in one subnet, as AWS shows it (an
    application load balancer's are not shown, as in AWS)."""
    for a in doc.get("addresses") or []:
        if a["SubnetId"] == subnet_id:
            return [{"IpAddress": a["address"], "PrivateIPv4Address": a["address"]}]
    return [{"IpAddress": doc.get("address", "")}]  # (one loopback address for all)


class LoadBalancerOperations(SecurityGroupOperations):
    def _subnets(self, call: Call, params: dict[str, Any]) -> list[dict[str, str]]:
        known = {default_subnet_id(call.account, call.region, z["ZoneName"]): z["ZoneName"]
                 for z in zones(call.region)}
        given = list(params.get("Subnets") or [])
        for m in params.get("SubnetMappings") or []:
            if m.get("AllocationId"):  # (gureum has no Elastic IP addresses)
                raise AWSError("AllocationIdNotFound",
                               f"The allocation ID '{m['AllocationId']}' does not exist")
            if not m.get("SubnetId"):
                raise validation("Each subnet mapping must specify a subnet ID")
            given.append(m["SubnetId"])
        if not given:
            given = list(known)
        out = []
        default_vpc = default_vpc_id(call.account, call.region)
        for subnet in dict.fromkeys(given):
            if subnet in known:
                out.append({"SubnetId": subnet, "ZoneName": known[subnet],
                            "VpcId": default_vpc})
                continue
            own = (self.store.resources.get(SUBNET, call.account, call.region, subnet)
                   if isinstance(subnet, str) else None)
            if own is None:
                raise AWSError("SubnetNotFound", f"The subnet ID '{subnet}' is not valid")
            out.append({"SubnetId": subnet, "ZoneName": own["az"], "VpcId": own["vpc_id"]})
        if len({s["VpcId"] for s in out}) > 1:
            raise AWSError("InvalidConfigurationRequest",
                           "The subnets of a load balancer must all be in the same VPC")
        zones_seen = [s["ZoneName"] for s in out]
        if len(set(zones_seen)) < len(zones_seen):
            raise AWSError("InvalidConfigurationRequest", "A load balancer cannot be attached "
                           "to multiple subnets in the same Availability Zone")
        ec2 = self._ec2()
        if out[0]["VpcId"] == default_vpc and ec2 is not None and hasattr(ec2, "vpc_cidr"):
            ec2.vpc_cidr()  # (the default VPC must have its range on this host)
        return out

    @staticmethod
    def _wanted_addresses(params: dict[str, Any]) -> dict[str, str]:
        """Subnet -> the private address asked for in it (internal NLBs only)."""
        wanted = {m["SubnetId"]: str(m["PrivateIPv4Address"])
                  for m in params.get("SubnetMappings") or []
                  if m.get("SubnetId") and m.get("PrivateIPv4Address") is not None}
        for address in wanted.values():
            try:
                ipaddress.IPv4Address(address)
            except ValueError:
                raise validation(f"'{address}' is not a valid IPv4 address") from None
        if wanted and ((params.get("Type") or "application") != "network"
                       or params.get("Scheme") != "internal"):
            raise validation("A private IPv4 address can be given only for the subnets of "
                             "an internal network load balancer")
        return wanted

    @in_elb_words
    def create_load_balancer(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = check_name(params.get("Name"), "Load balancer")
        if name.lower().startswith("internal-"):
            raise validation("Load balancer names cannot start with 'internal-'")
        kind = params.get("Type") or "application"
        if kind not in ("application", "network"):
            raise AWSError("UnsupportedProtocol" if kind == "gateway" else "ValidationError",
                           f"Load balancer type '{kind}' is not supported")
        scheme = params.get("Scheme") or "internet-facing"
        if scheme not in ("internet-facing", "internal"):
            raise AWSError("InvalidScheme", f"Scheme '{scheme}' is not valid")
        tags = check_tags(params.get("Tags"))
        if (params.get("IpAddressType") or "ipv4") != "ipv4":  # (no subnet here has IPv6)
            raise validation("You must specify subnets with an associated IPv6 CIDR block.")
        subnets = self._subnets(call, params)
        groups = self.check_groups(call, params.get("SecurityGroups") or [],
                                   subnets[0]["VpcId"])
        if kind == "application" and not groups:
            groups = self.default_groups(call, subnets[0]["VpcId"])
        wanted = self._wanted_addresses(params)
        if kind == "application" and len(subnets) < 2:
            raise validation("At least two subnets in two different Availability Zones "
                             "must be specified")
        with self.store.tx():
            for other in self.all(call, LB):
                if other["name"] == name:
                    if other["type"] == kind and other["scheme"] == scheme:
                        return {"LoadBalancers": [self.render_lb(other)]}  # idempotent
                    raise AWSError("DuplicateLoadBalancerName",
                                   f"A load balancer with the name '{name}' already exists")
            if sum(o["type"] == kind for o in self.all(call, LB)) >= LOAD_BALANCERS:
                raise AWSError("TooManyLoadBalancers", f"An account can have at most "
                               f"{LOAD_BALANCERS} {kind} load balancers")
            short = "app" if kind == "application" else "net"
            hexid = new_hex()
            lb_arn = arn(call, f"loadbalancer/{short}/{name}/{hexid}")
            prefix = "internal-" if scheme == "internal" else ""
            number = secrets.randbelow(9 * 10**9) + 10**9
            dns = (f"{prefix}{name}-{number}.{call.region}.elb.{DOMAIN}"
                   if kind == "application"
                   else f"{prefix}{name}-{hexid[:16]}.elb.{call.region}.{DOMAIN}")
            doc: Doc = {
                "arn": lb_arn, "account": call.account, "region": call.region, "name": name,
                "type": kind, "scheme": scheme, "state": "provisioning", "reason": None,
                "dns": dns.lower(), "subnets": subnets, "created": self.now(),
                "security_groups": groups,
                "ip_type": params.get("IpAddressType") or "ipv4",
                "attributes": dict(ALB_ATTRIBUTES if kind == "application"
                                   else NLB_ATTRIBUTES),
                "tags": tags,
            }
            doc["addresses"] = self.allocate_addresses(call, lb_arn, subnets, wanted)
            if doc["addresses"]:
                doc["address"] = doc["addresses"][0]["address"]
            self.put(LB, doc)
        if not doc["addresses"]:
            doc["address"] = self.env.addresses.allocate(lb_arn)
            with self.store.tx():
                self.put(LB, doc)
        self.wake(lb_arn)
        self.groups_changed(call, set(groups))
        return {"LoadBalancers": [self.render_lb(doc)]}

    @in_elb_words
    def set_subnets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        """New subnets: addresses in new ones are allocated now; those of subnets
        left are released by the loop once the proxy no longer listens there."""
        if not params.get("Subnets") and not params.get("SubnetMappings"):
            raise validation("Subnets or subnet mappings must be specified")
        with self.store.tx():
            doc = self.lb(call, params.get("LoadBalancerArn", ""))
            subnets = self._subnets(call, params)
            if subnets[0]["VpcId"] != (doc["subnets"][0].get("VpcId") or subnets[0]["VpcId"]):
                raise AWSError("InvalidConfigurationRequest",
                               "The subnets must be in the load balancer's VPC")
            if doc["type"] == "application" and len(subnets) < 2:
                raise validation("At least two subnets in two different Availability Zones "
                                 "must be specified")
            wanted = self._wanted_addresses({**params, "Type": doc["type"],
                                             "Scheme": doc["scheme"]})
            if doc.get("addresses"):
                held = {a["SubnetId"]: a for a in doc["addresses"]}
                fresh = self.allocate_addresses(
                    call, doc["arn"], [s for s in subnets if s["SubnetId"] not in held], wanted)
                by_subnet = {**held, **{a["SubnetId"]: a for a in fresh}}
                doc["addresses"] = [by_subnet[s["SubnetId"]] for s in subnets]
                doc["address"] = doc["addresses"][0]["address"]
            doc["subnets"] = subnets
            self.put(LB, doc)
        self.wake(doc["arn"])
        self.groups_changed(call, set(doc["security_groups"]))  # (its members' addresses)
        rendered = self.render_lb(doc)
        return {"AvailabilityZones": rendered["AvailabilityZones"],
                "IpAddressType": rendered["IpAddressType"]}

    def render_lb(self, doc: Doc) -> dict[str, Any]:
        state: dict[str, Any] = {"Code": doc["state"]}
        if doc.get("reason"):
            state["Reason"] = doc["reason"]
        out: dict[str, Any] = {
            "LoadBalancerArn": doc["arn"],
            "DNSName": doc["dns"],
            "CanonicalHostedZoneId": "Z35SXDOTRQ7X7K" if doc["type"] == "application"
            else "Z26RNL4JYFTOTI",
            "CreatedTime": doc["created"],
            "LoadBalancerName": doc["name"],
            "Scheme": doc["scheme"],
            "VpcId": doc["subnets"][0].get("VpcId")
            or default_vpc_id(doc["account"], doc["region"]),
            "State": state,
            "Type": doc["type"],
            "AvailabilityZones": [
                {"ZoneName": s["ZoneName"], "SubnetId": s["SubnetId"],
                 "LoadBalancerAddresses": (_addresses(doc, s["SubnetId"])
                                           if doc["type"] == "network" else [])}
                for s in doc["subnets"]],
            "IpAddressType": doc["ip_type"],
        }
        if doc["type"] == "application" or doc["security_groups"]:
            out["SecurityGroups"] = doc["security_groups"]
        return out

    def describe_load_balancers(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        docs = self.all(call, LB)
        arns, names = params.get("LoadBalancerArns"), params.get("Names")
        if arns and names:
            raise validation("Load balancer names and load balancer ARNs cannot be specified "
                             "at the same time")
        if arns:
            for a in arns:
                check_arn(call, a, "loadbalancer")
            by_arn = {d["arn"]: d for d in docs}
            missing = [a for a in arns if a not in by_arn]
            if missing:
                raise AWSError("LoadBalancerNotFound",
                               f"Load balancers '{missing}' not found")
            docs = [by_arn[a] for a in dict.fromkeys(arns)]
        elif names:
            by_name = {d["name"]: d for d in docs}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise AWSError("LoadBalancerNotFound",
                               f"Load balancers '{missing}' not found")
            docs = [by_name[n] for n in dict.fromkeys(names)]
        items, marker = page(docs, params)
        out: dict[str, Any] = {"LoadBalancers": [self.render_lb(d) for d in items]}
        if marker:
            out["NextMarker"] = marker
        return out

    def delete_load_balancer(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        lb_arn = check_arn(call, params.get("LoadBalancerArn"), "loadbalancer")
        with self.store.tx():
            doc = self.get(call, LB, lb_arn)
            if doc is None:
                return {}  # deleting what is gone succeeds, as in AWS
            if doc["attributes"].get("deletion_protection.enabled") == "true":
                raise AWSError("OperationNotPermitted",
                               f"Load balancer '{lb_arn}' cannot be deleted because "
                               "deletion protection is enabled")
            for lst in self.listeners_of(call, lb_arn):
                for rule in self.rules_of(call, lst["arn"]):
                    self.store.resources.delete(RULE, call.account, call.region, rule["arn"])
                self.store.resources.delete(LISTENER, call.account, call.region, lst["arn"])
            self.store.resources.delete(LB, call.account, call.region, lb_arn)
        self.wake(lb_arn)  # the loop stops its proxy and releases its name and address
        self.groups_changed(call, set(doc["security_groups"]))
        return {}

    def set_ip_address_type(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.lb(call, params.get("LoadBalancerArn", ""))
        wanted = params.get("IpAddressType")
        if wanted not in ("ipv4", "dualstack", "dualstack-without-public-ipv4"):
            raise validation(f"IP address type '{wanted}' is not valid")
        if wanted != "ipv4":  # (as CreateLoadBalancer: no subnet here has IPv6)
            raise validation("You must specify subnets with an associated IPv6 CIDR block.")
        return {"IpAddressType": doc["ip_type"]}

    def describe_load_balancer_attributes(self, call: Call, params: dict[str, Any]
                                          ) -> dict[str, Any]:
        doc = self.lb(call, params.get("LoadBalancerArn", ""))
        return {"Attributes": [{"Key": k, "Value": v} for k, v in doc["attributes"].items()]}

    def modify_load_balancer_attributes(self, call: Call, params: dict[str, Any]
                                        ) -> dict[str, Any]:
        with self.store.tx():
            doc = self.lb(call, params.get("LoadBalancerArn", ""))
            for item in params.get("Attributes") or []:
                key, value = item.get("Key", ""), str(item.get("Value", ""))
                if key not in doc["attributes"]:
                    raise validation(f"Load balancer attribute key '{key}' is not recognized")
                _check_attribute(key, value)
                doc["attributes"][key] = value
            if doc["attributes"].get("access_logs.s3.enabled") == "true" \
                    and not doc["attributes"].get("access_logs.s3.bucket"):
                raise AWSError("InvalidConfigurationRequest", "Access logs need a bucket: "
                               "'access_logs.s3.bucket' cannot be empty")
            self.put(LB, doc)
        self.wake(doc["arn"])
        return {"Attributes": [{"Key": k, "Value": v} for k, v in doc["attributes"].items()]}
