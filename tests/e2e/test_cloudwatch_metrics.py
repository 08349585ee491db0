"""CloudWatch metrics through real clients, in every protocol the model lists:
PutMetricData, GetMetricStatistics, ListMetrics and GetMetricData."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import RunningGureum

PROTOCOLS = ["smithy-rpc-v2-cbor", "json", "query"]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def minute(offset: int = 0) -> dt.datetime:
    t = now().replace(second=0)
    return t + dt.timedelta(minutes=offset)


def namespace() -> str:
    return f"Test/{uuid.uuid4().hex[:8]}"


def error_code(call: Any) -> str:
    with pytest.raises(ClientError) as err:
        call()
    code: str = err.value.response["Error"]["Code"]
    return code


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_put_then_statistics_and_list(gureum: RunningGureum, protocol: str) -> None:
    cw = gureum.client("cloudwatch", protocol=protocol)
    ns = namespace()
    dims = [{"Name": "Host", "Value": "a"}, {"Name": "Role", "Value": "web"}]
    start = minute(-10)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": start + dt.timedelta(
            seconds=5), "Value": 10.0, "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": start + dt.timedelta(
            seconds=20), "Values": [20.0, 30.0], "Counts": [1.0, 2.0], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dims, "Timestamp": start + dt.timedelta(
            minutes=1), "StatisticValues": {"SampleCount": 4, "Sum": 400, "Minimum": 50,
                                             "Maximum": 150}, "Unit": "Milliseconds"},
        {"MetricName": "Other", "Timestamp": start, "Value": 1.0},
    ])
    out = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=list(reversed(dims)),
        StartTime=start, EndTime=start + dt.timedelta(minutes=5), Period=60,
        Statistics=["SampleCount", "Sum", "Average", "Minimum", "Maximum"],
    )
    points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
    assert out["Label"] == "Latency"
    assert [p["Timestamp"] for p in points] == [start, start + dt.timedelta(minutes=1)]
    first, second = points
    assert (first["SampleCount"], first["Sum"], first["Minimum"], first["Maximum"]) == (
        4.0, 90.0, 10.0, 30.0)
    assert first["Average"] == pytest.approx(22.5)
    assert first["Unit"] == "Milliseconds"
    assert (second["SampleCount"], second["Sum"], second["Average"]) == (4.0, 400.0, 100.0)

    pct = cw.get_metric_statistics(
        Namespace=ns, MetricName="Latency", Dimensions=dims, StartTime=start,
        EndTime=start + dt.timedelta(minutes=1), Period=60, ExtendedStatistics=["p50", "p99"],
    )["Datapoints"]
    assert pct[0]["ExtendedStatistics"] == {"p50": 20.0, "p99": 30.0}

    listed = cw.list_metrics(Namespace=ns)["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["Latency", "Other"]
    by_dim = cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Role"}])["Metrics"]
    assert [m["MetricName"] for m in by_dim] == ["Latency"]
    assert sorted(d["Name"] for d in by_dim[0]["Dimensions"]) == ["Host", "Role"]
    assert cw.list_metrics(Namespace=ns, Dimensions=[{"Name": "Role", "Value": "db"}])[
        "Metrics"] == []
    assert len(cw.list_metrics(Namespace=ns, RecentlyActive="PT3H")["Metrics"]) == 2


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_get_metric_data_with_math(gureum: RunningGureum, protocol: str) -> None:
    cw = gureum.client("cloudwatch", protocol=protocol)
    ns = namespace()
    start = minute(-10)
    data = []
    for i in range(5):
        t = start + dt.timedelta(minutes=i)
        data.append({"MetricName": "Requests", "Timestamp": t, "Value": float(10 * (i + 1))})
        if i != 2:
            data.append({"MetricName": "Errors", "Timestamp": t, "Value": float(i)})
    cw.put_metric_data(Namespace=ns, MetricData=data)

    def stat(name: str) -> dict[str, Any]:
        return {"Metric": {"Namespace": ns, "MetricName": name}, "Period": 60, "Stat": "Sum"}

    out = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": "req", "MetricStat": stat("Requests"), "ReturnData": False},
            {"Id": "err", "MetricStat": stat("Errors")},
            {"Id": "ratio", "Expression": "100 * FILL(err, 0) / req", "Label": "Error %"},
            {"Id": "total", "Expression": "SUM([req, err])"},
            {"Id": "peak", "Expression": "MAX(req)"},
        ],
        StartTime=start, EndTime=start + dt.timedelta(minutes=5), ScanBy="TimestampAscending",
    )
    results = {r["Id"]: r for r in out["MetricDataResults"]}
    assert set(results) == {"err", "ratio", "total", "peak"}
    assert results["err"]["Label"] == "Errors"
    assert results["err"]["Values"] == [0.0, 1.0, 3.0, 4.0]
    assert results["ratio"]["Label"] == "Error %"
    assert results["ratio"]["Values"] == pytest.approx([0.0, 5.0, 0.0, 7.5, 8.0])
    assert results["total"]["Values"] == [10.0, 21.0, 30.0, 43.0, 54.0]
    assert results["peak"]["Values"] == [50.0] * 5
    assert results["total"]["Timestamps"][0] == start
    assert all(r["StatusCode"] == "Complete" for r in results.values())


def test_get_metric_data_pages_descending(gureum: RunningGureum) -> None:
    cw = gureum.client("cloudwatch")
    ns = namespace()
    start = minute(-30)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "M", "Timestamp": start + dt.timedelta(minutes=i), "Value": float(i)}
        for i in range(10)
    ])
    query = [{"Id": "m", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": "M"},
                                       "Period": 60, "Stat": "Average"}},
             {"Id": "rate", "Expression": "RATE(m)"}]
    seen: list[float] = []
    rates: list[float] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"NextToken": token} if token else {}
        out = cw.get_metric_data(MetricDataQueries=query, StartTime=start,
                                 EndTime=start + dt.timedelta(minutes=10), MaxDatapoints=6,
                                 **kwargs)
        pages += 1
        by_id = {r["Id"]: r for r in out["MetricDataResults"]}
        seen += by_id["m"]["Values"]
        rates += by_id["rate"]["Values"]
        token = out.get("NextToken")
        if not token:
            assert by_id["m"]["StatusCode"] == "Complete"
            break
        assert by_id["m"]["StatusCode"] == "PartialData"
    assert pages > 1
    assert seen == [float(i) for i in reversed(range(10))]
    assert rates == pytest.approx([1 / 60] * 9)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_put_metric_data_validation(gureum: RunningGureum, protocol: str) -> None:
    # botocore gzips PutMetricData bodies over 10 KiB; see test_gzipped_put_metric_data.
    cw = gureum.client("cloudwatch", protocol=protocol, disable_request_compression=True)
    ns = namespace()

    def put(**datum: Any) -> Any:
        return lambda: cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M",
                                                                      **datum}])

    too_old = now() - dt.timedelta(days=15)
    too_new = now() + dt.timedelta(hours=3)
    assert error_code(put(Value=1.0, Timestamp=too_old)) == "InvalidParameterValue"
    assert error_code(put(Value=1.0, Timestamp=too_new)) == "InvalidParameterValue"
    dims = [{"Name": f"d{i}", "Value": "v"} for i in range(31)]
    assert error_code(put(Value=1.0, Dimensions=dims)) == "InvalidParameterValue"
    assert error_code(put(Value=1.0, StorageResolution=5)) == "InvalidParameterValue"
    assert error_code(put(Value=1.0, Values=[1.0])) == "InvalidParameterCombination"
    assert error_code(put(Values=[1.0, 2.0], Counts=[1.0])) == "InvalidParameterValue"
    assert error_code(put(Value=1e300)) == "InvalidParameterValue"
    assert error_code(lambda: cw.put_metric_data(Namespace="AWS/EC2", MetricData=[
        {"MetricName": "M", "Value": 1.0}])) == "InvalidParameterValue"
    many = [{"MetricName": "M", "Value": 1.0}] * 1001
    assert error_code(lambda: cw.put_metric_data(Namespace=ns, MetricData=many)) in (
        "InvalidParameterValue", "ValidationError")
    # A rejected request wrote nothing, not even the metric.
    assert cw.list_metrics(Namespace=ns)["Metrics"] == []
    cw.put_metric_data(Namespace=ns, MetricData=[{"MetricName": "M", "Value": 1.0}] * 1000)
    assert len(cw.list_metrics(Namespace=ns)["Metrics"]) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_gzipped_put_metric_data(gureum: RunningGureum, protocol: str) -> None:
    cw = gureum.client("cloudwatch", protocol=protocol)
    ns = namespace()
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": f"M{i}", "Value": float(i)} for i in range(1000)])  # > 10 KiB: gzipped
    assert len(cw.list_metrics(Namespace=ns)["Metrics"]) == 500


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_statistics_validation(gureum: RunningGureum, protocol: str) -> None:
    cw = gureum.client("cloudwatch", protocol=protocol)
    base = {"Namespace": "Test/none", "MetricName": "M", "StartTime": minute(-60),
            "EndTime": minute(0)}
    assert error_code(lambda: cw.get_metric_statistics(
        Period=90, Statistics=["Sum"], **base)) == "InvalidParameterValue"
    assert error_code(lambda: cw.get_metric_statistics(
        Period=60, Statistics=["Sum"], ExtendedStatistics=["p90"], **base)
    ) == "InvalidParameterCombination"
    assert error_code(lambda: cw.get_metric_statistics(
        Period=1, Statistics=["Sum"], **base)) == "InvalidParameterCombination"
    assert error_code(lambda: cw.get_metric_statistics(
        Period=60, ExtendedStatistics=["p101"], **base)) == "InvalidParameterValue"
    out = cw.get_metric_statistics(Period=60, Statistics=["Sum"], **base)
    assert out["Datapoints"] == []


def test_high_resolution_and_unit_filter(gureum: RunningGureum) -> None:
    cw = gureum.client("cloudwatch")
    ns = namespace()
    start = minute(-5)
    cw.put_metric_data(Namespace=ns, MetricData=[
        {"MetricName": "M", "Timestamp": start + dt.timedelta(seconds=s), "Value": float(s),
         "StorageResolution": 1, "Unit": "Count"} for s in range(0, 20)
    ] + [{"MetricName": "M", "Timestamp": start, "Value": 1000.0, "Unit": "Seconds",
          "StorageResolution": 1}])
    out = cw.get_metric_statistics(Namespace=ns, MetricName="M", StartTime=start,
                                   EndTime=start + dt.timedelta(seconds=20), Period=10,
                                   Statistics=["Sum", "SampleCount"], Unit="Count")
    points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
    assert [(p["Sum"], p["SampleCount"]) for p in points] == [(45.0, 10.0), (145.0, 10.0)]
    assert {p["Unit"] for p in points} == {"Count"}


def test_aws_cli(gureum: RunningGureum) -> None:
    ns = namespace()
    t = minute(-3).isoformat()
    put = gureum.aws("cloudwatch", "put-metric-data", "--namespace", ns, "--metric-name",
                     "Cli", "--value", "42", "--unit", "Count", "--timestamp", t,
                     "--dimensions", "Host=h1")
    assert put.returncode == 0, put.stderr
    stats = gureum.aws("cloudwatch", "get-metric-statistics", "--namespace", ns,
                       "--metric-name", "Cli", "--dimensions", "Name=Host,Value=h1",
                       "--start-time", minute(-10).isoformat(), "--end-time",
                       minute(1).isoformat(), "--period", "60", "--statistics", "Maximum")
    assert stats.returncode == 0, stats.stderr
    assert [p["Maximum"] for p in json.loads(stats.stdout)["Datapoints"]] == [42.0]
    listed = gureum.aws("cloudwatch", "list-metrics", "--namespace", ns)
    assert listed.returncode == 0, listed.stderr
    assert [m["MetricName"] for m in json.loads(listed.stdout)["Metrics"]] == ["Cli"]
    bad = gureum.aws("cloudwatch", "get-metric-statistics", "--namespace", ns,
                     "--metric-name", "Cli", "--start-time", minute(-10).isoformat(),
                     "--end-time", minute(1).isoformat(), "--period", "7",
                     "--statistics", "Maximum")
    assert bad.returncode != 0 and "InvalidParameterValue" in bad.stderr
