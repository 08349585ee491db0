"""The web console at /_gureum/, read by a real browser (headless Chromium) and
by curl, against a running gureum with resources made through boto3."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.testing.server import RunningGureum, running_gureum

from .ec2_support import ec2_gureum, root_only, wait_for

ACCOUNT = "000000000000"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
# Where the last screenshots are kept for a person to look at.
SHOTS = Path(tempfile.gettempdir()) / "gureum-console-shots"


def _browser_pids(profile: Path) -> list[int]:
    marker = str(profile).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def chromium(url: str, *args: str) -> str:
    """Run headless Chromium once on ``url`` (its own profile, its own process
    group); nothing of it is left running afterwards."""
    assert CHROMIUM is not None
    profile = Path(tempfile.mkdtemp(prefix="gureum-chromium-"))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-default-apps", "--hide-scrollbars", f"--user-data-dir={profile}",
           *args, url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, f"chromium exited with {proc.returncode}"
        return out.decode()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while _browser_pids(profile) and time.monotonic() < deadline:
            for pid in _browser_pids(profile):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        left = _browser_pids(profile)
        shutil.rmtree(profile, ignore_errors=True)
        assert not left, f"chromium processes left: {left}"


def text_of(dom: str) -> str:
    """The page's text, one space between cells."""
    body = re.sub(r"<style>.*?</style>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace("&gt;", ">")


def row_with(dom: str, needle: str) -> str:
    """The text of the table row holding ``needle``."""
    for row in re.findall(r"<tr>(.*?)</tr>", dom, flags=re.S):
        if needle in row:
            return text_of(row)
    raise AssertionError(f"no row with {needle!r}")


def screenshot(url: str, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"{name}.png"
    path.unlink(missing_ok=True)
    chromium(url, "--window-size=1280,1600", f"--screenshot={path}")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    return path


def budget(g: RunningGureum, name: str, limit: str) -> None:
    g.client("budgets").create_budget(
        AccountId=ACCOUNT,
        Budget={"BudgetName": name, "BudgetLimit": {"Amount": limit, "Unit": "USD"},
                "TimeUnit": "MONTHLY", "BudgetType": "COST"},
        NotificationsWithSubscribers=[
            {"Notification": {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                              "Threshold": 80.0, "ThresholdType": "PERCENTAGE"},
             "Subscribers": [{"SubscriptionType": "EMAIL", "Address": "ops@example.com"}]},
            {"Notification": {"NotificationType": "FORECASTED",
                              "ComparisonOperator": "GREATER_THAN", "Threshold": 100.0,
                              "ThresholdType": "PERCENTAGE"},
             "Subscribers": [{"SubscriptionType": "SNS",
                              "Address": "arn:aws:sns:us-east-1:000000000000:billing"}]},
        ])


def make_things(g: RunningGureum) -> dict[str, Any]:
    s3 = g.client("s3")
    s3.create_bucket(Bucket="console-photos")
    for i in range(3):
        s3.put_object(Bucket="console-photos", Key=f"p{i}.jpg", Body=b"x" * 2048)
    cw = g.client("cloudwatch")
    cw.put_metric_data(Namespace="Shop", MetricData=[{"MetricName": "Visits", "Value": 3.0}])
    # The alarm's metric has no datapoints and missing data is ignored: the alarm
    # loop, which may evaluate it before the page is read, keeps the state set
    # below (a datapoint of 3 orders would turn it back to OK, as CloudWatch does).
    cw.put_metric_alarm(AlarmName="orders-stalled", Namespace="Shop", MetricName="Orders",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1.0,
                        ComparisonOperator="LessThanThreshold", TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName="orders-stalled", StateValue="ALARM",
                       StateReason="no orders for a minute")
    return {"bucket": "console-photos", "alarm": "orders-stalled"}


@pytest.fixture(scope="module")
def gureum() -> Iterator[RunningGureum]:
    with running_gureum() as g:
        yield g


@needs_chromium
def test_the_overview_shows_buckets_and_alarms_in_a_browser(gureum: RunningGureum) -> None:
    made = make_things(gureum)
    dom = chromium(f"{gureum.endpoint}/_gureum/", "--dump-dom")
    assert "<title>What runs · gureum</title>" in dom
    bucket = row_with(dom, made["bucket"])
    assert "us-east-1" in bucket and " 3 " in bucket and "6.0 KiB" in bucket
    alarm = row_with(dom, made["alarm"])
    assert "ALARM" in alarm and "no orders for a minute" in alarm
    assert "Shop/Orders LessThanThreshold 1.0" in alarm
    text = text_of(dom)
    for heading in ("EC2 instances", "Load balancers and target health", "RDS DB instances",
                    "ElastiCache clusters", "Auto Scaling groups"):
        assert heading in text
    # A deleted alarm is gone from the page.
    gureum.client("cloudwatch").delete_alarms(AlarmNames=[made["alarm"]])
    assert made["alarm"] not in chromium(f"{gureum.endpoint}/_gureum/", "--dump-dom")


@needs_chromium
def test_the_bill_shows_costs_and_a_crossed_budget(gureum: RunningGureum) -> None:
    make_things(gureum)
    budget(gureum, "shoestring", "0.000001")
    url = f"{gureum.endpoint}/_gureum/bill"
    dom = chromium(url, "--dump-dom")
    text = text_of(dom)
    assert "Month to date" in text
    assert re.search(r"Amazon Simple Storage Service \$0\.\d{6}", text), text
    assert re.search(r"AmazonCloudWatch \$0\.\d{6}", text), text
    assert re.search(r"Total \$0\.\d{6}", text), text
    assert "Forecast for the whole month" in text
    assert "console-photos" in row_with(dom, "console-photos")  # a top resource
    budget_row = row_with(dom, "shoestring</td><td>MONTHLY")
    assert "ALARM" in budget_row and "ACTUAL > 80%" in budget_row
    crossed = row_with(dom, "ops@example.com")
    assert "shoestring" in crossed and "ACTUAL > 80%" in crossed
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \$0\.\d{6}", crossed), crossed
    forecasted = row_with(dom, "arn:aws:sns:us-east-1:000000000000:billing")
    assert "FORECASTED > 100%" in forecasted
    assert "gureum does not deliver budget notifications" in text
    screenshot(url, "bill")
    # The overview says it too, at the top.
    top = text_of(chromium(f"{gureum.endpoint}/_gureum/", "--dump-dom"))
    assert re.search(r"Budget thresholds crossed this month shoestring: ACTUAL > 80% crossed "
                     r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC with \$0\.\d+ spent", top), top
    assert "Not e-mailed or sent to SNS" in top
    screenshot(f"{gureum.endpoint}/_gureum/", "overview-with-budget-alert")


@needs_chromium
@pytest.mark.skipif(root_only, reason="instances with their own network need root")
def test_the_overview_shows_a_running_instance_with_its_address() -> None:
    with ec2_gureum() as g:
        ec2 = g.client("ec2")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        iid = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                    {"Key": "Name", "Value": "web-1"}]}],
                                )["Instances"][0]["InstanceId"]
        try:
            def running() -> dict[str, Any] | None:
                inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0][
                    "Instances"][0]
                return inst if inst["State"]["Name"] == "running" else None

            inst = wait_for(running, timeout=60)
            assert isinstance(inst, dict)
            url = f"{g.endpoint}/_gureum/"
            row = row_with(chromium(url, "--dump-dom"), iid)
            assert "web-1" in row and "t3.micro" in row and "running" in row
            assert inst["PrivateIpAddress"] in row
            screenshot(url, "overview")
            ec2.stop_instances(InstanceIds=[iid])
            wait_for(lambda: "stopped" in row_with(chromium(url, "--dump-dom"), iid),
                     timeout=60, interval=0.5)
        finally:
            ec2.terminate_instances(InstanceIds=[iid])


