"""Auto Scaling, the lesson's scenario, against a running gureum.

An application load balancer in front of a group (min 1, max 4) of small web
servers whose requests burn CPU, with a target-tracking policy holding the
group's average CPU at 50 %:

1. a bounded load generator (through the load balancer's DNS name, on
   loopback; it stops by itself) makes the one server busy: the group scales
   out and the new instances answer requests through the load balancer;
2. the load stops: the group scales back in, while light requests keep
   going to a healthy path and none of them fails (a leaving instance is
   drained from the target group before it is terminated);
3. every process of an instance is killed: the group replaces it.

Run it as root (instances get their own network namespaces) against a gureum
started with time sped up, so that it completes in about a minute (with
``GUREUM_TIME_SCALE=12``, steadier on a busy machine, in about two):

    GUREUM_TIME_SCALE=60 gureum up --detach
    .venv/bin/python examples/autoscaling_demo.py [--endpoint http://127.0.0.1:4566]

It prints what happens as it goes, and a JSON summary (``--json``) as its
last line; it exits non-zero when a step does not happen in time. Everything
it created is deleted at the end (``--keep`` leaves it).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config

NAME = "demo-web"
CPU_MS = 50  # CPU each busy request burns on its server

# The web server every instance runs (its user data): ``/`` burns CPU_MS of
# CPU, ``/whoami`` and ``/health`` answer at once; every answer names the
# instance, read from the instance metadata service (IMDSv2) once it listens.
SERVER = r"""
import http.server, sys, time, urllib.request
BURN = float(sys.argv[1]) / 1000
IMDS = "http://169.254.169.254/latest/"

