"""The compiled writers on what metric queries answer: many datapoints whose
timestamps are epoch seconds (ints) and whose statistics are floats, ints,
NaN or infinities, written the same as the reference walkers write them, and
epoch-second timestamps in ISO 8601 the same as their datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import botocore.session
import cbor2
from hypothesis import given, settings
from hypothesis import strategies as st

from gureum.gateway.protocols import xml
from gureum.gateway.protocols.document import writer
from gureum.gateway.protocols.jsonrpc import CBORProtocol
from gureum.gateway.protocols.values import b64encode, epoch, iso8601

from . import reference

MODEL = botocore.session.get_session().get_service_model("cloudwatch")
OUTPUT = MODEL.operation_model("GetMetricStatistics").output_shape
STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
EPOCH_MIN, EPOCH_MAX = -62135596800, 253402300799  # years 1 and 9999

numbers = st.one_of(st.floats(), st.integers(-(10**15), 10**15))
timestamps = st.one_of(
    st.integers(EPOCH_MIN, EPOCH_MAX),
    st.integers(-30610224001 - 5, -30610224000 + 5),  # around year 1000
    st.datetimes(timezones=st.just(UTC)),
)


@st.composite
def outputs(draw: Any) -> dict[str, Any]:
    points = []
    for _ in range(draw(st.integers(0, 20))):
        point: dict[str, Any] = {"Timestamp": draw(timestamps),
                                 "Unit": draw(st.sampled_from(["None", "Percent", "<&>"]))}
        for stat in draw(st.lists(st.sampled_from(STATS), unique=True)):
            point[stat] = draw(numbers)
        if draw(st.booleans()):
            point["ExtendedStatistics"] = {"p99": draw(numbers)}
        points.append(point)
    return {"Label": draw(st.text(max_size=5)), "Datapoints": points}


def iso_of_datetime(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@settings(max_examples=300, deadline=None)
@given(output=outputs())
def test_datapoints_are_written_as_the_walkers_write_them(output: dict[str, Any]) -> None:
    json_doc = writer(OUTPUT, "json", epoch, b64encode)(output)
    assert repr(json_doc) == repr(reference.DocumentWalker()._write(output, OUTPUT))
    cbor = CBORProtocol()
    walked = reference.DocumentWalker(cbor._timestamp, cbor._blob)._write(output, OUTPUT)
    assert cbor.encode(cbor._write(output, OUTPUT)) == cbor2.dumps(walked)
    old: list[str] = []
    reference.xml_write_value(old, "GetMetricStatisticsResult", output, OUTPUT)
    new: list[str] = []
    xml.write_value(new, "GetMetricStatisticsResult", output, OUTPUT)
    assert "".join(new) == "".join(old)


@settings(max_examples=500, deadline=None)
@given(seconds=st.integers(EPOCH_MIN, EPOCH_MAX))
def test_epoch_seconds_in_iso8601_are_their_datetimes(seconds: int) -> None:
    dt = datetime.fromtimestamp(seconds, UTC)
    assert iso8601(seconds) == iso8601(dt)
    if dt.year >= 1000:
        assert iso8601(seconds) == iso_of_datetime(seconds)


def test_year_boundaries_in_iso8601() -> None:
    assert iso8601(EPOCH_MAX) == "9999-12-31T23:59:59.000Z"
    assert iso8601(-30610224000) == "1000-01-01T00:00:00.000Z"
    assert iso8601(-30610224001) == iso8601(datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert iso8601(0) == "1970-01-01T00:00:00.000Z"