@needs_chromium
def test_the_overview_shows_target_health(gureum: RunningGureum) -> None:
    from .test_elb_support import Backends
    from .test_elb_support import wait_for as wait_until

    elb = gureum.client("elbv2")
    backends = Backends()
    good, bad = "127.214.7.1", "127.214.7.2"
    try:
        backends.start(good)
        backends.start(bad)
        backends.health_status[bad] = 500
        lb = elb.create_load_balancer(Name="console-web")["LoadBalancers"][0]
        tg = elb.create_target_group(
            Name="console-web", Protocol="HTTP", Port=8080, TargetType="ip",
            HealthCheckPath="/health", HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
            UnhealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": good}, {"Id": bad}])
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])

        def settled() -> bool:
            found = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
            return {d["TargetHealth"]["State"] for d in found} == {"healthy", "unhealthy"}

        wait_until(settled, 60, "one healthy and one unhealthy target")
        url = f"{gureum.endpoint}/_gureum/"
        dom = chromium(url, "--dump-dom")
        row = row_with(dom, "console-web (HTTP:8080)")
        assert "console-web" in row and "application" in row and "active" in row
        assert lb["DNSName"] in row
        assert f"{good}:8080 healthy" in row
        assert f"{bad}:8080 unhealthy Target.ResponseCodeMismatch" in row
        screenshot(url, "overview-with-load-balancer")
    finally:
        backends.close()


