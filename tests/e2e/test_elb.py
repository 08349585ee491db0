"""ELBv2 end to end through boto3, curl and the AWS CLI against a real gureum:
an application load balancer spreads curl requests over healthy targets, a
killed target turns unhealthy within its thresholds and comes back, rules
route by path, header, method, query and source, redirects and fixed
responses; a network load balancer forwards TCP; AWS errors."""

from __future__ import annotations

import functools
import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gureum.testing.server import RunningGureum

from .test_elb_acm import issue
from .test_elb_support import DRIVERS, Backends, client_address, curl, gureum_with, wait_for

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed")

NET = "127.213.0"


@pytest.fixture
def backends() -> Iterator[Backends]:
    b = Backends()
    yield b
    b.close()


@pytest.fixture(scope="module", params=DRIVERS)
def cloud(request: pytest.FixtureRequest) -> Iterator[RunningGureum]:
    yield from gureum_with(request.param)


@pytest.fixture
def elb(cloud: RunningGureum) -> Any:
    return cloud.client("elbv2")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_alb(elb: Any, name: str) -> dict[str, Any]:
    lb: dict[str, Any] = elb.create_load_balancer(Name=name)["LoadBalancers"][0]
    assert lb["State"]["Code"] == "provisioning"
    return lb


def make_tg(elb: Any, name: str, **extra: Any) -> str:
    params = dict(Name=name, Protocol="HTTP", Port=8080, TargetType="ip",
                  HealthCheckPath="/health", HealthCheckIntervalSeconds=5,
                  HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
                  UnhealthyThresholdCount=2)
    params.update(extra)
    arn: str = elb.create_target_group(**params)["TargetGroups"][0]["TargetGroupArn"]
    return arn


def states(elb: Any, tg: str) -> dict[str, tuple[str, str]]:
    out = elb.describe_target_health(TargetGroupArn=tg)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason", ""))
            for d in out}


def wait_active(elb: Any, lb_arn: str) -> None:
    wait_for(lambda: elb.describe_load_balancers(LoadBalancerArns=[lb_arn])
             ["LoadBalancers"][0]["State"]["Code"] == "active", 20, "active")


def test_alb_round_robin_failover_and_recovery(elb: Any, backends: Backends) -> None:
    hosts = [f"{NET}.{i}" for i in (1, 2, 3)]
    for h in hosts:
        backends.start(h)
    lb = make_alb(elb, unique("web"))
    tg = make_tg(elb, unique("web"))
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": h} for h in hosts])
    assert set(states(elb, tg).values()) == {("unused", "Target.NotInUse")}
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    wait_active(elb, lb["LoadBalancerArn"])
    assert lb["DNSName"].endswith(".us-east-1.elb.gureum.internal")
    wait_for(lambda: {s for s, _ in states(elb, tg).values()} == {"healthy"}, 30, "healthy")

    url = f"http://{lb['DNSName']}/hello"
    answers = [curl(url) for _ in range(9)]
    assert {code for code, _ in answers} == {200}
    seen = [body.split()[0] for _, body in answers]
    assert sorted(seen) == sorted(hosts * 3)  # round robin
    _, body = curl(url)
    # X-Forwarded-For, -Proto
    assert body.split()[2:] == [client_address(lb["DNSName"]), "http"]

    # A target whose server dies turns unhealthy within interval x threshold (+1 s).
    backends.stop(hosts[0])
    took = wait_for(lambda: states(elb, tg)[hosts[0]][0] == "unhealthy", 20, "unhealthy")
    assert took <= 5 * 2 + 1
    assert states(elb, tg)[hosts[0]] == ("unhealthy", "Target.FailedHealthChecks")
    results = [curl(url) for _ in range(12)]
    assert {code for code, _ in results} == {200}
    assert {body.split()[0] for _, body in results} == set(hosts[1:])

    # Back again: healthy after the healthy threshold, and served.
    backends.start(hosts[0])
    wait_for(lambda: states(elb, tg)[hosts[0]][0] == "healthy", 20, "healthy again")
    assert {curl(url)[1].split()[0] for _ in range(6)} == set(hosts)

    # A wrong status code is a ResponseCodeMismatch.
    went_bad = time.monotonic()
    backends.health_status[hosts[1]] = 500
    wait_for(lambda: states(elb, tg)[hosts[1]][0] == "unhealthy", 20, "mismatch")
    health = elb.describe_target_health(TargetGroupArn=tg, Targets=[{"Id": hosts[1]}])
    th = health["TargetHealthDescriptions"][0]["TargetHealth"]
    assert th["Reason"] == "Target.ResponseCodeMismatch"
    assert "[500]" in th["Description"]

    # Deregistration drains for the deregistration delay, then the target is gone.
    elb.modify_target_group_attributes(TargetGroupArn=tg, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "2"}])
    elb.deregister_targets(TargetGroupArn=tg, Targets=[{"Id": hosts[2]}])
    assert states(elb, tg)[hosts[2]] == ("draining", "Target.DeregistrationInProgress")
    wait_for(lambda: hosts[2] not in states(elb, tg), 10, "drained")
    # The target is reported unhealthy when the first proxy process's checks
    # fail; every process stops sending it traffic within interval x threshold
    # (+1 s) of its going bad, as the requirement reads.
    time.sleep(max(0.0, went_bad + 5 * 2 + 1 - time.monotonic()))
    assert {curl(url)[1].split()[0] for _ in range(4)} == {hosts[0]}

    # With no healthy target: 503, as ALB answers.
    backends.stop(hosts[0])
    wait_for(lambda: states(elb, tg)[hosts[0]][0] == "unhealthy", 20, "all down")
    assert curl(url)[0] == 503

    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: curl(url)[0] == 0, 10, "proxy gone")
    elb.delete_target_group(TargetGroupArn=tg)


