"""The pricing service answers from the bundled price list in AWS's format."""

from __future__ import annotations

import json

import pytest

from gureum.errors import AWSError
from gureum.services.billing.pricelist import prices
from gureum.services.pricing import Pricing

from .conftest import Harness, price


def test_every_supported_instance_type_has_a_price() -> None:
    from gureum.services.ec2.catalog import TYPES

    for name in TYPES:
        assert prices().product("AmazonEC2", f"BoxUsage:{name}") is not None, name


def test_the_price_list_says_when_its_prices_were_taken() -> None:
    pl = prices()
    assert pl.taken[:4].isdigit()
    assert "list prices" in pl.about


def test_get_products_term_match(h: Harness) -> None:
    svc = Pricing(h.env)
    out = h.run(svc, "get_products", ServiceCode="AmazonEC2", Filters=[
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "t3.micro"},
        {"Type": "TERM_MATCH", "Field": "location", "Value": "US East (N. Virginia)"},
        {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
    ])
    assert len(out["PriceList"]) == 1
    item = json.loads(out["PriceList"][0])
    assert item["product"]["attributes"]["instanceType"] == "t3.micro"
    (term,) = item["terms"]["OnDemand"].values()
    (dim,) = term["priceDimensions"].values()
    assert dim["unit"] == "Hrs"
    assert float(dim["pricePerUnit"]["USD"]) == price("AmazonEC2", "BoxUsage:t3.micro")


def test_describe_services_and_attribute_values(h: Harness) -> None:
    svc = Pricing(h.env)
    out = h.run(svc, "describe_services", ServiceCode="AmazonS3")
    assert out["Services"][0]["ServiceCode"] == "AmazonS3"
    assert "storageClass" in out["Services"][0]["AttributeNames"]
    values = h.run(svc, "get_attribute_values", ServiceCode="AmazonEC2",
                   AttributeName="instanceType", MaxResults=100)
    assert {"Value": "m5.large"} in values["AttributeValues"]
    with pytest.raises(AWSError) as err:
        h.run(svc, "get_products", ServiceCode="AmazonNothing")
    assert err.value.code == "NotFoundException"