def whoami():
    put = urllib.request.Request(IMDS + "api/token", method="PUT",
                                 headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    token = urllib.request.urlopen(put, timeout=2).read().decode()
    get = urllib.request.Request(IMDS + "meta-data/instance-id",
                                 headers={"X-aws-ec2-metadata-token": token})
    return urllib.request.urlopen(get, timeout=2).read().decode()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    me = None

    def do_GET(self):
        if self.path == "/":
            start = time.thread_time()
            while time.thread_time() - start < BURN:
                pass
        if self.path == "/health":
            body = b"ok\n"
        else:
            if Handler.me is None:
                Handler.me = whoami()
            body = ("id=" + Handler.me + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("0.0.0.0", 80), Handler).serve_forever()
"""

USER_DATA = f"""#!/bin/bash
cat > /srv-web.py <<'EOF'
{SERVER}
EOF
exec python3 /srv-web.py {CPU_MS}
"""

T = TypeVar("T")


class Timeout(RuntimeError):
    """A step did not happen in time; ``facts`` say what was measured."""

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.facts = facts


def wait_for(what: str, check: Callable[[], T | None], timeout: float,
             interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
        except Exception as exc:  # not there yet
            last = exc
        time.sleep(interval)
    raise Timeout(f"{what}: not within {timeout:.0f} s" + (f" (last error: {last})"
                                                          if last else ""))


def get(url: str, timeout: float) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body: bytes = r.read()
    return body.decode().strip()


@dataclass
class Traffic:
    """Requests sent at a fixed rate by a few threads; what answered each."""

    url: str
    rate: float  # requests per second
    seconds: float  # the longest it runs
    workers: int = 8
    timeout: float = 10.0
    answers: list[tuple[float, str]] = field(default_factory=list)  # (time, instance id)
    failures: list[tuple[float, str]] = field(default_factory=list)  # (time, error)
    started: float = 0.0
    stopped: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Traffic:
        self.started = time.monotonic()
        for i in range(self.workers):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _run(self, worker: int) -> None:
        gap = self.workers / self.rate
        due = self.started + worker * gap / self.workers
        end = self.started + self.seconds
        while not self._stop.is_set() and due < end:
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            due += gap
            try:
                body = get(self.url, self.timeout)
                with self._lock:
                    self.answers.append((time.monotonic(), body.removeprefix("id=")))
            except (OSError, urllib.error.URLError) as exc:
                with self._lock:
                    self.failures.append((time.monotonic(), str(exc)))

    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.timeout + 5)
        self.stopped = time.monotonic()

    def first_from(self, ids: set[str]) -> float | None:
        with self._lock:
            return next((t for t, who in self.answers if who in ids), None)

    def servers(self) -> set[str]:
        with self._lock:
            return {who for _, who in self.answers}


class Demo:
    def __init__(self, endpoint: str, region: str, say: Callable[[str], None]) -> None:
        cfg = Config(retries={"max_attempts": 10, "mode": "standard"})
        kw: dict[str, Any] = dict(endpoint_url=endpoint, region_name=region,
                                  aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                                  aws_secret_access_key=os.environ.get(
                                      "AWS_SECRET_ACCESS_KEY", "test"), config=cfg)
        self.ec2 = boto3.client("ec2", **kw)
        self.elb = boto3.client("elbv2", **kw)
        self.asg = boto3.client("autoscaling", **kw)
        self.cw = boto3.client("cloudwatch", **kw)
        self.say = say
        self.t0 = time.monotonic()
        self.summary: dict[str, Any] = {}

    def at(self) -> str:
        return f"[{time.monotonic() - self.t0:6.1f}s]"

    def log(self, text: str) -> None:
        self.say(f"{self.at()} {text}")

    # -- what the group looks like ---------------------------------------------------

    def group(self) -> dict[str, Any]:
        found: dict[str, Any] = self.asg.describe_auto_scaling_groups(
            AutoScalingGroupNames=[NAME])["AutoScalingGroups"][0]
        return found

    def in_service(self) -> set[str]:
        return {i["InstanceId"] for i in self.group()["Instances"]
                if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"}

    def cpu(self) -> float | None:
        """The group's latest average CPUUtilization datapoint."""
        now = datetime.now(UTC)
        points = self.cw.get_metric_statistics(
            Namespace="AWS/EC2", MetricName="CPUUtilization",
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": NAME}],
            StartTime=now - timedelta(seconds=20), EndTime=now, Period=1,
            Statistics=["Average"])["Datapoints"]
        if not points:
            return None
        value: float = max(points, key=lambda p: p["Timestamp"])["Average"]
        return value

    def healthy_targets(self) -> set[str]:
        out = self.elb.describe_target_health(TargetGroupArn=self.tg)
        return {d["Target"]["Id"] for d in out["TargetHealthDescriptions"]
                if d["TargetHealth"]["State"] == "healthy"}

    # -- setting up ------------------------------------------------------------------

    def create(self) -> None:
        image = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        subnets = self.ec2.describe_subnets(Filters=[{"Name": "default-for-az",
                                                      "Values": ["true"]}])["Subnets"][:2]
        vpc = subnets[0]["VpcId"]
        self.ec2.create_launch_template(LaunchTemplateName=NAME, LaunchTemplateData={
            "ImageId": image, "InstanceType": "t2.nano", "Monitoring": {"Enabled": True},
            "UserData": base64.b64encode(USER_DATA.encode()).decode()})
        lb = self.elb.create_load_balancer(Name=NAME, Subnets=[s["SubnetId"] for s in subnets]
                                           )["LoadBalancers"][0]
        self.lb_arn, self.dns = lb["LoadBalancerArn"], lb["DNSName"]
        self.tg = self.elb.create_target_group(
            Name=NAME, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
            HealthCheckPath="/health", HealthCheckIntervalSeconds=5,
            HealthCheckTimeoutSeconds=4, HealthyThresholdCount=2, UnhealthyThresholdCount=3,
        )["TargetGroups"][0]["TargetGroupArn"]
        self.elb.modify_target_group_attributes(TargetGroupArn=self.tg, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "5"}])
        self.elb.create_listener(LoadBalancerArn=self.lb_arn, Protocol="HTTP", Port=80,
                                 DefaultActions=[{"Type": "forward",
                                                  "TargetGroupArn": self.tg}])
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=NAME, MinSize=1, MaxSize=4, DesiredCapacity=1,
            LaunchTemplate={"LaunchTemplateName": NAME, "Version": "$Latest"},
            VPCZoneIdentifier=",".join(s["SubnetId"] for s in subnets),
            TargetGroupARNs=[self.tg], HealthCheckType="EC2", HealthCheckGracePeriod=30,
            DefaultInstanceWarmup=300)
        self.asg.put_scaling_policy(
            AutoScalingGroupName=NAME, PolicyName="cpu50", PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={"PredefinedMetricSpecification": {
                "PredefinedMetricType": "ASGAverageCPUUtilization"}, "TargetValue": 50.0})
        self.log(f"load balancer http://{self.dns}/ in front of group {NAME} "
                 "(min 1, max 4, target tracking at 50 % CPU)")

    def explain(self) -> None:
        """What the group and its policy's alarms looked like (after a step failed)."""
        with contextlib.suppress(Exception):
            group = self.group()
            self.log(f"group: desired {group['DesiredCapacity']}, instances " + ", ".join(
                f"{i['InstanceId']} {i['LifecycleState']}/{i['HealthStatus']}"
                for i in group["Instances"]))
        with contextlib.suppress(Exception):
            for alarm in self.cw.describe_alarms(AlarmNamePrefix=f"TargetTracking-{NAME}-")[
                    "MetricAlarms"]:
                self.log(f"alarm {alarm['AlarmName']}: {alarm['StateValue']}, "
                         f"{alarm['StateReason']}")

    def delete(self) -> None:
        with contextlib.suppress(Exception):
            self.asg.delete_auto_scaling_group(AutoScalingGroupName=NAME, ForceDelete=True)
        with contextlib.suppress(Exception):
            wait_for("the group to go", lambda: not self.asg.describe_auto_scaling_groups(
                AutoScalingGroupNames=[NAME])["AutoScalingGroups"], timeout=90)
        with contextlib.suppress(Exception):
            self.elb.delete_load_balancer(LoadBalancerArn=self.lb_arn)
        with contextlib.suppress(Exception):
            wait_for("the target group to be free", lambda: self.elb.delete_target_group(
                TargetGroupArn=self.tg) is not None, timeout=30)
        with contextlib.suppress(Exception):
            self.ec2.delete_launch_template(LaunchTemplateName=NAME)

    # -- the scenario ----------------------------------------------------------------

    def run(self, load_rate: float, load_seconds: float, patience: float) -> dict[str, Any]:
        url = f"http://{self.dns}/"
        first = wait_for("the first instance in service", lambda: self.in_service(),
                         timeout=patience)
        wait_for("the first instance to be healthy in the target group",
                 lambda: first <= self.healthy_targets(), timeout=patience)
        wait_for("an answer through the load balancer", lambda: get(url + "whoami", 5),
                 timeout=patience)
        self.log(f"in service and answering through the load balancer: {sorted(first)}")

        # 1. Load: every request burns CPU on whichever server answers it.
        load = Traffic(url, rate=load_rate, seconds=load_seconds).start()
        self.log(f"load: {load_rate:g} requests/s x {CPU_MS} ms of CPU each, "
                 f"for at most {load_seconds:g} s")
        try:
            shown: list[float | None] = []

            def scaled_out() -> bool:
                cpu = self.cpu()
                if cpu is not None and (not shown or cpu != shown[-1]):
                    self.log(f"average CPU of the group: {cpu:.0f} %")
                shown.append(cpu)
                return bool(self.group()["DesiredCapacity"] > 1)

            try:
                wait_for("a scale-out", scaled_out, timeout=load_seconds, interval=1.0)
            except Timeout as exc:
                # The CPU the answered requests burned, whatever the metric said:
                # below the target, the host did not give the instance its CPU.
                served = len(load.answers) * CPU_MS / 1000 / (time.monotonic() - load.started)
                raise Timeout(f"{exc}; the answered requests burned {served:.0%} of the "
                              "instance's CPU", step="scale-out",
                              served_cpu=round(100 * served, 1)) from None
            self.log(f"scaling out: desired capacity {self.group()['DesiredCapacity']}")
            seen: dict[str, float] = {}

            def serving() -> float | None:
                # Note when the new instances go in service and pass the
                # load balancer's health checks, on the way.
                if "in service" not in seen and self.in_service() - first:
                    seen["in service"] = time.monotonic()
                    self.log(f"in service: {sorted(self.in_service() - first)}")
                if "healthy" not in seen and self.healthy_targets() - first:
                    seen["healthy"] = time.monotonic()
                    self.log(f"healthy in the target group: "
                             f"{sorted(self.healthy_targets() - first)}")
                return load.first_from(load.servers() - first)

            new_at = wait_for("a new instance answering through the load balancer", serving,
                              timeout=max(1.0, load_seconds - (time.monotonic() - load.started)))
            new = load.servers() - first
            self.log(f"new instance(s) answering through the load balancer: {sorted(new)} "
                     f"({new_at - load.started:.1f} s after the load started)")
            # Let the new instances take their share for a few seconds.
            time.sleep(min(5.0, max(0.0, load.started + load_seconds - time.monotonic())))
        finally:
            load.stop()
        served = {who: sum(1 for _, w in load.answers if w == who) for who in load.servers()}
        self.log(f"load stopped: {len(load.answers)} answers {served}, "
                 f"{len(load.failures)} failures")
        peak = self.group()["DesiredCapacity"]

        # 2. Scale-in, with light requests on a healthy path all along.
        probe = Traffic(url + "whoami", rate=4, seconds=patience * 2, workers=2).start()
        try:
            wait_for("the scale-in", lambda: self.group()["DesiredCapacity"] == 1 and len(
                self.group()["Instances"]) == 1 and len(self.in_service()) == 1,
                timeout=patience * 2)
            scaled_in = time.monotonic()
            self.log(f"scaled in to {sorted(self.in_service())} "
                     f"({scaled_in - load.stopped:.1f} s after the load stopped)")
            time.sleep(2)
        finally:
            probe.stop()
        self.log(f"light requests during the scale-in: {len(probe.answers)} answered, "
                 f"{len(probe.failures)} failed")

        # 3. Kill every process of the remaining instance: the group replaces it.
        victim = next(iter(self.in_service()))
        killed = kill_instance(victim)
        self.log(f"killed the {killed} processes of {victim}")
        t_kill = time.monotonic()
        replacement = wait_for("a replacement in service", lambda: (
            self.in_service() - {victim}), timeout=patience)
        wait_for("the replacement answering through the load balancer",
                 lambda: get(url + "whoami", 5).removeprefix("id=") in replacement,
                 timeout=patience)
        replaced = time.monotonic()
        self.log(f"replaced by {sorted(replacement)}, answering through the load balancer "
                 f"({replaced - t_kill:.1f} s after the kill)")
        causes = [a["Cause"] for a in self.asg.describe_scaling_activities(
            AutoScalingGroupName=NAME)["Activities"]]
        return {
            "first": sorted(first),
            "peak_desired": peak,
            "new_instances": sorted(new),
            "load_answers": served,
            "load_failures": len(load.failures),
            "seconds_to_new_instance_serving": round(new_at - load.started, 1),
            "seconds_to_scale_in": round(scaled_in - load.stopped, 1),
            "probe_answers": len(probe.answers),
            "probe_failures": [e for _, e in probe.failures][:5],
            "probe_failure_count": len(probe.failures),
            "killed": victim,
            "replacement": sorted(replacement),
            "seconds_to_replace": round(replaced - t_kill, 1),
            "causes": causes,
        }