def test_rules_route_by_request(elb: Any, backends: Backends) -> None:
    backends.start(f"{NET}.11", name="web")
    backends.start(f"{NET}.12", name="api")
    backends.start(f"{NET}.13", name="canary")
    lb = make_alb(elb, unique("rules"))
    web, api, canary = (make_tg(elb, unique(n)) for n in ("web", "api", "canary"))
    for tg, host in ((web, 11), (api, 12), (canary, 13)):
        elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": f"{NET}.{host}"}])
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": web}])["Listeners"][0]
    la = listener["ListenerArn"]

    def rule(priority: int, conditions: list[dict[str, Any]], action: dict[str, Any]) -> str:
        arn: str = elb.create_rule(ListenerArn=la, Priority=priority, Conditions=conditions,
                                   Actions=[action])["Rules"][0]["RuleArn"]
        return arn

    r_api = rule(10, [{"Field": "path-pattern", "Values": ["/api/*"]}],
                 {"Type": "forward", "TargetGroupArn": api})
    rule(20, [{"Field": "http-header",
               "HttpHeaderConfig": {"HttpHeaderName": "X-Canary", "Values": ["y*"]}}],
         {"Type": "forward", "TargetGroupArn": canary})
    rule(30, [{"Field": "http-request-method",
               "HttpRequestMethodConfig": {"Values": ["DELETE"]}}],
         {"Type": "fixed-response",
          "FixedResponseConfig": {"StatusCode": "405", "ContentType": "text/plain",
                                  "MessageBody": "no deleting"}})
    rule(40, [{"Field": "query-string",
               "QueryStringConfig": {"Values": [{"Key": "v", "Value": "2"}]}}],
         {"Type": "forward", "TargetGroupArn": canary})
    rule(50, [{"Field": "path-pattern", "Values": ["/old/*"]}],
         {"Type": "redirect",
          "RedirectConfig": {"Path": "/new/#{path}", "StatusCode": "HTTP_301"}})
    rule(60, [{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}],
         {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}})
    rule(70, [{"Field": "host-header", "Values": ["shop.*"]}],
         {"Type": "forward", "TargetGroupArn": api})

    with pytest.raises(elb.exceptions.PriorityInUseException):
        rule(10, [{"Field": "path-pattern", "Values": ["/x"]}],
             {"Type": "forward", "TargetGroupArn": web})
    rules = elb.describe_rules(ListenerArn=la)["Rules"]
    assert [r["Priority"] for r in rules] == ["10", "20", "30", "40", "50", "60", "70", "default"]
    assert rules[-1]["IsDefault"] is True

    wait_active(elb, lb["LoadBalancerArn"])
    def all_healthy(tg: str) -> bool:
        return {s for s, _ in states(elb, tg).values()} == {"healthy"}

    for tg in (web, api, canary):
        wait_for(functools.partial(all_healthy, tg), 30)
    base = f"http://{lb['DNSName']}"
    assert curl(base + "/")[1].split()[0] == "web"
    assert curl(base + "/api/users")[1].split()[:2] == ["api", "/api/users"]
    assert curl(base + "/x", "-H", "X-Canary: yes")[1].split()[0] == "canary"
    assert curl(base + "/api/x", "-H", "X-Canary: yes")[1].split()[0] == "api"  # priority
    assert curl(base + "/x", "-X", "DELETE") == (405, "no deleting")
    assert curl(base + "/x?a=1&v=2")[1].split()[0] == "canary"
    assert curl(base + "/x", "-H", "Host: shop.example.com")[1].split()[0] == "api"
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                          base + "/old/page?q=1"], capture_output=True, text=True, check=True)
    assert out.stdout == f"301 http://{lb['DNSName']}:80/new/old/page?q=1"

    # Reorder: the canary header now wins over /api/*.
    r_canary = rules[1]["RuleArn"]
    elb.set_rule_priorities(RulePriorities=[{"RuleArn": r_api, "Priority": 25},
                                            {"RuleArn": r_canary, "Priority": 5}])
    wait_for(lambda: curl(base + "/api/x", "-H", "X-Canary: yes")[1].split()[0] == "canary", 10)

    # Weighted forward: /api/* split over api and canary.
    elb.modify_rule(RuleArn=r_api, Actions=[{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": api, "Weight": 1},
                         {"TargetGroupArn": canary, "Weight": 1}]}}])
    wait_for(lambda: {curl(base + "/api/w")[1].split()[0] for _ in range(6)}
             == {"api", "canary"}, 10, "weighted")
    elb.delete_rule(RuleArn=r_api)
    wait_for(lambda: curl(base + "/api/w")[1].split()[0] == "web", 10, "rule deleted")
    with pytest.raises(elb.exceptions.OperationNotPermittedException):
        elb.delete_rule(RuleArn=rules[-1]["RuleArn"])
    with pytest.raises(elb.exceptions.ResourceInUseException):
        elb.delete_target_group(TargetGroupArn=api)
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])


