"""The compiled shape readers, writers and checkers against the walkers they
replaced (``reference``): for every operation of every service, valid input
drawn from the shapes is spoiled here and there (wrong types, out-of-range
numbers, unknown enum values, too long or empty strings and lists, missing
required members), and both must give the same value or the same error."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import cbor2
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gureum.errors import AWSError
from gureum.gateway.protocols import xml
from gureum.gateway.protocols.base import HttpRequest
from gureum.gateway.protocols.document import reader, writer
from gureum.gateway.protocols.jsonrpc import CBORProtocol
from gureum.gateway.protocols.query import fold, form_pairs, tree_reader
from gureum.gateway.protocols.values import b64encode, epoch
from gureum.gateway.validate import validate

from . import reference
from .shapes import EXAMPLES, comparable, values
from .test_roundtrip_requests import SERVICES, model, serializer

SPOILERS: list[Any] = [
    None, "", "x" * 3000, "bogus-value", "NaN", -(10**13), 10**13, 0, -1, 1.5, True, [], [1] * 300,
    {}, {"k": "v"}, b"", b"x" * 5000,
]
CODES = (("MissingParameter", "InvalidParameterValue", False),
         ("ValidationError", "ValidationError", False),
         ("ValidationException", "ValidationException", True))


def spoil(value: Any, shape: Any, draw: Any, wire: bool) -> Any:
    """``value`` with some of its parts replaced by values that do not fit."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.sampled_from(SPOILERS))
    t = shape.type_name
    if t == "structure" and isinstance(value, dict) and not getattr(
            shape, "is_document_type", False):
        by_key = {
            (m.serialization.get("name", n) if wire else n): m for n, m in shape.members.items()
        }
        out = {k: spoil(v, by_key[k], draw, wire) if k in by_key else v
               for k, v in value.items()}
        if out and draw(st.integers(0, 3)) == 0:
            out.pop(draw(st.sampled_from(sorted(out))))
        return out
    if t == "list" and isinstance(value, list):
        return [spoil(v, shape.member, draw, wire) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: spoil(v, shape.value, draw, wire) for k, v in value.items()}
    return value


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", comparable(fn(*args)))
    except AWSError as exc:
        return ("error", exc.code, exc.message, exc.status)


def operations() -> list[Any]:
    return [pytest.param(service, id=service) for service in SERVICES]


@st.composite
def spoiled_input(draw: Any, service: str, wire: bool) -> tuple[Any, Any]:
    m = model(service)
    op = m.operation_model(draw(st.sampled_from(sorted(m.operation_names))))
    shape = op.input_shape
    if shape is None:
        return None, {}
    protocol = "json" if wire else (m.metadata.get("protocols") or [m.metadata["protocol"]])[0]
    params = draw(values(shape, protocol))
    if wire:
        params = reference.DocumentWalker()._write(params, shape)
    return shape, spoil(params, shape, draw, wire)


CHECKS = settings(max_examples=150, deadline=None, database=EXAMPLES,
                  suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate))


@pytest.mark.parametrize("service", operations())
@CHECKS
@given(data=st.data())
def test_checker_matches_the_walker(service: str, data: st.DataObject) -> None:
    shape, params = data.draw(spoiled_input(service, wire=False))
    for missing, invalid, json_style in CODES:
        old = outcome(reference.validate, params, shape, missing, invalid, json_style)
        new = outcome(validate, params, shape, missing, invalid, json_style)
        assert new == old


@pytest.mark.parametrize("service", operations())
@CHECKS
@given(data=st.data())
def test_document_reader_matches_the_walker(service: str, data: st.DataObject) -> None:
    shape, document = data.draw(spoiled_input(service, wire=True))
    if shape is None or not isinstance(document, dict):
        return
    old = outcome(reference.DocumentWalker()._read, document, shape)
    new = outcome(reader(shape), document)
    assert new == old


@pytest.mark.parametrize("service", operations())
@CHECKS
@given(data=st.data())
def test_document_writer_matches_the_walker(service: str, data: st.DataObject) -> None:
    m = model(service)
    op = m.operation_model(data.draw(st.sampled_from(sorted(m.operation_names))))
    shape = op.output_shape
    if shape is None:
        return
    output = data.draw(values(shape, "json"))
    old = reference.DocumentWalker()._write(output, shape)
    assert writer(shape, "json", epoch, b64encode)(output) == old


def test_a_violation_names_its_path() -> None:
    """The path is built while the violation unwinds: list index, member, key."""
    op = model("cloudwatch").operation_model("PutMetricData")
    params = {"Namespace": "N", "MetricData": [
        {"MetricName": "a"},
        {"MetricName": "b",
         "Dimensions": [{"Name": "d", "Value": "v"}, {"Name": "", "Value": "v"}]},
    ]}
    with pytest.raises(AWSError) as err:
        validate(params, op.input_shape, "MissingParameter", "InvalidParameterValue")
    assert err.value.code == "InvalidParameterValue"
    assert err.value.message == (
        "Invalid value for parameter metricData.2.member.dimensions.2.member.name: "
        "Member must have length greater than or equal to 1"
    )
    del params["Namespace"]
    with pytest.raises(AWSError) as err:
        validate(params, op.input_shape, "MissingParameter", "InvalidParameterValue", True)
    assert err.value.code == "MissingParameter"
    assert err.value.message == (
        "1 validation error detected: Value null at 'namespace' failed to satisfy constraint: "
        "Member must not be null"
    )


