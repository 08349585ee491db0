"""Responses: gureum serializes, botocore parses, and the two must agree.

For every operation with an output shape, hypothesis draws output data from
the shape; gureum's protocol writes the HTTP response and botocore's own
parser for that protocol (``create_parser``) must read the same data back, up
to what the protocol can carry (``shapes.normalise``). Errors: every modelled
error shape and an unmodelled code, in every protocol, must reach botocore as
``Error.Code``/``Error.Message`` with the HTTP status kept.
"""

from __future__ import annotations

import functools
import io
from types import SimpleNamespace
from typing import Any

import botocore.handlers
import botocore.parsers
import pytest
from botocore.response import StreamingBody
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from urllib3 import HTTPHeaderDict

from gureum.errors import AWSError
from gureum.gateway.protocols.base import HttpResponse
from gureum.gateway.protocols.restxml import PARTIAL_CONTENT

from .shapes import EXAMPLES, normalise, values
from .test_roundtrip_requests import PROTOCOLS, SERVICES, model


@functools.cache
def parser(protocol: str) -> Any:
    return botocore.parsers.create_parser(protocol)


def protocols(service: str) -> list[str]:
    m = model(service)
    return list(m.metadata.get("protocols") or [m.metadata["protocol"]])


def cases() -> list[Any]:
    out = []
    for service in SERVICES:
        m = model(service)
        for protocol in protocols(service):
            for op in m.operation_names:
                if m.operation_model(op).output_shape is not None:
                    out.append(
                        pytest.param(service, protocol, op, id=f"{service}-{protocol}-{op}")
                    )
    return out


def botocore_parse(response: HttpResponse, protocol: str, operation: Any) -> dict[str, Any]:
    """What a botocore client reads from ``response`` (as
    ``botocore.endpoint.convert_to_response_dict`` hands it to the parser)."""
    assert isinstance(response.body, bytes)
    headers = HTTPHeaderDict()
    for key, value in response.headers.items():
        assert isinstance(value, str), (key, value)
        headers[key] = value
    body: Any = response.body
    if response.status < 300 and operation.has_streaming_output:
        body = StreamingBody(io.BytesIO(response.body), headers.get("content-length"))
    response_dict = {
        "status_code": response.status,
        "headers": headers,
        "body": body,
        "context": {"operation_name": operation.name},
    }
    parsed: dict[str, Any] = parser(protocol).parse(response_dict, operation.output_shape)
    for key, value in parsed.items():
        if isinstance(value, StreamingBody):
            parsed[key] = value.read()
    return parsed


@functools.cache
def output_strategy(service: str, protocol: str, op: str) -> st.SearchStrategy[Any]:
    return values(model(service).operation_model(op).output_shape, protocol)


@pytest.mark.parametrize(("service", "protocol", "op"), cases())
@settings(
    max_examples=5,
    deadline=None,
    database=EXAMPLES,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate),
)
@given(data=st.data())
def test_response_round_trip(service: str, protocol: str, op: str, data: st.DataObject) -> None:
    operation = model(service).operation_model(op)
    shape = operation.output_shape
    output = data.draw(output_strategy(service, protocol, op), label="output")
    payload = shape.serialization.get("payload")
    for mname, member in shape.members.items():
        if member.serialization.get("name", "").lower() == "content-length" and mname in output:
            # Content-Length is the length of the body, not a free value.
            body = output.get(payload, b"") if payload else None
            if isinstance(body, bytes | str):
                output = {**output, mname: len(body.encode() if isinstance(body, str) else body)}
    response = PROTOCOLS[protocol].serialize(operation, output, "req-1")
    if op in PARTIAL_CONTENT and output.get("ContentRange"):
        assert response.status == 206  # the named patch: a ranged GET is Partial Content
    else:
        assert response.status == 200 or shape.members.get("StatusCode")
    parsed = botocore_parse(response, protocol, operation)
    if (service, op) == ("s3", "GetBucketLocation"):
        # botocore's own customisation reads the bare <LocationConstraint> document.
        raw = SimpleNamespace(raw=True, content=response.body)
        botocore.handlers.parse_get_bucket_location(parsed, raw)
    parsed.pop("ResponseMetadata", None)
    assert normalise(parsed, shape, protocol, "response") == normalise(
        output, shape, protocol, "response"
    )


# -- errors -------------------------------------------------------------------

UNMODELLED = "SomethingUnmodelled"
MESSAGE = 'Bad <input> & "quotes" — ünïcode'


def error_cases() -> list[Any]:
    out = []
    for service in SERVICES:
        m = model(service)
        for protocol in protocols(service):
            for shape in m.error_shapes:
                name = f"{service}-{protocol}-{shape.name}"
                out.append(pytest.param(service, protocol, shape.name, id=name))
            out.append(
                pytest.param(service, protocol, None, id=f"{service}-{protocol}-unmodelled")
            )
    return out


@pytest.mark.parametrize(("service", "protocol", "shape_name"), error_cases())
def test_error_round_trip(service: str, protocol: str, shape_name: str | None) -> None:
    m = model(service)
    operation = m.operation_model(m.operation_names[0])
    if shape_name is None:
        code, status, sender = UNMODELLED, 503, False
        expected = UNMODELLED
    else:
        shape = m.shape_for(shape_name)
        meta = shape.metadata.get("error", {})
        status = int(meta.get("httpStatusCode", 400))
        sender = meta.get("senderFault", status < 500)
        query_code = meta.get("code", shape_name)
        if protocol in ("json", "smithy-rpc-v2-cbor") and not m.is_query_compatible:
            code = expected = shape_name
        else:
            # Query-era services (and their json/cbor under awsQueryCompatible)
            # raise and report the query code.
            code = expected = query_code
    error = AWSError(code, MESSAGE, status, sender=sender)
    response = PROTOCOLS[protocol].serialize_error(m, error, "req-1", operation)
    assert response.status == status
    parsed = botocore_parse(response, protocol, operation)
    assert parsed["Error"]["Code"] == expected
    assert parsed["Error"]["Message"] == MESSAGE
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status