def test_nlb_forwards_tcp(elb: Any, backends: Backends) -> None:
    backends.start_echo(f"{NET}.21", 7000)
    lb = elb.create_load_balancer(Name=unique("tcp"), Type="network")["LoadBalancers"][0]
    tg = elb.create_target_group(Name=unique("echo"), Protocol="TCP", Port=7000,
                                 TargetType="ip", HealthCheckIntervalSeconds=5,
                                 HealthyThresholdCount=2)["TargetGroups"][0]
    assert tg["HealthCheckProtocol"] == "TCP"
    elb.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": f"{NET}.21"}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="TCP", Port=7000,
                        DefaultActions=[{"Type": "forward",
                                         "TargetGroupArn": tg["TargetGroupArn"]}])
    wait_active(elb, lb["LoadBalancerArn"])
    wait_for(lambda: states(elb, tg["TargetGroupArn"])[f"{NET}.21"][0] == "healthy", 30)
    with socket.create_connection((lb["DNSName"], 7000), timeout=5) as s:
        s.sendall(b"ping through the nlb")
        assert s.recv(100) == b"ping through the nlb"
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])


def test_api_errors_attributes_and_tags(elb: Any, cloud: RunningGureum) -> None:
    name = unique("errs")
    lb = elb.create_load_balancer(Name=name, Tags=[{"Key": "team", "Value": "a"}])
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    with pytest.raises(elb.exceptions.DuplicateLoadBalancerNameException):
        elb.create_load_balancer(Name=name, Scheme="internal")
    with pytest.raises(elb.exceptions.LoadBalancerNotFoundException):
        elb.describe_load_balancers(Names=["no-such-lb"])
    with pytest.raises(elb.exceptions.TargetGroupNotFoundException):
        elb.describe_target_groups(Names=["no-such-tg"])
    with pytest.raises(elb.exceptions.ClientError) as err:
        elb.create_load_balancer(Name="-bad-")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(elb.exceptions.ClientError) as err:
        elb.create_target_group(Name=unique("tg"), Protocol="HTTP", Port=80,
                                HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=6)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    tcp = elb.create_target_group(Name=unique("tcp"), Protocol="TCP", Port=80,
                                  TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    with pytest.raises(elb.exceptions.IncompatibleProtocolsException):
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tcp}])
    with pytest.raises(elb.exceptions.TargetGroupNotFoundException):
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward",
                                             "TargetGroupArn": tcp + "0"}])
    fixed = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200"}}]
    elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=fixed)
    with pytest.raises(elb.exceptions.DuplicateListenerException):
        elb.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig":
                                             {"StatusCode": "404"}}])

    attrs = elb.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "true"},
        {"Key": "idle_timeout.timeout_seconds", "Value": "30"}])["Attributes"]
    assert {"Key": "idle_timeout.timeout_seconds", "Value": "30"} in attrs
    with pytest.raises(elb.exceptions.OperationNotPermittedException):
        elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    with pytest.raises(elb.exceptions.ClientError) as err:
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
            {"Key": "no.such.key", "Value": "1"}])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    tg_attrs = elb.describe_target_group_attributes(TargetGroupArn=tcp)["Attributes"]
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "300"} in tg_attrs

    elb.add_tags(ResourceArns=[lb_arn, tcp], Tags=[{"Key": "env", "Value": "test"}])
    elb.remove_tags(ResourceArns=[lb_arn], TagKeys=["team"])
    tags = {d["ResourceArn"]: d["Tags"]
            for d in elb.describe_tags(ResourceArns=[lb_arn, tcp])["TagDescriptions"]}
    assert tags[lb_arn] == [{"Key": "env", "Value": "test"}]
    assert tags[tcp] == [{"Key": "env", "Value": "test"}]

    # The AWS CLI, once.
    out = cloud.aws("elbv2", "describe-load-balancers", "--names", name, check=True)
    described = json.loads(out.stdout)["LoadBalancers"][0]
    assert described["LoadBalancerArn"] == lb_arn
    assert described["Type"] == "application"
    wait_active(elb, lb_arn)
    assert curl(f"http://{described['DNSName']}/")[0] == 200  # the fixed response

    elb.modify_load_balancer_attributes(LoadBalancerArn=lb_arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)
    elb.delete_load_balancer(LoadBalancerArn=lb_arn)  # gone is fine
    elb.delete_target_group(TargetGroupArn=tcp)