@needs_chromium
@pytest.mark.skipif(root_only, reason="instances with their own network need root")
@pytest.mark.skipif(shutil.which("redis-server") is None or
                    not Path("/usr/lib/postgresql").is_dir(),
                    reason="needs redis-server and PostgreSQL")
def test_the_overview_shows_databases_caches_and_groups() -> None:
    from .rds_support import PASSWORD, engine_pids

    g_data: Path | None = None
    try:
        with ec2_gureum() as g:
            g_data = g.data_dir
            rds, ec, asg, ec2 = (g.client(s) for s in ("rds", "elasticache", "autoscaling",
                                                        "ec2"))
            rds.create_db_instance(DBInstanceIdentifier="orders-db", Engine="postgres",
                                   DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                                   MasterUsername="master", MasterUserPassword=PASSWORD)
            ec.create_cache_cluster(CacheClusterId="sessions", CacheNodeType="cache.t3.micro",
                                    Engine="redis")
            image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            ec2.create_launch_template(LaunchTemplateName="console-lt", LaunchTemplateData={
                "ImageId": image, "InstanceType": "t2.nano"})
            asg.create_auto_scaling_group(
                AutoScalingGroupName="console-web", MinSize=1, MaxSize=3, DesiredCapacity=1,
                LaunchTemplate={"LaunchTemplateName": "console-lt"},
                AvailabilityZones=["us-east-1a"])

            def ready() -> bool:
                db = rds.describe_db_instances(DBInstanceIdentifier="orders-db")[
                    "DBInstances"][0]
                cache = ec.describe_cache_clusters(CacheClusterId="sessions")[
                    "CacheClusters"][0]
                group = asg.describe_auto_scaling_groups(
                    AutoScalingGroupNames=["console-web"])["AutoScalingGroups"][0]
                return (db["DBInstanceStatus"] == "available"
                        and cache["CacheClusterStatus"] == "available"
                        and [i["LifecycleState"] for i in group["Instances"]] == ["InService"])

            wait_for(ready, timeout=120, interval=0.3)
            url = f"{g.endpoint}/_gureum/"
            dom = chromium(url, "--dump-dom")
            db = row_with(dom, "orders-db")
            assert "postgres" in db and "db.t3.micro" in db and "available" in db
            assert re.search(r"orders-db\S*:\d+", db), db  # its endpoint
            cache = row_with(dom, "sessions")
            assert "redis" in cache and "cache.t3.micro" in cache and "available" in cache
            assert re.search(r":\d+", cache), cache
            group = row_with(dom, "console-web")
            assert "1 / 1 / 3" in group and "console-lt" in group
            assert "InService" in group and "Healthy" in group
            assert "Could not read" not in dom
            screenshot(url, "overview-with-databases")
            ec.delete_cache_cluster(CacheClusterId="sessions")
            rds.delete_db_instance(DBInstanceIdentifier="orders-db", SkipFinalSnapshot=True)
            asg.delete_auto_scaling_group(AutoScalingGroupName="console-web", ForceDelete=True)
    finally:
        if g_data is not None:
            deadline = time.monotonic() + 10
            while engine_pids(g_data) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert engine_pids(g_data) == [], "postgres processes outlived gureum"


