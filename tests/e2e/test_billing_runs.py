"""Billing end to end: a real instance stopped and started again between two
meter ticks (the meter made to tick once an hour, so only Cost Explorer's
calls tick it) is billed a 60-second minimum for each start, from the starts
and stops the instance's record keeps."""

from __future__ import annotations

from decimal import Decimal

from gureum.testing.server import running_gureum

from .ec2_support import sweep, wait_for
from .test_billing import days, grouped


def test_each_start_between_two_ticks_has_its_minute() -> None:
    with running_gureum(env={"GUREUM_METER_INTERVAL": "3600"}) as g:
        try:
            ec2, ce = g.client("ec2"), g.client("ce")

            def state(iid: str) -> str:
                name: str = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0][
                    "Instances"][0]["State"]["Name"]
                return name

            def usage() -> Decimal:
                out = ce.get_cost_and_usage(
                    TimePeriod=days(), Granularity="DAILY", Metrics=["UsageQuantity"],
                    GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
                return grouped(out, "UsageQuantity").get("BoxUsage:t3.micro", Decimal(0))

            image = ec2.describe_images()["Images"][0]["ImageId"]
            iid: str = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1,
                                         MaxCount=1)["Instances"][0]["InstanceId"]
            wait_for(lambda: state(iid) == "running", timeout=30)
            assert usage() == Decimal(str(round(1 / 60, 10)))  # a tick: the first minute
            for _ in range(2):  # two more runs, no tick between them
                ec2.stop_instances(InstanceIds=[iid])
                wait_for(lambda: state(iid) == "stopped", timeout=30)
                ec2.start_instances(InstanceIds=[iid])
                wait_for(lambda: state(iid) == "running", timeout=30)
            ec2.stop_instances(InstanceIds=[iid])
            wait_for(lambda: state(iid) == "stopped", timeout=30)
            # Each of three runs well under a minute: three minimums.
            assert usage() == Decimal(str(round(3 / 60, 10)))
        finally:
            g.stop()
            sweep(g.data_dir)