XML_PROTOCOLS = ("query", "ec2", "rest-xml")


def xml_services() -> list[Any]:
    out = []
    for service in SERVICES:
        m = model(service)
        listed = m.metadata.get("protocols") or [m.metadata["protocol"]]
        protocol = next((p for p in listed if p in XML_PROTOCOLS), None)
        if protocol is not None:
            out.append(pytest.param(service, protocol, id=service))
    return out


@pytest.mark.parametrize(("service", "protocol"), xml_services())
@CHECKS
@given(data=st.data())
def test_xml_writer_matches_the_walker(service: str, protocol: str, data: st.DataObject
                                       ) -> None:
    m = model(service)
    op = m.operation_model(data.draw(st.sampled_from(sorted(m.operation_names))))
    shape = op.output_shape
    if shape is None:
        return
    output = data.draw(values(shape, protocol))
    old: list[str] = []
    reference.xml_write_members(old, shape, output)
    new: list[str] = []
    xml.write_members(new, shape, output)
    assert "".join(new) == "".join(old)
    old, new = [], []
    reference.xml_write_value(old, "Root", output, shape)
    xml.write_value(new, "Root", output, shape)
    assert "".join(new) == "".join(old)


QUERY_SPOILERS = ["", "x", "1.5", "true", "FALSE", "2024-01-02T03:04:05Z", "%zz", "-7", "NaN"]


def query_services() -> list[Any]:
    out = []
    for service in SERVICES:
        m = model(service)
        listed = m.metadata.get("protocols") or [m.metadata["protocol"]]
        for protocol in ("query", "ec2"):
            if protocol in listed:
                out.append(pytest.param(service, protocol, id=f"{service}-{protocol}"))
    return out


@pytest.mark.parametrize(("service", "protocol"), query_services())
@CHECKS
@given(data=st.data())
def test_query_reader_matches_the_walker(service: str, protocol: str, data: st.DataObject
                                         ) -> None:
    """The form a botocore client sends, with some values and keys spoiled."""
    m = model(service)
    op = m.operation_model(data.draw(st.sampled_from(sorted(m.operation_names))))
    shape = op.input_shape
    if shape is None:
        return
    params = data.draw(values(shape, protocol))
    pairs = list(serializer(protocol).serialize_to_request(params, op)["body"].items())
    spoiled = []
    for key, value in pairs:
        roll = data.draw(st.integers(0, 9))
        if roll == 0:
            value = data.draw(st.sampled_from(QUERY_SPOILERS))
        elif roll == 1:
            key = key.rsplit(".", 1)[0]
        spoiled.append((str(key), str(value)))
    tree = fold(spoiled)
    ec2 = protocol == "ec2"
    old = outcome(reference.QueryWalker(ec2)._structure, tree, shape)
    new = outcome(tree_reader(shape, ec2), tree)
    assert new == old


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.sampled_from(list("ab=&+%2F3Dé ;")), max_size=30))
def test_form_pairs_is_parse_qsl(text: str) -> None:
    assert form_pairs(text) == parse_qsl(text, keep_blank_values=True)


def wire(body: bytes) -> HttpRequest:
    return HttpRequest(method="POST", path="/", raw_path="/", raw_query="",
                       query=MultiDictProxy(MultiDict()),
                       headers=CIMultiDictProxy(CIMultiDict()), host="gureum.test", body=body)


@pytest.mark.parametrize("service", operations())
@CHECKS
@given(data=st.data())
def test_one_walk_parse_and_check_matches_the_two_walks(service: str, data: st.DataObject
                                                        ) -> None:
    """A CBOR request as the gateway handles it (read and checked in one walk,
    validated apart only when that walk stops) against the walker's read, then
    its validation."""
    shape, document = data.draw(spoiled_input(service, wire=True))
    if shape is None or not isinstance(document, dict):
        return
    op = next(model(service).operation_model(name)
              for name in model(service).operation_names
              if model(service).operation_model(name).input_shape is shape)

    def two_walks() -> Any:
        params = reference.DocumentWalker()._read(document, shape)
        reference.validate(params, shape, "MissingParameter", "InvalidParameterValue", True)
        return params

    def gateway() -> Any:
        request = wire(cbor2.dumps(document))
        params = CBORProtocol().parse(request, op)
        if not request.input_checked:
            validate(params, shape, "MissingParameter", "InvalidParameterValue", True)
        return params

    assert outcome(gateway) == outcome(two_walks)


def test_a_valid_request_is_checked_in_the_one_walk() -> None:
    op = model("cloudwatch").operation_model("PutMetricData")
    datum = {"MetricName": "m", "Value": 1.0, "Unit": "Percent",
             "Dimensions": [{"Name": "Host", "Value": "h1"}]}
    request = wire(cbor2.dumps({"Namespace": "N", "MetricData": [datum] * 3}))
    assert CBORProtocol().parse(request, op)["MetricData"] == [datum] * 3
    assert request.input_checked
    bad = wire(cbor2.dumps({"Namespace": "N", "MetricData": [datum, {**datum, "Unit": "Nope"}]}))
    params = CBORProtocol().parse(bad, op)
    assert not bad.input_checked
    with pytest.raises(AWSError) as err:
        validate(params, op.input_shape, "MissingParameter", "InvalidParameterValue", True)
    assert "'metricData.2.member.unit'" in err.value.message
