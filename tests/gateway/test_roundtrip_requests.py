"""Requests: botocore serializes, gureum parses, and the two must agree.

For every operation of every service gureum speaks (in each protocol the
service's model lists), hypothesis draws input parameters from the input
shape; botocore's own serializer writes the wire request (through
``prepare_request_dict`` and ``AWSRequest.prepare`` as a client does); gureum
must name the same operation and parse back the same parameters, up to what
the protocol can carry (``shapes.normalise``).
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import botocore.serialize
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest, prepare_request_dict
from botocore.model import OperationModel, ServiceModel
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gureum.gateway.protocols.base import HttpRequest, WireProtocol
from gureum.gateway.protocols.jsonrpc import CBORProtocol, JSONProtocol
from gureum.gateway.protocols.query import EC2Protocol, QueryProtocol
from gureum.gateway.protocols.restxml import RestXMLProtocol

from .shapes import EXAMPLES, normalise, values

SERVICES = (
    "ec2", "s3", "elbv2", "autoscaling", "cloudwatch", "rds", "elasticache", "iam", "sts",
    "ce", "budgets", "pricing", "acm", "secretsmanager",
)
ENDPOINT = "https://gureum.test:4566"

PROTOCOLS: dict[str, WireProtocol] = {
    "query": QueryProtocol(),
    "ec2": EC2Protocol(),
    "json": JSONProtocol(),
    "smithy-rpc-v2-cbor": CBORProtocol(),
    "rest-xml": RestXMLProtocol(),
}

# Operations the wire cannot tell apart: same method, path and query keys,
# and every header one requires may also be sent with the other. The router
# picks the one requiring more; the other is accepted as a member of the set.
# The S3 ones: deprecated operations and their successors (same request), and
# ListDirectoryBuckets, which differs from ListBuckets only in its endpoint
# host (S3 Express) unless it sends ``max-directory-buckets``.
AMBIGUOUS: dict[tuple[str, str], frozenset[str]] = {
    ("s3", old): frozenset({old, f"{old}Configuration"})
    for old in (
        "GetBucketLifecycle", "PutBucketLifecycle", "GetBucketNotification",
        "PutBucketNotification",
    )
}
AMBIGUOUS["s3", "ListDirectoryBuckets"] = frozenset({"ListBuckets", "ListDirectoryBuckets"})
# Headers the HTTP layer always writes; gureum reports them whether or not the
# caller named them (``PutObject``'s ``ContentLength``).
HTTP_HEADERS = ("content-length",)


@functools.cache
def model(service: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def serializer(protocol: str) -> Any:
    # Without validation: the strategies respect the shapes' structure but not
    # every numeric range and pattern, and the wire format is what is tested.
    return botocore.serialize.create_serializer(protocol, include_validation=False)


def cases() -> list[Any]:
    out = []
    for service in SERVICES:
        m = model(service)
        for protocol in m.metadata.get("protocols") or [m.metadata["protocol"]]:
            for op in m.operation_names:
                out.append(pytest.param(service, protocol, op, id=f"{service}-{protocol}-{op}"))
    return out


def wire_request(params: dict[str, Any], op: OperationModel, protocol: str) -> HttpRequest:
    """The HTTP request a botocore client would send for ``params``."""
    request_dict = serializer(protocol).serialize_to_request(params, op)
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    prepared = AWSRequest(
        method=request_dict["method"],
        url=request_dict["url"],
        data=request_dict["body"],
        headers=request_dict["headers"],
    ).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = body.read()
    headers = CIMultiDict((k, v if isinstance(v, str) else v.decode()) for k, v in
                          prepared.headers.items())
    query = MultiDict(parse_qsl(url.query, keep_blank_values=True))
    return HttpRequest(
        method=prepared.method,
        path=unquote(url.path),
        raw_path=url.path,
        raw_query=url.query,
        query=MultiDictProxy(query),
        headers=CIMultiDictProxy(headers),
        host=url.netloc,
        body=body,
    )


@functools.cache
def input_strategy(service: str, protocol: str, op: str) -> st.SearchStrategy[Any]:
    shape = model(service).operation_model(op).input_shape
    return st.just({}) if shape is None else values(shape, protocol)


@pytest.mark.parametrize(("service", "protocol", "op"), cases())
@settings(
    max_examples=5,
    deadline=None,
    database=EXAMPLES,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate),
)
@given(data=st.data())
def test_request_round_trip(service: str, protocol: str, op: str, data: st.DataObject) -> None:
    service_model = model(service)
    operation = service_model.operation_model(op)
    params = data.draw(input_strategy(service, protocol, op), label="params")
    request = wire_request(params, operation, protocol)
    gureum = PROTOCOLS[protocol]

    name = gureum.operation_name(request, service_model)
    if (service, op) in AMBIGUOUS:
        assert name in AMBIGUOUS[service, op]
    else:
        assert name == op

    parsed = gureum.parse(request, operation)
    shape = operation.input_shape
    if shape is None:
        assert parsed == {}
        return
    expected = dict(params)
    for mname, member in shape.members.items():
        wire = member.serialization.get("name", mname).lower()
        is_header = member.serialization.get("location") == "header"
        if is_header and wire in HTTP_HEADERS and mname not in expected and wire in request.headers:
            expected[mname] = int(request.headers[wire])
    assert normalise(parsed, shape, protocol) == normalise(expected, shape, protocol)
