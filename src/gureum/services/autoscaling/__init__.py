"""Auto Scaling: groups that keep their capacity, replace unhealthy instances
and scale on CloudWatch alarms.

Operations live in one mixin per concept: ``configs`` (launch
configurations), ``groups`` (groups and their tags), ``instances`` (capacity
and members), ``activities`` (history), ``policies`` (scaling policies, run
by CloudWatch alarms through its action registry), ``scheduled`` (scheduled
actions, run by the group loop when due), ``hooks`` (lifecycle hooks),
``members`` (standby, attach and detach), ``metrics`` (group metrics),
``catalog`` (account limits, and the read side of features gureum lacks). The
group loop (``reconcile``) is the only code that launches or terminates,
through the EC2 seam in ``fleet``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..base import Env, Service
from ..cloudwatch.actions import registry
from ..cloudwatch.sources import Sample, sources
from .activities import ActivityOperations
from .catalog import CatalogOperations
from .configs import ConfigOperations
from .core import ACTIVITY, CONFIG, GROUP, POLICY, SCHEDULED
from .groups import GroupOperations
from .hooks import HookOperations
from .instances import InstanceOperations
from .members import MemberOperations
from .metrics import GroupMetrics, MetricsOperations
from .policies import PolicyOperations
from .reconcile import GroupLoop
from .scheduled import ScheduledOperations
from .targets import TargetOperations


class AutoScaling(
    ScheduledOperations,
    HookOperations,
    MemberOperations,
    MetricsOperations,
    PolicyOperations,
    TargetOperations,
    GroupOperations,
    ConfigOperations,
    InstanceOperations,
    ActivityOperations,
    CatalogOperations,
    Service,
):
    name = "autoscaling"
    kinds = (GROUP, CONFIG, POLICY, ACTIVITY, SCHEDULED)

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.group_loop = GroupLoop(env)
        self.group_loop.before += [self.elb_health, self.rerun, self.run_scheduled]
        self.group_loop.after.append(self.sync_targets)
        self._last_run = {}

    async def start(self) -> None:
        self.env.loops.add(self.group_loop.loop)
        registry(self.env).register("arn:aws:autoscaling:", self.on_alarm)
        sources(self.env).add_dimensioner(self.dimensions)
        sources(self.env).add(GroupMetrics(self.env))

    def dimensions(self, sample: Sample) -> Iterable[tuple[tuple[str, str], ...]]:
        """EC2 metrics of group members are also published per group."""
        if sample.namespace != "AWS/EC2":
            return ()
        instance = dict(sample.dimensions).get("InstanceId")
        name = self.group_loop.member_of.get((sample.account, sample.region, instance or ""))
        return ((("AutoScalingGroupName", name),),) if name else ()

    async def reset(self) -> None:
        # Terminate what the groups launched (EC2's own reset also stops
        # everything, but this service may be reset alone), then forget.
        with self.env.store.tx():
            for group in self.env.store.resources.list(GROUP):
                ids = list(group["instances"])
                if ids:
                    try:
                        self.group_loop.fleet.terminate(group["account"], group["region"], ids)
                    except RuntimeError:  # EC2 is not running: nothing to stop
                        pass
        await super().reset()
