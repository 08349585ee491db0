"""Elastic Load Balancing (v2): load balancers, listeners, target groups.

Operations live in one mixin per concept: ``loadbalancers``,
``targetgroups`` (with targets), ``listeners`` (with rules; actions and
conditions in ``actions``), ``health`` (DescribeTargetHealth), ``tags`` and
``secgroups`` (the load balancer in EC2's security-group rules),
``listenerextras`` (SNI certificates and listener attributes), ``policies``
(TLS security policies) and ``limits`` (DescribeAccountLimits).
``dataplane`` is the loop that runs each load balancer's proxy through the
proxy driver (``gureum.drivers.proxy``); ``metrics`` publishes what the
proxies count to CloudWatch; ``usage`` is what the billing meter bills.
"""

from __future__ import annotations

from ..base import Env
from ..billing.sources import register_source
from ..cloudwatch.sources import sources
from .addresses import RESERVED_KEY, SUBNET_USERS_KEY
from .core import LB
from .dataplane import DataPlane
from .health import HealthOperations
from .limits import LimitOperations
from .listenerextras import ListenerExtraOperations
from .listeners import ListenerOperations
from .loadbalancers import LoadBalancerOperations
from .metrics import LoadBalancerMetrics
from .policies import PolicyOperations
from .secgroups import MEMBERS_KEY
from .tags import TagOperations
from .targetgroups import TargetGroupOperations
from .usage import LoadBalancerUsage

register_source(LoadBalancerUsage.name, LoadBalancerUsage)


class ELBv2(
    LoadBalancerOperations,
    TargetGroupOperations,
    ListenerOperations,
    ListenerExtraOperations,
    PolicyOperations,
    LimitOperations,
    HealthOperations,
    TagOperations,
    DataPlane,
):
    name = "elbv2"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.setup_dataplane()

    async def start(self) -> None:
        for doc in self.store.resources.list(LB):  # names are cleared when gureum stops
            if doc.get("address"):
                self.env.names.add(doc["dns"], doc["address"])
        self.env.loops.add(self.loop())
        sources(self.env).add(LoadBalancerMetrics(self, self.env.settings.time_scale))
        self.env.extras.setdefault(MEMBERS_KEY, []).append(self.group_members)
        self.env.extras.setdefault(RESERVED_KEY, []).append(self.reserved_addresses)
        self.env.extras.setdefault(SUBNET_USERS_KEY, []).append(self.uses_subnet)

    async def stop(self) -> None:
        sources(self.env).remove(LoadBalancerMetrics.name)
        members = self.env.extras.get(MEMBERS_KEY) or []
        if self.group_members in members:
            members.remove(self.group_members)
        for key, hook in ((RESERVED_KEY, self.reserved_addresses),
                          (SUBNET_USERS_KEY, self.uses_subnet)):
            hooks = self.env.extras.get(key) or []
            if hook in hooks:
                hooks.remove(hook)
        if self._driver is not None:
            await self._driver.shutdown()

    async def reset(self) -> None:
        for doc in self.store.resources.list(LB):
            self.env.addresses.release(doc["arn"])
            self.env.names.remove(doc["dns"])
        if self._driver is not None:
            for name in self._driver.names():
                await self._driver.remove(name)
        await self.release_all_addresses()
        await super().reset()
