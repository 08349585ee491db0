"""Every ELB operation, given parameters its model allows (hypothesis draws
them from the input shape as botocore sends them over the query protocol,
with real ARNs of a load balancer, target group, listener and rule, names,
subnets and target ids mixed in so that calls get past their lookups),
answers or refuses with a client error (4xx): never another exception (the
gateway's 500) nor a server error."""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path
from typing import Any

import botocore.session
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gateway.shapes import EXAMPLES, values
from gureum.errors import AWSError
from gureum.gateway.validate import validate
from gureum.services.elbv2 import ELBv2

from .test_validation import C, World

MODEL = botocore.session.get_session().get_service_model("elbv2")


def snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


# (DescribeTargetHealth is a coroutine; test_validation covers its input.)
OPERATIONS = sorted(op for op in MODEL.operation_names
                    if hasattr(ELBv2, snake(op)) and op != "DescribeTargetHealth")
KIND_OF_KEY = {"LoadBalancerArn": "lb", "LoadBalancerArns": "lb", "TargetGroupArn": "tg",
               "TargetGroupArns": "tg", "ListenerArn": "listener", "ListenerArns": "listener",
               "RuleArn": "rule", "RuleArns": "rule"}


def with_real_values(value: Any, real: dict[str, Any], rnd: random.Random,
                     key: str = "") -> Any:
    """``value`` with some of its strings (by member name) replaced by real
    ARNs, names, subnets and target ids, so that calls get past lookups."""
    if isinstance(value, dict):
        return {k: with_real_values(v, real, rnd, k) for k, v in value.items()}
    if isinstance(value, list):
        return [with_real_values(v, real, rnd, key) for v in value]
    if not isinstance(value, str) or rnd.random() > 0.75:
        return value
    if key in KIND_OF_KEY:
        return real[KIND_OF_KEY[key]]
    choices = {"ResourceArns": [real[k] for k in ("lb", "tg", "listener", "rule")],
               "Name": [f"n{rnd.randrange(10**6)}"], "Names": ["fuzz", "nothing"],
               "Subnets": real["subnets"], "SubnetId": real["subnets"],
               "Id": ["10.0.0.7", "127.0.0.7", "172.31.0.9", "i-0123456789abcdef0"],
               "HealthCheckPath": ["/health"], "HttpCode": ["200", "200-299"],
               "Protocol": ["HTTP", "HTTPS", "TCP"], "Path": ["/p", "/#{path}"],
               "StatusCode": ["200", "404", "503", "HTTP_301", "HTTP_302"],
               "Port": ["#{port}", "8080"], "Host": ["#{host}", "example.com"],
               "ContentType": ["text/plain", "application/json"],
               "Field": ["path-pattern", "host-header", "http-header", "http-request-method",
                         "query-string", "source-ip"],
               "Key": ["stickiness.enabled", "deregistration_delay.timeout_seconds",
                       "idle_timeout.timeout_seconds", "team"],
               "Value": ["true", "30", "0", "x"]}
    return rnd.choice(choices[key]) if key in choices else value


def real_resources(w: World, n: int) -> dict[str, Any]:
    """A load balancer with a listener and a rule forwarding to a target group."""
    elb = w.elb
    lb = elb.create_load_balancer(C, {"Name": f"fuzz{n}"})["LoadBalancers"][0]
    tg = elb.create_target_group(C, {"Name": f"fuzz{n}", "Protocol": "HTTP", "Port": 80,
                                     "TargetType": "ip"})["TargetGroups"][0]["TargetGroupArn"]
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    listener = elb.create_listener(C, {"LoadBalancerArn": lb["LoadBalancerArn"],
                                       "Protocol": "HTTP", "Port": 80,
                                       "DefaultActions": forward})["Listeners"][0]["ListenerArn"]
    rule = elb.create_rule(C, {"ListenerArn": listener, "Priority": 1, "Actions": forward,
                               "Conditions": [{"Field": "path-pattern", "Values": ["/a"]}]})[
        "Rules"][0]["RuleArn"]
    return {"lb": lb["LoadBalancerArn"], "tg": tg, "listener": listener, "rule": rule,
            "subnets": [z["SubnetId"] for z in lb["AvailabilityZones"]]}


def never_a_server_error(w: World, operation: str, real: dict[str, Any]) -> None:
    op_model = MODEL.operation_model(operation)
    method = getattr(w.elb, snake(operation))

    @settings(max_examples=60, deadline=None, database=EXAMPLES, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(values(op_model.input_shape, "query"), st.randoms(use_true_random=False))
    def run(params: dict[str, Any], rnd: random.Random) -> None:
        params = with_real_values(params, real, rnd)
        try:
            validate(params, op_model.input_shape, "ValidationError", "ValidationError")
            method(C, params)
        except AWSError as exc:
            assert exc.status < 500, (operation, params, exc)

    run()


def test_operations_answer_client_errors_only(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = World(tmp_path)
        await w.start()
        try:
            for n, operation in enumerate(OPERATIONS):
                never_a_server_error(w, operation, real_resources(w, n))
        finally:
            await w.stop()
    asyncio.run(scenario())
