"""Auto Scaling: groups that keep their capacity, replace unhealthy instances
and scale on CloudWatch alarms.

Operations live in one mixin per concept: ``configs`` (launch
configurations), ``groups`` (groups and their tags), ``instances`` (capacity
and members), ``activities`` (history). The group loop (``reconcile``) is the
only code that launches or terminates, through the EC2 seam in ``fleet``.
"""

from __future__ import annotations

from ..base import Env, Service
from .activities import ActivityOperations
from .configs import ConfigOperations
from .core import ACTIVITY, CONFIG, GROUP, POLICY, SCHEDULED
from .groups import GroupOperations
from .instances import InstanceOperations
from .reconcile import GroupLoop


class AutoScaling(
    GroupOperations,
    ConfigOperations,
    InstanceOperations,
    ActivityOperations,
    Service,
):
    name = "autoscaling"
    kinds = (GROUP, CONFIG, POLICY, ACTIVITY, SCHEDULED)

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.group_loop = GroupLoop(env)

    async def start(self) -> None:
        self.env.loops.add(self.group_loop.loop)

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
