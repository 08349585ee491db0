"""Load balancers' security groups: SetSecurityGroups, and the load balancer
as a member of its groups for EC2's ingress rules.

Instances enforce their groups' ingress (EC2, ``services/ec2/secgroups.py``);
a rule whose source is a group lets in that group's members. A load balancer
in a group is such a member: gureum registers with EC2
(``Env.extras["ec2.group-members"]``) the addresses its proxies connect to
instances from, which are the load balancer's own addresses in its subnets
(``addresses.py``). So an instance whose group allows only the load
balancer's group receives that load balancer's traffic and its health
checks; other instances' groups, and other load balancers, are kept out.
(A load balancer on a loopback address, without an instance network,
connects from the host's address on the network: there the rule lets in
other programs on the host as well; so does one whose targets are outside
its own VPC.)
Changing a load balancer's groups wakes EC2 to re-apply the rules of the
instances affected.
"""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from .addresses import AddressOperations
from .core import LB

MEMBERS_KEY = "ec2.group-members"  # EC2's registry of non-instance group members
SECURITY_GROUP = "ec2:security-group"
INSTANCE = "ec2:instance"


class SecurityGroupOperations(AddressOperations):
    @property
    def _lbs_kept(self) -> dict[tuple[str, str], tuple[tuple[int, int], list[dict[str, Any]]]]:
        """(account, region) -> its load balancers' records, as of their version
        (read only: ``group_members`` looks at them)."""
        found: dict[tuple[str, str], tuple[tuple[int, int], list[dict[str, Any]]]] = (
            self.__dict__.setdefault("_lbs", {}))
        return found

    def check_groups(self, call: Call, groups: Any, vpc_id: str | None = None) -> list[str]:
        """``groups``, which must exist (and be of ``vpc_id``, the load balancer's VPC)."""
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise AWSError("ValidationError", "Security groups must be a list of group IDs")
        for g in groups:
            doc = self.store.resources.get(SECURITY_GROUP, call.account, call.region, g)
            if doc is None:
                raise AWSError("InvalidSecurityGroup", f"Security group '{g}' does not exist")
            if vpc_id is not None and doc.get("vpc_id") not in (None, vpc_id):
                raise AWSError("InvalidSecurityGroup",
                               f"Security group '{g}' is not in the load balancer's VPC "
                               f"'{vpc_id}'")
        return list(dict.fromkeys(groups))

    def default_groups(self, call: Call, vpc_id: str) -> list[str]:
        """What an application load balancer created without groups is in: its
        VPC's default group, as in AWS (whose rules let in its own members)."""
        ec2 = self._ec2()
        if ec2 is None or not hasattr(ec2, "default_group"):
            return []
        return [str(ec2.default_group(call.account, call.region, vpc_id)["id"])]

    def groups_changed(self, call: Call, groups: set[str]) -> None:
        ec2 = self._ec2()
        if groups and ec2 is not None and hasattr(ec2, "groups_changed"):
            ec2.groups_changed(call, members_of=groups)

    def set_security_groups(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.lb(call, params.get("LoadBalancerArn", ""))
            groups = self.check_groups(call, params.get("SecurityGroups") or [],
                                       doc["subnets"][0].get("VpcId"))
            if doc["type"] == "network" and not doc["security_groups"] and groups:
                raise validation_nlb()
            before = set(doc["security_groups"])
            doc["security_groups"] = groups
            self.put(LB, doc)
        self.groups_changed(call, before ^ set(groups))
        return {"SecurityGroupIds": groups}

    def group_members(self, account: str, region: str, group_id: str) -> list[str]:
        """The addresses instances see this account's load balancers in
        ``group_id`` connect from (EC2 asks, for its ingress rules)."""
        # (asked at every launch: the load balancers are read again only after a
        # change of them)
        version = self.store.resources.version(LB)
        kept = self._lbs_kept.get((account, region))
        if kept is None or kept[0] != version:
            kept = (version, self.store.resources.list(LB, account, region))
            self._lbs_kept[(account, region)] = kept
        members = [d for d in kept[1] if group_id in (d.get("security_groups") or [])]
        if not members:
            return []
        out = set()
        for lb in members:
            out |= {f"{a['address']}/32" for a in lb.get("addresses") or []}
        # A load balancer connects to targets outside its own network (or, on a
        # loopback address, to every target) from the host's address on the
        # target's network: the gateway of each network instances live on.
        networks: dict[str, str] = {}
        ec2 = self._ec2()
        try:
            default = ec2.driver.network() if ec2 is not None else None
        except Exception:  # no compute driver here: no instance network either
            default = None
        if default is not None:
            networks[default.cidr] = default.gateway
        for inst in self.store.resources.list(INSTANCE, account, region):
            net = inst.get("network")
            if net and inst.get("state") != "terminated":
                networks[net["cidr"]] = net["gateway"]
        for cidr, gateway in networks.items():
            if any(self.network_of(lb) != cidr for lb in members):
                out.add(f"{gateway}/32")
        return sorted(out)


def validation_nlb() -> AWSError:
    return AWSError("ValidationError", "A network load balancer created without security "
                    "groups cannot be given security groups")
