"""The helpers every service uses: filters, pagination, ids, tags."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gureum.errors import AWSError
from gureum.services.common import filters, ids, pagination, tags

INSTANCES: list[dict[str, Any]] = [
    {"InstanceId": "i-1", "State": {"Name": "running"}, "Tags": [{"Key": "env", "Value": "prod"}],
     "SecurityGroups": [{"GroupId": "sg-1"}, {"GroupId": "sg-2"}]},
    {"InstanceId": "i-2", "State": {"Name": "stopped"}, "Tags": [{"Key": "env", "Value": "dev"},
                                                            {"Key": "team", "Value": "a"}]},
    {"InstanceId": "i-3", "State": {"Name": "running"}, "Tags": []},
]
GETTERS = {
    "instance-state-name": filters.field("State.Name"),
    "instance-id": filters.field("InstanceId"),
    "group-id": filters.field("SecurityGroups.GroupId"),
}


def ids_of(found: list[dict[str, Any]]) -> list[str]:
    return [r["InstanceId"] for r in found]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ([{"Name": "instance-state-name", "Values": ["running"]}], ["i-1", "i-3"]),
        (
            [{"Name": "instance-state-name", "Values": ["running", "stopped"]}],
            ["i-1", "i-2", "i-3"],
        ),
        ([{"Name": "instance-state-name", "Values": ["run*"]},
          {"Name": "instance-id", "Values": ["i-?"]}], ["i-1", "i-3"]),
        ([{"Name": "tag:env", "Values": ["prod"]}], ["i-1"]),
        ([{"Name": "tag:env", "Values": ["*"]}], ["i-1", "i-2"]),
        ([{"Name": "tag-key", "Values": ["team"]}], ["i-2"]),
        ([{"Name": "tag-value", "Values": ["d?v"]}], ["i-2"]),
        ([{"Name": "group-id", "Values": ["sg-2"]}], ["i-1"]),
        ([], ["i-1", "i-2", "i-3"]),
    ],
)
def test_filters(flt: list[dict[str, Any]], expected: list[str]) -> None:
    assert ids_of(filters.apply(INSTANCES, flt, GETTERS)) == expected


def test_unknown_filter_is_an_aws_error() -> None:
    with pytest.raises(AWSError) as err:
        filters.apply(INSTANCES, [{"Name": "nope", "Values": ["x"]}], GETTERS)
    assert err.value.code == "InvalidParameterValue"


def test_pagination_walks_every_item_once() -> None:
    items = [f"k{i:03d}" for i in range(25)]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page, token = pagination.paginate(items, token, 10, key=str)
        seen += page
        pages += 1
        if token is None:
            break
    assert seen == items and pages == 3


def test_pagination_survives_removal_of_the_last_seen_item() -> None:
    items = [f"k{i}" for i in range(6)]
    page, token = pagination.paginate(items, None, 3, key=str)
    assert page == ["k0", "k1", "k2"]
    remaining = [i for i in items if i != "k2"]
    page, token = pagination.paginate(remaining, token, 3, key=str)
    assert page == ["k3", "k4", "k5"] and token is None


@pytest.mark.parametrize("limit", [0, 1001])
def test_pagination_limits(limit: int) -> None:
    with pytest.raises(AWSError):
        pagination.paginate(["a"], None, limit, key=str, max_limit=1000)


def test_bad_token() -> None:
    with pytest.raises(AWSError) as err:
        pagination.paginate(["a"], "%%%not-a-token", 5, key=str)
    assert err.value.code == "InvalidParameterValue"


def test_ids_and_arns() -> None:
    assert re.fullmatch(r"i-[0-9a-f]{17}", ids.hex_id("i"))
    assert re.fullmatch(r"vpc-[0-9a-f]{8}", ids.hex_id("vpc", 8))
    arn = ids.arn("elasticloadbalancing", "us-east-1", "000000000000", "loadbalancer/app/x/1")
    assert ids.parse_arn(arn) == {
        "arn": "arn", "partition": "aws", "service": "elasticloadbalancing",
        "region": "us-east-1", "account": "000000000000", "resource": "loadbalancer/app/x/1",
    }
    assert ids.parse_arn("not-an-arn") is None
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", ids.access_key_id())


def test_tags() -> None:
    as_dict = tags.to_dict([{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}])
    assert as_dict == {"a": "1", "b": ""}
    assert tags.to_list(as_dict) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]
    with pytest.raises(AWSError):
        tags.to_dict([{"Key": "aws:reserved", "Value": "x"}])
    with pytest.raises(AWSError):
        tags.to_dict([{"Key": "", "Value": "x"}])
    with pytest.raises(AWSError):
        tags.merge({f"k{i}": "v" for i in range(50)}, {"one-more": "v"})
