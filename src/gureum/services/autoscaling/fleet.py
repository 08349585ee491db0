"""The seam to EC2: how the group loop launches, terminates and observes
instances, and where it finds its sibling services.

``Fleet`` speaks of instances only (no groups); ``EC2Fleet`` runs it on the
EC2 service's own operations, in-process, so an instance launched by a group
is an ordinary EC2 instance. Unit tests may give any other ``Fleet``.

Sibling services are found in ``Env.extras["services"]`` (name → service),
falling back, while the control plane does not publish that map, to the
running EC2 instance loop's owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..base import Call, Env, Identity
from ..common.ids import request_id

SERVICES_KEY = "services"  # Env.extras: {"ec2": <EC2>, "cloudwatch": ..., "elbv2": ...}
FLEET_KEY = "autoscaling.fleet"  # Env.extras: a Fleet to use instead of EC2's
GONE = ("shutting-down", "terminated")


def peer(env: Env, name: str) -> Any:
    """The sibling service ``name`` of this gureum, or None."""
    services = env.extras.get(SERVICES_KEY)
    if isinstance(services, Mapping) and name in services:
        return services[name]
    owners = {"ec2": "ec2-instances", "cloudwatch": "cloudwatch-alarms",
              "elbv2": "elbv2-loadbalancers"}
    loop_name = owners.get(name)
    if loop_name is None or loop_name not in env.loops:
        return None
    # The loop's reconcile is a bound method of the object that added it.
    owner = getattr(getattr(env.loops[loop_name], "_reconcile", None), "__self__", None)
    if name == "cloudwatch" and owner is not None:
        from ..cloudwatch.alarms import AlarmOps

        alarms = AlarmOps(env)  # the alarm operations, waking the running alarm loop
        alarms.alarm_loop = owner
        return alarms
    return owner


def service_call(service: str, operation: str, account: str, region: str) -> Call:
    """A call made by Auto Scaling on the account's behalf (its service-linked role)."""
    identity = Identity(
        account, f"arn:aws:sts::{account}:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling",
        "AROAAUTOSCALING:AutoScaling", kind="assumed-role")
    return Call(service, operation, account, region, identity, request_id())


class Fleet(Protocol):
    def zones(self, account: str, region: str) -> dict[str, str]:
        """Subnet id → availability zone of the account's subnets."""
        ...

    def launch(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run one instance from RunInstances ``params``; returns the Instance shape.
        Raises ``AWSError`` as RunInstances does."""
        ...

    def tag(self, account: str, region: str, instance_id: str, tags: dict[str, str]) -> None:
        """Add tags AWS reserves (``aws:autoscaling:groupName``) to an instance."""
        ...

    def terminate(self, account: str, region: str, ids: list[str]) -> None: ...

    def states(self, account: str, region: str, ids: list[str]) -> dict[str, str]:
        """Instance id → EC2 state name; ids EC2 no longer knows are left out."""
        ...

    def facts(self, account: str, region: str, instance_id: str) -> dict[str, Any] | None:
        """What a group records of an instance it adopts: ``state``, ``az``,
        ``type``, ``image`` and ``tags``; None when EC2 does not know it."""
        ...


class EC2Fleet:
    """``Fleet`` on the EC2 service of this gureum."""

    def __init__(self, env: Env) -> None:
        self.env = env

    @property
    def ec2(self) -> Any:
        found = peer(self.env, "ec2")
        if found is None:
            raise RuntimeError("the EC2 service is not running")
        return found

    def zones(self, account: str, region: str) -> dict[str, str]:
        subnets = self.ec2.default_subnets(account, region)
        return {s["SubnetId"]: s["AvailabilityZone"] for s in subnets}

    def launch(self, account: str, region: str, params: dict[str, Any]) -> dict[str, Any]:
        call = service_call("ec2", "RunInstances", account, region)
        out = self.ec2.run_instances(call, {**params, "MinCount": 1, "MaxCount": 1})
        instance: dict[str, Any] = out["Instances"][0]
        return instance

    def tag(self, account: str, region: str, instance_id: str, tags: dict[str, str]) -> None:
        ec2 = self.ec2
        with self.env.store.tx():
            doc = ec2.store.resources.get("ec2:instance", account, region, instance_id)
            if doc is not None:
                doc["tags"] = {**(doc.get("tags") or {}), **tags}
                ec2.save(doc)

    def terminate(self, account: str, region: str, ids: list[str]) -> None:
        known = self.states(account, region, ids)
        live = [i for i in ids if i in known and known[i] not in GONE]
        if live:
            call = service_call("ec2", "TerminateInstances", account, region)
            self.ec2.terminate_instances(call, {"InstanceIds": live})

    def states(self, account: str, region: str, ids: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in ids:
            doc = self.env.store.resources.get("ec2:instance", account, region, i)
            if doc is not None:
                out[i] = str(doc["state"])
        return out

    def facts(self, account: str, region: str, instance_id: str) -> dict[str, Any] | None:
        doc = self.env.store.resources.get("ec2:instance", account, region, instance_id)
        if doc is None:
            return None
        return {"state": str(doc["state"]), "az": doc.get("az", ""), "type": doc.get("type", ""),
                "image": doc.get("image_id", ""), "tags": dict(doc.get("tags") or {})}


def fleet(env: Env) -> Fleet:
    given = env.extras.get(FLEET_KEY)
    if given is not None:
        found: Fleet = given
        return found
    return EC2Fleet(env)