def kill_instance(instance_id: str) -> int:
    """SIGKILL every process in the instance's cgroups (its whole process tree)."""
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if f"/gureum/{instance_id}" in (proc / "cgroup").read_text():
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
    if not killed:
        raise RuntimeError(f"no process of {instance_id} found (run as root on the same host)")
    return killed


@contextlib.contextmanager
def created(demo: Demo, keep: bool) -> Iterator[Demo]:
    try:
        demo.create()
        yield demo
    except Timeout:
        demo.explain()
        raise
    finally:
        if not keep:
            demo.log("deleting the group, the load balancer and the launch template")
            demo.delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL",
                                                             "http://127.0.0.1:4566"))
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--rate", type=float, default=16.0,
                        help="busy requests per second while loaded (default 16)")
    parser.add_argument("--load-seconds", type=float, default=60.0,
                        help="the longest the load runs (default 60)")
    parser.add_argument("--patience", type=float, default=120.0,
                        help="seconds to wait for each step (default 120)")
    parser.add_argument("--keep", action="store_true", help="leave what was created")
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    args = parser.parse_args()
    demo = Demo(args.endpoint, args.region, lambda line: print(line, flush=True))
    try:
        with created(demo, args.keep):
            summary = demo.run(args.rate, args.load_seconds, args.patience)
    except Timeout as exc:
        print(f"FAILED: {exc}", flush=True)
        print("(CPU-driven scaling needs the instances to get their CPU: on a host busy "
              f"with other work, load average {os.getloadavg()[0]:.1f}, they may not)",
              flush=True)
        if args.json:
            print(json.dumps({"failed": str(exc), **exc.facts}), flush=True)
        return 1
    if args.json:
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
