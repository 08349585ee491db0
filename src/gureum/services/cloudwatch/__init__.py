"""CloudWatch: metrics and alarms.

Operations live in one mixin per concept: ``metrics`` (PutMetricData,
GetMetricStatistics, ListMetrics), ``getdata`` (GetMetricData with metric
math from ``mathexpr``), ``alarms`` (alarm CRUD, state, history, tags),
``composite`` (PutCompositeAlarm and its loop, rules parsed by ``alarmrule``).
Datapoints are kept in their own tables (``datastore``); alarms are
evaluated by the loop in ``alarmloop`` and act through ``actions``
(EC2 stop/terminate/reboot in ``ec2actions``);
``retention`` rolls old data up; ``sources`` is where data planes plug in
the metrics they measure; ``metering`` is what the bill counts.
"""

from __future__ import annotations

from ..base import Env
from .actions import ActionContext, ActionRegistry, registry
from .alarmloop import COMPOSITE_KIND, AlarmLoop
from .alarmloop import KIND as ALARM_KIND
from .alarms import AlarmOps
from .composite import CompositeLoop, CompositeOps
from .datastore import MetricStore
from .ec2actions import install as install_ec2_actions
from .getdata import MetricDataOps
from .metering import metered
from .metrics import MetricOps
from .retention import RetentionLoop
from .sources import MetricSource, PublisherLoop, Sample, sources

__all__ = ["ActionContext", "ActionRegistry", "CloudWatch", "MetricSource", "Sample",
           "registry", "sources"]


@metered
class CloudWatch(MetricOps, MetricDataOps, AlarmOps, CompositeOps):
    name = "cloudwatch"
    kinds = (ALARM_KIND, COMPOSITE_KIND)

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.metrics = MetricStore(env.store.connection)
        self.alarm_loop = AlarmLoop(env, self.metrics)
        self.composite_loop = CompositeLoop(env, self.alarm_loop)
        self.alarm_loop.on_change = self.composite_loop.wake_parents
        self.retention = RetentionLoop(env)
        self.publisher = PublisherLoop(env, self.metrics)
        install_ec2_actions(env)

    async def start(self) -> None:
        for loop in (self.alarm_loop.loop, self.composite_loop.loop, self.retention.loop,
                     self.publisher.loop):
            self.env.loops.add(loop)

    async def reset(self) -> None:
        await super().reset()
        with self.env.store.tx():
            self.metrics.wipe()
