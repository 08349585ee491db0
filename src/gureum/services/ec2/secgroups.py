"""Security groups: Create/Delete/Describe, Authorize/Revoke ingress and
egress, and what each instance's network namespace lets in.

A group is one store document (``ec2:security-group``) whose rules are kept
atomic (one protocol, port range and source each, with an ``sgr-`` id) and
grouped into ``IpPermissions`` when described. Every VPC has a ``default``
group, created when first needed: it allows all traffic from its own members
and, as gureum's choice for local use, from this host (a visible, revocable
rule whose source is the host's address on the instance network), so that
``curl`` from the host reaches instances launched with no group named. Other
groups allow only what their rules say, as on AWS.

Ingress is enforced by the compute driver (nftables inside each instance's
namespace, stateful, default drop): ``instance_ingress`` turns an instance's
groups into the driver's rule tuples, a group reference becoming the
addresses of that group's members (instances, and any addresses other
services register in ``Env.extras[MEMBERS_KEY]``, e.g. a load balancer
running on the host). Rule changes only wake the instance loop, which
re-applies the rules of running instances. Egress rules are recorded and
described but not enforced: instances reach nothing beyond this host anyway.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from ..common import tags as tagging
from ..common.ids import hex_id
from ..common.pagination import paginate
from .core import INSTANCE, MEMBERSHIP_SETTLE, SECURITY_GROUP, SETTLE_KEY, VPC
from .vpc import VpcOperations, _id

# Env.extras: callables (account, region, group_id) -> list of CIDRs that are
# members of a group without being instances (another service's data plane).
MEMBERS_KEY = "ec2.group-members"
Members = Callable[[str, str, str], list[str]]

_PROTOCOLS = {"-1": "-1", "all": "-1", "tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp",
              "icmp": "icmp", "1": "icmp"}
HOST_RULE = "gureum: this host (gureum's default for local use)"


def _protocol(value: Any) -> str:
    text = str(value if value is not None else "").lower()
    if text in _PROTOCOLS:
        return _PROTOCOLS[text]
    if text.isdigit() and 0 <= int(text) <= 255:
        return text
    raise AWSError("InvalidParameterValue",
                   f"Invalid value '{value}' for IP protocol. Unknown protocol.")


def _cidr(text: Any, v6: bool = False) -> str:
    try:
        net = ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        raise AWSError("InvalidParameterValue",
                       f"Value ({text}) for parameter cidrIp is invalid. This is not a valid "
                       "CIDR block.") from None
    if (net.version == 6) != v6 or "/" not in str(text):
        raise AWSError("InvalidParameterValue",
                       f"Value ({text}) for parameter cidrIp is invalid. This is not a valid "
                       "CIDR block.")
    return str(net)


def _render_group(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "GroupId": doc["id"], "GroupName": doc["name"], "Description": doc["description"],
        "OwnerId": doc["account"], "VpcId": doc["vpc_id"],
        "SecurityGroupArn": f"arn:aws:ec2:{doc['region']}:{doc['account']}:"
                            f"security-group/{doc['id']}",
        "IpPermissions": permissions(doc["ingress"]),
        "IpPermissionsEgress": permissions(doc["egress"]),
        "Tags": tagging.to_list(doc.get("tags")),
    }


def permissions(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Atomic rules grouped as AWS describes them (one IpPermission per protocol/ports)."""
    out: dict[tuple[str, int, int], dict[str, Any]] = {}
    for r in rules:
        key = (r["proto"], r["from"], r["to"])
        perm = out.get(key)
        if perm is None:
            perm = out[key] = {"IpProtocol": r["proto"], "IpRanges": [], "Ipv6Ranges": [],
                               "UserIdGroupPairs": [], "PrefixListIds": []}
            if r["proto"] != "-1":
                perm["FromPort"], perm["ToPort"] = r["from"], r["to"]
        desc = {"Description": r["description"]} if r.get("description") else {}
        if r["kind"] == "cidr":
            perm["IpRanges"].append({"CidrIp": r["source"], **desc})
        elif r["kind"] == "cidr6":
            perm["Ipv6Ranges"].append({"CidrIpv6": r["source"], **desc})
        else:
            perm["UserIdGroupPairs"].append({"GroupId": r["source"], "UserId": r["owner"],
                                             **desc})
    return list(out.values())