def curl(url: str, *args: str) -> tuple[int, str, str]:
    """(status, content type, body) as curl sees them."""
    with tempfile.NamedTemporaryFile() as body:
        out = subprocess.run(["curl", "-sS", "-o", body.name, "-w",
                              "%{http_code} %{content_type}", *args, url],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        status, _, ctype = out.partition(" ")
        return int(status), ctype, Path(body.name).read_text()


@needs_curl
def test_pages_over_curl(gureum: RunningGureum) -> None:
    base = gureum.endpoint
    for path in ("/_gureum/", "/_gureum/bill"):
        status, ctype, body = curl(base + path)
        assert status == 200 and ctype.startswith("text/html"), (path, status, ctype)
        # Self-contained: no scripts and nothing loaded from elsewhere.
        assert "<script" not in body
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", body), path
        assert "@import" not in body and "url(" not in body
    # What users named is shown as text, never as markup.
    gureum.client("cloudwatch").put_metric_alarm(
        AlarmName="<i>odd</i> & co", Namespace="Shop", MetricName="Orders", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="LessThanThreshold")
    status, _, body = curl(base + "/_gureum/")
    assert "&lt;i&gt;odd&lt;/i&gt; &amp; co" in body and "<i>odd" not in body
    status, _, _ = curl(base + "/_gureum")
    assert status == 302
    status, _, _ = curl(base + "/_gureum", "-L")
    assert status == 200
    status, _, body = curl(base + "/_gureum/?region=nowhere")
    assert status == 400 and "unknown region" in body
    status, ctype, body = curl(base + "/_gureum/?region=eu-west-1")
    assert status == 200 and "eu-west-1" in body
    # The AWS APIs are still answered beside the console.
    status, _, _ = curl(base + "/_gureum/nothing-here")
    assert status != 200


def request_counts(g: RunningGureum) -> dict[str, str]:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 86400))
    out = g.client("ce").get_cost_and_usage(
        TimePeriod={"Start": today, "End": tomorrow}, Granularity="DAILY",
        Metrics=["UsageQuantity"], GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}])
    return {grp["Keys"][0]: grp["Metrics"]["UsageQuantity"]["Amount"]
            for r in out["ResultsByTime"] for grp in r["Groups"] if "Requests" in grp["Keys"][0]}


@needs_curl
def test_looking_at_the_console_costs_nothing(gureum: RunningGureum) -> None:
    gureum.client("s3").create_bucket(Bucket="looked-at")
    gureum.client("s3").list_buckets()
    gureum.client("cloudwatch").list_metrics()
    before = request_counts(gureum)
    assert before.get("Requests-Tier1") and before.get("CW:Requests")
    for _ in range(3):
        for path in ("/_gureum/", "/_gureum/bill", "/_gureum/budget-alerts.json"):
            assert curl(gureum.endpoint + path)[0] == 200
    assert request_counts(gureum) == before


@needs_curl
def test_budget_alerts_json_for_gureum_bill(gureum: RunningGureum) -> None:
    budget(gureum, "json-budget", "0.000001")
    gureum.client("s3").create_bucket(Bucket="json-budget-bucket")
    gureum.client("s3").list_buckets()
    status, ctype, body = curl(gureum.endpoint + "/_gureum/budget-alerts.json")
    assert status == 200 and ctype.startswith("application/json")
    alerts = [a for a in json.loads(body)["alerts"] if a["BudgetName"] == "json-budget"]
    assert alerts and alerts[0]["Notification"]["NotificationType"] == "ACTUAL"
    assert float(alerts[0]["Spend"]) > 0 and alerts[0]["CrossedAt"] > 0


def test_other_clients_are_refused() -> None:
    """The pages are unauthenticated: a client that is not on this machine gets 403."""
    import asyncio
    from unittest import mock

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from gureum.console import Console
    from gureum.server import _loopback

    console = Console(mock.Mock(), {}, allowed=_loopback)
    app = web.Application()
    console.install(app)

    def status(peer: str) -> int:
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda name, default=None: (
            (peer, 50000) if name == "peername" else default)
        request = make_mocked_request("GET", "/_gureum/bill", app=app, transport=transport)
        handler = app.router.resolve(request)

        async def go() -> int:
            match = await handler
            try:
                return (await match.handler(request)).status
            except web.HTTPException as exc:
                return exc.status

        return asyncio.run(go())

    assert status("10.1.2.3") == 403
    assert status("192.168.0.7") == 403
    assert status("::ffff:10.0.0.1") == 403
