"""The compiled XML writers (a value's, and a whole answer's) against the
reference walker, operation by operation:
for every output shape of every query and ec2 service, values drawn from the
shape (empty and nested lists, maps, flattened lists, booleans, text with
``& < > " '`` and non-ASCII) are written by both and must give the same text,
byte for byte. Timestamps come as datetimes, float epoch seconds with
fractions and whole seconds (what stored records hold), and every value is
written twice (the second time, remembered timestamp text is used). Text with
carriage returns is checked on its own (the shape strategies draw printable
text only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gureum.gateway.protocols import xml
from gureum.gateway.protocols.query import EC2Protocol, QueryProtocol

from . import reference
from .shapes import EXAMPLES, values
from .test_roundtrip_requests import SERVICES, model

QUERY_PROTOCOLS = ("query", "ec2")


def cases() -> list[Any]:
    out = []
    for service in SERVICES:
        m = model(service)
        listed = m.metadata.get("protocols") or [m.metadata["protocol"]]
        protocol = next((p for p in listed if p in QUERY_PROTOCOLS), None)
        if protocol is None:
            continue
        for op in sorted(m.operation_names):
            if m.operation_model(op).output_shape is not None:
                out.append(pytest.param(service, protocol, op, id=f"{service}-{op}"))
    return out


EACH = settings(max_examples=4, deadline=None, database=EXAMPLES,
                suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate))


def retimed(value: Any, shape: Any, draw: Any) -> Any:
    """``value`` with some timestamps as float or int epoch seconds."""
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        return {k: retimed(v, shape.members[k], draw) if k in shape.members else v
                for k, v in value.items()}
    if t == "list" and isinstance(value, list):
        return [retimed(v, shape.member, draw) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: retimed(v, shape.value, draw) for k, v in value.items()}
    if t == "timestamp" and isinstance(value, datetime):
        kind = draw(st.sampled_from(("datetime", "float", "int")))
        if kind == "float":
            return value.timestamp() + draw(st.integers(0, 999_999)) / 1e9 * 1000
        if kind == "int":
            return int(value.timestamp())
    return value


def both(shape: Any, output: Any) -> tuple[str, str, str]:
    old: list[str] = []
    reference.xml_write_members(old, shape, output)
    first: list[str] = []
    xml.write_members(first, shape, output)
    again: list[str] = []
    xml.write_members(again, shape, output)
    # A whole answer's writer (text scanned once at the end; written again with
    # escapes when it needs them) gives the same text after what came before.
    answer = ["<before>"]
    xml.write_answer(answer, shape, output)
    assert answer[0] == "<before>"
    assert "".join(answer[1:]) == "".join(old)
    return "".join(old), "".join(first), "".join(again)


@pytest.mark.parametrize(("service", "protocol", "op"), cases())
@EACH
@given(data=st.data())
def test_every_output_is_written_as_the_walker_writes_it(
    service: str, protocol: str, op: str, data: st.DataObject
) -> None:
    shape = model(service).operation_model(op).output_shape
    output = retimed(data.draw(values(shape, protocol)), shape, data.draw)
    old, new, again = both(shape, output)
    assert new == old
    assert again == old


def test_cases_cover_the_query_services() -> None:
    ops = {(p.values[0], p.values[2]) for p in cases()}
    assert ("ec2", "RunInstances") in ops and ("ec2", "DescribeInstances") in ops
    assert ("iam", "GetUser") in ops and ("rds", "DescribeDBInstances") in ops
    assert len(ops) > 800


SPECIAL = ["", "a&b", "<tag>", 'say "hi"', "it's", "line\r\nnext", "&amp;", "\r", "é한☃",
           "plain-text_0.9"]


@pytest.mark.parametrize("text", SPECIAL)
def test_text_that_needs_escaping_is_escaped_in_every_place(text: str) -> None:
    shape = model("ec2").operation_model("RunInstances").output_shape
    output = {
        "ReservationId": text, "OwnerId": text, "Groups": [{"GroupName": text, "GroupId": text}],
        "Instances": [{
            "InstanceId": text, "InstanceType": text, "Architecture": text,
            "LaunchTime": 1795786229.9989974, "State": {"Code": 16, "Name": text},
            "Tags": [{"Key": text, "Value": text}], "ProductCodes": [],
            "SecurityGroups": [], "SourceDestCheck": True, "EbsOptimized": False,
            "NetworkInterfaces": [{"Description": text, "Groups": [], "PrivateIpAddresses": [
                {"Primary": False, "PrivateIpAddress": text}]}],
        }],
    }
    old, new, again = both(shape, output)
    assert new == old and again == old
    if "\r" in text:
        assert "&#xD;" in new and "\r" not in new


def test_one_launch_time_written_in_many_places_reads_the_same() -> None:
    shape = model("ec2").operation_model("DescribeInstances").output_shape
    stamps = [1795786229.9989974, 1795786229.9995, 0.0, 1e-7, 253402300798.9996, 1795786229.0]
    output = {"Reservations": [{"Instances": [
        {"InstanceId": f"i-{n}", "LaunchTime": s,
         "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"AttachTime": s}}]}
        for n, s in enumerate(stamps)]}]}
    old, new, again = both(shape, output)
    assert new == old and again == old
    assert "<launchTime>2026-11-27T" in new or "<launchTime>2026-" in new


@pytest.mark.parametrize("protocol", [EC2Protocol(), QueryProtocol()])
def test_a_whole_answer_is_the_same_as_the_walkers(protocol: Any) -> None:
    m = model("ec2" if protocol.ec2 else "iam")
    op = m.operation_model("RunInstances" if protocol.ec2 else "GetUser")
    output = ({"ReservationId": "r-1", "Instances": [{"InstanceId": "i-1&2"}]} if protocol.ec2
              else {"User": {"UserName": "a<b", "UserId": "x", "Arn": "arn", "Path": "/",
                             "CreateDate": 1795786229.5}})
    body = protocol.serialize(op, output, "req").body.decode()
    walked: list[str] = []
    reference.xml_write_members(walked, op.output_shape, output)
    assert "".join(walked) in body