def _rule_key(r: dict[str, Any]) -> tuple[str, int, int, str, str]:
    return (r["proto"], r["from"], r["to"], r["kind"], r["source"])


def instance_ingress(store: Any, doc: dict[str, Any], extra: list[Members] | None = None,
                     members: dict[str, list[str]] | None = None,
                     member_ips: Members | None = None,
                     ) -> tuple[tuple[str, int, int, str], ...]:
    """What an instance's groups let in, as the compute driver's rule tuples.

    ``members`` caches each referenced group's instances' addresses (by group id);
    a caller may keep it while no instance record changes. ``member_ips`` gives
    them (else they are read from the store). Other services' members
    (``extra``) are asked each time."""
    out: set[tuple[str, int, int, str]] = set()
    if members is None:
        members = {}
    for ref in doc.get("security_groups") or []:
        group = store.resources.get(SECURITY_GROUP, doc["account"], doc["region"], ref["GroupId"])
        if group is None:
            continue
        for r in group["ingress"]:
            if r["kind"] in ("cidr", "cidr6"):
                sources = [r["source"]]
            else:
                if r["source"] not in members:
                    members[r["source"]] = (
                        member_ips(doc["account"], doc["region"], r["source"]) if member_ips
                        else group_members(store, doc["account"], doc["region"], r["source"]))
                sources = members[r["source"]]
                for fn in extra or []:
                    sources = [*sources, *fn(doc["account"], doc["region"], r["source"])]
            for s in sources:
                out.add((r["proto"], r["from"], r["to"], s))
    return tuple(sorted(out))


def group_members(store: Any, account: str, region: str, group_id: str,
                  extra: list[Members] | None = None) -> list[str]:
    ips = [
        f"{d['ip']}/32"
        for d in store.resources.list(INSTANCE, account, region)
        if d["state"] != "terminated"
        and any(g["GroupId"] == group_id for g in d.get("security_groups") or [])
    ]
    for fn in extra or []:
        ips += fn(account, region, group_id)
    return sorted(set(ips))


