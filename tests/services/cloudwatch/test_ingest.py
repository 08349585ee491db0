"""PutMetricData's fast path for plain datums gives the rows the full check
gives, and leaves every datum it is unsure of to the full check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gureum.errors import AWSError
from gureum.services.cloudwatch.metrics import datum_row, plain_row

NOW = 1_800_000_000.0

DATUMS = st.fixed_dictionaries(
    {"MetricName": st.just("M")},
    optional={
        "Value": st.one_of(st.floats(), st.sampled_from([0.0, 2.0**-270, 2.0**400, -3.5])),
        "StorageResolution": st.sampled_from([1, 60, 5, 0]),
        "Timestamp": st.one_of(
            st.floats(NOW - 20 * 86400, NOW + 4 * 3600).map(
                lambda t: dt.datetime.fromtimestamp(t, dt.UTC)),
            st.floats(NOW - 20 * 86400, NOW + 4 * 3600).map(
                lambda t: dt.datetime.fromtimestamp(t, dt.UTC).replace(tzinfo=None)),
        ),
        "Unit": st.sampled_from(["Percent", "Count", "None", "Furlongs"]),
        "Values": st.just([1.0, 2.0]),
        "StatisticValues": st.just({"SampleCount": 2.0, "Sum": 3.0, "Minimum": 1.0,
                                    "Maximum": 2.0}),
    },
)


def full(datum: dict[str, Any]) -> Any:
    try:
        return datum_row(0, datum, "MetricData.member.1", NOW)
    except AWSError as exc:
        return exc.code


@settings(max_examples=500, deadline=None)
@given(datum=DATUMS)
def test_plain_row_is_the_full_check_or_defers_to_it(datum: dict[str, Any]) -> None:
    fast = plain_row(datum, NOW)
    if fast is not None:
        assert fast == full(datum)


def test_plain_row_takes_the_common_datum() -> None:
    datum = {"MetricName": "M", "Value": 5.0, "Unit": "Percent", "StorageResolution": 1,
             "Timestamp": dt.datetime.fromtimestamp(NOW - 10.5, dt.UTC)}
    assert plain_row(datum, NOW) == (0, int(NOW) - 11, 14, 1, 5.0, None, None, None, None)
    assert plain_row({**datum, "Value": float("nan")}, NOW) is None
