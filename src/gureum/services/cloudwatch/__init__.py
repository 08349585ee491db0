"""CloudWatch: metrics and alarms.

Operations live in one mixin per concept: ``metrics`` (PutMetricData,
GetMetricStatistics, ListMetrics), ``getdata`` (GetMetricData with metric
math from ``mathexpr``). Datapoints are kept in their own tables
(``datastore``).
"""

from __future__ import annotations

from ..base import Env
from .datastore import MetricStore
from .getdata import MetricDataOps
from .metrics import MetricOps


class CloudWatch(MetricOps, MetricDataOps):
    name = "cloudwatch"

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self.metrics = MetricStore(env.store.connection)

    async def reset(self) -> None:
        await super().reset()
        with self.env.store.tx():
            self.metrics.wipe()