class SecurityGroupOperations(VpcOperations):
    @property
    def _launch_groups(self) -> dict[tuple[str, str, str], tuple[tuple[int, int], dict[str, str]]]:
        """(account, region, VPC) -> its default group as launches name it, and the
        version of the groups it was read at."""
        found: dict[tuple[str, str, str], tuple[tuple[int, int], dict[str, str]]] = (
            self.__dict__.setdefault("_launch_groups_kept", {}))
        return found

    @property
    def _referencing(self) -> dict[tuple[str, str, frozenset[str]],
                                   tuple[tuple[int, int], frozenset[str]]]:
        """(account, region, groups) -> the groups with a rule naming one of them."""
        found: dict[tuple[str, str, frozenset[str]], tuple[tuple[int, int], frozenset[str]]] = (
            self.__dict__.setdefault("_referencing_kept", {}))
        return found

    # -- finding groups ---------------------------------------------------------

    def default_group(self, account: str, region: str, vpc_id: str) -> dict[str, Any]:
        """The VPC's default group, created on first use."""
        group_id = _id("sg", account, region, "default") if vpc_id == self.default_vpc(
            account, region)["VpcId"] else _id("sg", account, region, vpc_id, "default")
        doc: dict[str, Any] | None = self.store.resources.get(SECURITY_GROUP, account, region,
                                                              group_id)
        if doc is not None:
            return doc
        host = f"{self.host_network().gateway}/32"
        vpc = self.store.resources.get(VPC, account, region, vpc_id)
        if vpc is not None:  # the host's address on that VPC's network
            host = f"{ipaddress.IPv4Network(vpc['cidr']).network_address + 1}/32"
        doc = {
            "id": group_id, "account": account, "region": region, "name": "default",
            "description": "default VPC security group", "vpc_id": vpc_id, "tags": {},
            "default": True,
            "ingress": [
                {"id": hex_id("sgr"), "proto": "-1", "from": -1, "to": -1, "kind": "group",
                 "source": group_id, "owner": account},
                {"id": hex_id("sgr"), "proto": "-1", "from": -1, "to": -1, "kind": "cidr",
                 "source": host, "description": HOST_RULE},
            ],
            "egress": [{"id": hex_id("sgr"), "proto": "-1", "from": -1, "to": -1,
                        "kind": "cidr", "source": "0.0.0.0/0"}],
        }
        with self.store.tx():
            self.store.resources.put(SECURITY_GROUP, account, region, group_id, doc)
        return doc

    def default_security_group(self, account: str, region: str) -> dict[str, str]:
        doc = self.default_group(account, region, self.default_vpc(account, region)["VpcId"])
        return {"GroupId": doc["id"], "GroupName": doc["name"]}

    def all_groups(self, call: Call) -> list[dict[str, Any]]:
        for vpc_id in self.vpc_ids(call):
            self.default_group(call.account, call.region, vpc_id)
        found: list[dict[str, Any]] = self.store.resources.list(SECURITY_GROUP, call.account,
                                                                 call.region)
        return found

    def group(self, call: Call, group_id: str | None = None, name: str | None = None,
              vpc_id: str | None = None) -> dict[str, Any]:
        if group_id:
            if group_id.startswith("sg-") and group_id == _id(
                    "sg", call.account, call.region, "default"):
                return self.default_group(call.account, call.region,
                                          self.default_vpc(call.account, call.region)["VpcId"])
            doc: dict[str, Any] | None = self.store.resources.get(
                SECURITY_GROUP, call.account, call.region, group_id)
            if doc is None:
                for g in self.all_groups(call):
                    if g["id"] == group_id:
                        return g
                raise AWSError("InvalidGroup.NotFound",
                               f"The security group '{group_id}' does not exist")
            return doc
        if name:
            vpc = vpc_id or self.default_vpc(call.account, call.region)["VpcId"]
            for g in self.all_groups(call):
                if g["name"] == name and g["vpc_id"] == vpc:
                    return g
            raise AWSError("InvalidGroup.NotFound",
                           f"The security group '{name}' does not exist in default VPC "
                           f"'{vpc}'")
        raise AWSError("MissingParameter",
                       "The request must contain the parameter groupName or groupId")

    def groups_for_launch(self, call: Call, params: dict[str, Any],
                          vpc_id: str) -> list[dict[str, str]]:
        """The groups an instance is launched with (its VPC's default when none is named)."""
        if not params.get("SecurityGroupIds") and not params.get("SecurityGroups"):
            # (most launches: the default group, read again only after a change of groups)
            key = (call.account, call.region, vpc_id)
            version = self.store.resources.version(SECURITY_GROUP)
            kept = self._launch_groups.get(key)
            if kept is None or kept[0] != version:
                group = self.default_group(call.account, call.region, vpc_id)
                kept = (self.store.resources.version(SECURITY_GROUP),
                        {"GroupId": group["id"], "GroupName": group["name"]})
                self._launch_groups[key] = kept
            return [dict(kept[1])]
        found = [self.group(call, group_id=g) for g in params.get("SecurityGroupIds") or []]
        found += [self.group(call, name=n, vpc_id=vpc_id)
                  for n in params.get("SecurityGroups") or []]
        if not found:
            found = [self.default_group(call.account, call.region, vpc_id)]
        for g in found:
            if g["vpc_id"] != vpc_id:
                raise AWSError("InvalidParameter",
                               f"Security group {g['id']} and subnet belong to different "
                               "networks.")
        return [{"GroupId": g["id"], "GroupName": g["name"]}
                for g in {g["id"]: g for g in found}.values()]

    def groups_changed(self, call: Call, members_of: set[str] | None = None,
                       launched: bool = False) -> None:
        """Wake the running instances whose ingress may have changed: all of the
        region's, or (``members_of``: groups whose membership changed) those in a
        group with a rule naming one of these groups. ``launched``: by new
        instances, whose records' saves have said so (``membership_generation``):
        the rules themselves did not change."""
        if not launched:
            self.rules_generation += 1
        affected: set[str] | None = None
        if members_of is not None:
            # (each launch asks: the groups are read again only after a change of them)
            key = (call.account, call.region, frozenset(members_of))
            version = self.store.resources.version(SECURITY_GROUP)
            kept = self._referencing.get(key)
            if kept is None or kept[0] != version:
                if len(self._referencing) > 256:
                    self._referencing.clear()
                kept = (version, frozenset(
                    g["id"] for g in self.store.resources.list(SECURITY_GROUP, call.account,
                                                               call.region)
                    if any(r["kind"] == "group" and r["source"] in members_of
                           for r in g["ingress"])))
                self._referencing[key] = kept
            affected = set(kept[1])
            if not affected:
                return
            # A burst of launches or terminations changes each member's rules once,
            # when no change came for MEMBERSHIP_SETTLE seconds (each change rewrites
            # the rules of every member).
            now = self.env.clock.monotonic()
            first, _, groups = self.settling.get((call.account, call.region), (now, now, set()))
            self.settling[(call.account, call.region)] = (first, now, groups | affected)
            self.wake(call.account, call.region, SETTLE_KEY, after=MEMBERSHIP_SETTLE)
            return
        self.wake_members(call.account, call.region, None)

    # -- operations -------------------------------------------------------------

    def create_security_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name, description = params.get("GroupName") or "", params.get("Description") or ""
        if not name or not description:
            raise AWSError("MissingParameter",
                           "The request must contain the parameters GroupName and "
                           "GroupDescription")
        if len(name) > 255 or name.startswith("sg-"):
            raise AWSError("InvalidParameterValue",
                           f"Invalid value '{name}' for groupName.")
        if name == "default":
            raise AWSError("InvalidGroup.Reserved",
                           "The security group 'default' is reserved")
        vpc_id = params.get("VpcId") or self.default_vpc(call.account, call.region)["VpcId"]
        if vpc_id not in self.vpc_ids(call):
            raise AWSError("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist")
        tags: dict[str, str] = {}
        for spec in params.get("TagSpecifications") or []:
            tags.update(tagging.to_dict(spec.get("Tags")))
        with self.store.tx():
            for g in self.all_groups(call):
                if g["name"] == name and g["vpc_id"] == vpc_id:
                    raise AWSError("InvalidGroup.Duplicate",
                                   f"The security group '{name}' already exists for VPC "
                                   f"'{vpc_id}'")
            doc = {
                "id": hex_id("sg"), "account": call.account, "region": call.region,
                "name": name, "description": description, "vpc_id": vpc_id, "tags": tags,
                "ingress": [],
                "egress": [{"id": hex_id("sgr"), "proto": "-1", "from": -1, "to": -1,
                            "kind": "cidr", "source": "0.0.0.0/0"}],
            }
            self.store.resources.put(SECURITY_GROUP, call.account, call.region, doc["id"], doc)
        return {"GroupId": doc["id"], "Tags": tagging.to_list(tags),
                "SecurityGroupArn": _render_group(doc)["SecurityGroupArn"]}

    def delete_security_group(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.group(call, params.get("GroupId"), params.get("GroupName"))
            if doc.get("default"):
                raise AWSError("CannotDelete", f"the specified group: \"{doc['id']}\" name: "
                               "\"default\" cannot be deleted by a user")
            users = self.store.resources.list(
                INSTANCE, call.account, call.region,
                where=lambda d: d["state"] != "terminated"
                and any(g["GroupId"] == doc["id"] for g in d.get("security_groups") or []))
            referenced = [g for g in self.all_groups(call) if g["id"] != doc["id"] and any(
                r["kind"] == "group" and r["source"] == doc["id"]
                for r in g["ingress"] + g["egress"])]
            # (another service's members: a load balancer in the group)
            members = any(fn(call.account, call.region, doc["id"])
                          for fn in self.env.extras.get(MEMBERS_KEY) or [])
            if users or referenced or members:
                raise AWSError("DependencyViolation",
                               f"resource {doc['id']} has a dependent object")
            self.store.resources.delete(SECURITY_GROUP, call.account, call.region, doc["id"])
        return {"Return": True, "GroupId": doc["id"]}

    def describe_security_groups(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        ids, names = params.get("GroupIds"), params.get("GroupNames")
        if ids or names:
            docs = [self.group(call, group_id=i) for i in ids or []]
            docs += [self.group(call, name=n) for n in names or []]
        else:
            docs = self.all_groups(call)
        views = [_render_group(d) for d in {d["id"]: d for d in docs}.values()]
        getters = {
            "group-id": filters.field("GroupId"), "group-name": filters.field("GroupName"),
            "description": filters.field("Description"), "vpc-id": filters.field("VpcId"),
            "owner-id": filters.field("OwnerId"),
            "ip-permission.protocol": filters.field("IpPermissions.IpProtocol"),
            "ip-permission.from-port": filters.field("IpPermissions.FromPort"),
            "ip-permission.to-port": filters.field("IpPermissions.ToPort"),
            "ip-permission.cidr": filters.field("IpPermissions.IpRanges.CidrIp"),
            "ip-permission.group-id": filters.field("IpPermissions.UserIdGroupPairs.GroupId"),
            "egress.ip-permission.cidr": filters.field("IpPermissionsEgress.IpRanges.CidrIp"),
        }
        views = filters.apply(views, params.get("Filters"), getters)
        views.sort(key=lambda v: str(v["GroupId"]))
        page, token = paginate(views, params.get("NextToken"), params.get("MaxResults"),
                               key=lambda v: str(v["GroupId"]), default_limit=1000,
                               min_limit=5, max_limit=1000)
        out: dict[str, Any] = {"SecurityGroups": page}
        if token:
            out["NextToken"] = token
        return out

    def _rules(self, call: Call, params: dict[str, Any], egress: bool) -> list[dict[str, Any]]:
        perms = copy.deepcopy(params.get("IpPermissions") or [])
        if not perms and (params.get("IpProtocol") or params.get("CidrIp")
                          or params.get("SourceSecurityGroupName")):
            legacy: dict[str, Any] = {"IpProtocol": params.get("IpProtocol") or "-1",
                                      "FromPort": params.get("FromPort"),
                                      "ToPort": params.get("ToPort")}
            if params.get("CidrIp"):
                legacy["IpRanges"] = [{"CidrIp": params["CidrIp"]}]
            if params.get("SourceSecurityGroupName"):
                legacy["UserIdGroupPairs"] = [{"GroupName": params["SourceSecurityGroupName"]}]
            perms = [legacy]
        if not perms:
            raise AWSError("MissingParameter",
                           "The request must contain the parameter ipPermissions")
        out: list[dict[str, Any]] = []
        for p in perms:
            proto = _protocol(p.get("IpProtocol"))
            low, high = p.get("FromPort"), p.get("ToPort")
            if proto in ("tcp", "udp"):
                if low is None or high is None or not (0 <= low <= high <= 65535):
                    raise AWSError("InvalidParameterValue",
                                   f"Invalid port range: {low}-{high} for protocol {proto}")
            elif proto == "icmp":
                low = -1 if low is None else low
                high = -1 if high is None else high
            else:
                low = high = -1
            base = {"proto": proto, "from": int(low), "to": int(high)}
            for r in p.get("IpRanges") or []:
                out.append({**base, "kind": "cidr", "source": _cidr(r.get("CidrIp")),
                            "description": r.get("Description")})
            for r in p.get("Ipv6Ranges") or []:
                out.append({**base, "kind": "cidr6", "source": _cidr(r.get("CidrIpv6"), True),
                            "description": r.get("Description")})
            for pair in p.get("UserIdGroupPairs") or []:
                ref = self.group(call, pair.get("GroupId"), pair.get("GroupName"))
                out.append({**base, "kind": "group", "source": ref["id"],
                            "owner": ref["account"], "description": pair.get("Description")})
            if not (p.get("IpRanges") or p.get("Ipv6Ranges") or p.get("UserIdGroupPairs")):
                raise AWSError("InvalidParameterValue",
                               "The request must name a source (IpRanges, Ipv6Ranges or "
                               "UserIdGroupPairs)")
        return out

    def _authorize(self, call: Call, params: dict[str, Any], egress: bool) -> dict[str, Any]:
        side = "egress" if egress else "ingress"
        with self.store.tx():
            doc = self.group(call, params.get("GroupId"), params.get("GroupName"))
            rules = self._rules(call, params, egress)
            have = {_rule_key(r) for r in doc[side]}
            for r in rules:
                if _rule_key(r) in have:
                    where = r["source"]
                    raise AWSError("InvalidPermission.Duplicate",
                                   f"the specified rule \"peer: {where}, {r['proto'].upper()}, "
                                   f"from port: {r['from']}, to port: {r['to']}, ALLOW\" "
                                   "already exists")
                have.add(_rule_key(r))
                r["id"] = hex_id("sgr")
            doc[side] += rules
            self.store.resources.put(SECURITY_GROUP, call.account, call.region, doc["id"], doc)
        self.groups_changed(call)
        return {"Return": True, "SecurityGroupRules": [
            self._rule_view(doc, r, egress) for r in rules]}

    def _rule_view(self, doc: dict[str, Any], r: dict[str, Any], egress: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "SecurityGroupRuleId": r["id"], "GroupId": doc["id"], "GroupOwnerId": doc["account"],
            "IsEgress": egress, "IpProtocol": r["proto"], "FromPort": r["from"],
            "ToPort": r["to"], "Tags": [],
        }
        if r["kind"] == "cidr":
            out["CidrIpv4"] = r["source"]
        elif r["kind"] == "cidr6":
            out["CidrIpv6"] = r["source"]
        else:
            out["ReferencedGroupInfo"] = {"GroupId": r["source"], "UserId": r["owner"]}
        if r.get("description"):
            out["Description"] = r["description"]
        return out

    def _revoke(self, call: Call, params: dict[str, Any], egress: bool) -> dict[str, Any]:
        side = "egress" if egress else "ingress"
        with self.store.tx():
            doc = self.group(call, params.get("GroupId"), params.get("GroupName"))
            ids = set(params.get("SecurityGroupRuleIds") or [])
            if ids:
                missing = ids - {r["id"] for r in doc[side]}
                if missing:
                    raise AWSError("InvalidSecurityGroupRuleId.NotFound",
                                   f"The security group rule ID '{sorted(missing)[0]}' does "
                                   "not exist")
                doc[side] = [r for r in doc[side] if r["id"] not in ids]
            else:
                gone = {_rule_key(r) for r in self._rules(call, params, egress)}
                if not gone <= {_rule_key(r) for r in doc[side]}:
                    raise AWSError("InvalidPermission.NotFound",
                                   "The specified rule does not exist in this security group.")
                doc[side] = [r for r in doc[side] if _rule_key(r) not in gone]
            self.store.resources.put(SECURITY_GROUP, call.account, call.region, doc["id"], doc)
        self.groups_changed(call)
        return {"Return": True}

    def authorize_security_group_ingress(self, call: Call,
                                         params: dict[str, Any]) -> dict[str, Any]:
        return self._authorize(call, params, egress=False)

    def authorize_security_group_egress(self, call: Call,
                                        params: dict[str, Any]) -> dict[str, Any]:
        return self._authorize(call, params, egress=True)

    def revoke_security_group_ingress(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return self._revoke(call, params, egress=False)

    def revoke_security_group_egress(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return self._revoke(call, params, egress=True)

    def describe_security_group_rules(self, call: Call,
                                      params: dict[str, Any]) -> dict[str, Any]:
        views = []
        for doc in self.all_groups(call):
            views += [self._rule_view(doc, r, False) for r in doc["ingress"]]
            views += [self._rule_view(doc, r, True) for r in doc["egress"]]
        ids = params.get("SecurityGroupRuleIds")
        if ids:
            views = [v for v in views if v["SecurityGroupRuleId"] in ids]
        views.sort(key=lambda v: str(v["SecurityGroupRuleId"]))
        getters = {"group-id": filters.field("GroupId"),
                   "security-group-rule-id": filters.field("SecurityGroupRuleId")}
        views = filters.apply(views, params.get("Filters"), getters)
        page, token = paginate(views, params.get("NextToken"), params.get("MaxResults"),
                               key=lambda v: str(v["SecurityGroupRuleId"]), default_limit=1000,
                               min_limit=5, max_limit=1000)
        out: dict[str, Any] = {"SecurityGroupRules": page}
        if token:
            out["NextToken"] = token
        return out