def test_https_listener_terminates_tls(cloud: RunningGureum, elb: Any,
                                      backends: Backends) -> None:
    backends.start(f"{NET}.41")
    lb = make_alb(elb, unique("tls"))
    tg = make_tg(elb, unique("tls"))
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": f"{NET}.41"}])
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    with pytest.raises(elb.exceptions.ClientError) as err:
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                            DefaultActions=forward)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(elb.exceptions.CertificateNotFoundException):
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                            DefaultActions=forward, Certificates=[{
                                "CertificateArn": "arn:aws:acm:us-east-1:000000000000:"
                                                  "certificate/0b1c2d3e"}])
    with pytest.raises(elb.exceptions.CertificateNotFoundException):
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                            DefaultActions=forward, Certificates=[{
                                "CertificateArn": "arn:aws:iam::000000000000:"
                                                  "server-certificate/nothing-here"}])
    # An IAM server certificate (its CA unknown to curl).
    iam = cloud.client("iam")
    _, body, key = issue(lb["DNSName"])
    cert_name = unique("tls")
    cert = iam.upload_server_certificate(
        ServerCertificateName=cert_name, CertificateBody=body.decode(),
        PrivateKey=key.decode())["ServerCertificateMetadata"]["Arn"]
    lst = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS",
                              Port=443, DefaultActions=forward,
                              Certificates=[{"CertificateArn": cert}])["Listeners"][0]
    assert lst["Certificates"] == [{"CertificateArn": cert}]
    assert lst["SslPolicy"].startswith("ELBSecurityPolicy")
    wait_active(elb, lb["LoadBalancerArn"])
    wait_for(lambda: states(elb, tg)[f"{NET}.41"][0] == "healthy", 30, "healthy")

    url = f"https://{lb['DNSName']}/secure"
    code, body = curl(url, "-k")
    assert code == 200
    # X-Forwarded-Proto
    assert body.split()[1:] == ["/secure", client_address(lb["DNSName"]), "https"]
    assert curl(url)[0] == 0  # an unknown CA: refused without -k

    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: curl(url, "-k")[0] == 0, 10, "proxy gone")
    elb.delete_target_group(TargetGroupArn=tg)
    iam.delete_server_certificate(ServerCertificateName=cert_name)
