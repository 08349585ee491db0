"""The AWS Price List query API (``pricing``), answered from gureum's bundled
price list: DescribeServices, GetAttributeValues and GetProducts (filters
TERM_MATCH, EQUALS, CONTAINS, ANY_OF, NONE_OF), each product a JSON string in
AWS's Price List format."""

from __future__ import annotations

import json
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Service
from ..billing.pricelist import PriceList, Product, prices
from ..common.pagination import paginate

FORMAT = "aws_v1"


def _invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterException", message)


def _not_found(message: str) -> AWSError:
    return AWSError("NotFoundException", message)


def _catalog(pl: PriceList, service: str) -> list[tuple[Product, str, dict[str, str]]]:
    """Every (product, region, attributes) of a service, in a stable order."""
    return [
        (p, region, pl.product_attributes(p, region))
        for p in pl.products if p.service == service
        for region in pl.regions
    ]


def _matches(attrs: dict[str, str], flt: dict[str, Any]) -> bool:
    field = str(flt.get("Field", "")).lower()
    kind = flt.get("Type", "TERM_MATCH")
    wanted = str(flt.get("Value", ""))
    lowered = {k.lower(): v for k, v in attrs.items()}
    if field == "sku":
        return False  # handled by the caller (the sku is not an attribute)
    value = lowered.get(field)
    if kind in ("TERM_MATCH", "EQUALS"):
        return value is not None and value.lower() == wanted.lower()
    if kind == "CONTAINS":
        return value is not None and wanted.lower() in value.lower()
    options = {v.strip().lower() for v in wanted.split(",")}
    if kind == "ANY_OF":
        return value is not None and value.lower() in options
    if kind == "NONE_OF":
        return value is None or value.lower() not in options
    raise _invalid(f"Unsupported filter type {kind}")


class Pricing(Service):
    name = "pricing"

    def _service(self, code: str) -> str:
        if code not in prices().services:
            raise _not_found(f"Service {code} not found")
        return code

    def describe_services(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        pl = prices()
        codes = sorted(pl.services)
        if params.get("ServiceCode"):
            codes = [self._service(params["ServiceCode"])]
        services = [
            {"ServiceCode": code,
             "AttributeNames": sorted({a for _, _, attrs in _catalog(pl, code) for a in attrs})}
            for code in codes
        ]
        page, token = paginate(services, params.get("NextToken"), params.get("MaxResults"),
                               key=lambda s: str(s["ServiceCode"]), default_limit=100,
                               max_limit=100, error_code="InvalidNextTokenException")
        out: dict[str, Any] = {"Services": page, "FormatVersion": FORMAT}
        if token:
            out["NextToken"] = token
        return out

    def get_attribute_values(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        pl = prices()
        code = self._service(params["ServiceCode"])
        name = params["AttributeName"]
        values = sorted({attrs[name] for _, _, attrs in _catalog(pl, code)
                         if name in attrs and attrs[name] != ""})
        if not values:
            raise _not_found(f"Attribute {name} not found for service {code}")
        page, token = paginate([{"Value": v} for v in values], params.get("NextToken"),
                               params.get("MaxResults"), key=lambda v: v["Value"],
                               default_limit=100, max_limit=100,
                               error_code="InvalidNextTokenException")
        out: dict[str, Any] = {"AttributeValues": page}
        if token:
            out["NextToken"] = token
        return out

    def get_products(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        pl = prices()
        code = self._service(params["ServiceCode"])
        version = params.get("FormatVersion", FORMAT)
        if version != FORMAT:
            raise _invalid(f"Unsupported FormatVersion {version}")
        filters = list(params.get("Filters") or [])
        found: list[tuple[str, dict[str, Any]]] = []
        for product, region, attrs in _catalog(pl, code):
            sku = pl.regional_sku(product, region)
            ok = True
            for flt in filters:
                if str(flt.get("Field", "")).lower() == "sku":
                    ok = ok and sku == flt.get("Value")
                else:
                    ok = ok and _matches(attrs, flt)
            if ok:
                found.append((sku, pl.price_list_item(product, region)))
        found.sort(key=lambda item: item[0])
        page, token = paginate(found, params.get("NextToken"), params.get("MaxResults"),
                               key=lambda item: item[0], default_limit=100, max_limit=100,
                               error_code="InvalidNextTokenException")
        out: dict[str, Any] = {
            "FormatVersion": FORMAT,
            "PriceList": [json.dumps(doc, separators=(",", ":")) for _, doc in page],
        }
        if token:
            out["NextToken"] = token
        return out
