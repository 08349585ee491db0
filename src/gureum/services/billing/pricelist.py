"""The bundled price list (``prices.json``): products, their prices, and the
AWS Price List JSON that the ``pricing`` service answers with.

A product is one priced usage type of a service (``BoxUsage:t3.micro`` of
``AmazonEC2``), told apart where AWS does by its operation
(``LoadBalancerUsage`` is ``LoadBalancing:Application`` or ``…:Network``).
Prices are USD per unit, flat or tiered over an account's cumulative usage
of the month. Regions other than us-east-1 are priced as us-east-1; their
usage types carry the region's prefix (``USE2-BoxUsage:t3.micro``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Tier:
    begin: float
    end: float | None  # None: no upper bound
    price: float


@dataclass(frozen=True)
class Product:
    service: str  # the price list's service code: "AmazonEC2"
    usage_type: str  # without a region prefix
    operation: str
    unit: str
    tiers: tuple[Tier, ...]
    family: str
    description: str
    ce_service: str  # the SERVICE dimension of Cost Explorer
    attributes: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def sku(self) -> str:
        digest = hashlib.sha1(f"{self.service}|{self.usage_type}|{self.operation}".encode())
        return digest.hexdigest()[:16].upper()

    @property
    def tiered(self) -> bool:
        return len(self.tiers) > 1

    def cost(self, quantity: float, before: float = 0.0) -> float:
        """USD for ``quantity`` units when ``before`` units were used earlier in the month."""
        total = 0.0
        start, stop = before, before + quantity
        for tier in self.tiers:
            hi = stop if tier.end is None else min(stop, tier.end)
            lo = max(start, tier.begin)
            if hi > lo:
                total += (hi - lo) * tier.price
        return total


@dataclass(frozen=True)
class ServiceInfo:
    code: str
    name: str
    ce_name: str


class PriceList:
    """Products by (service, usage type, operation), regions and their prefixes."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.taken: str = doc["taken"]
        self.currency: str = doc["currency"]
        self.about: str = doc["about"]
        self.regions: dict[str, tuple[str, str]] = {
            r: (v[0], v[1]) for r, v in doc["regions"].items()
        }
        self.services: dict[str, ServiceInfo] = {}
        self.products: list[Product] = []
        self._by_key: dict[tuple[str, str, str], Product] = {}
        self._by_type: dict[tuple[str, str], Product] = {}
        for code, svc in doc["services"].items():
            self.services[code] = ServiceInfo(code, svc["name"], svc["ce"])
            for p in svc["products"]:
                if "tiers" in p:
                    tiers = tuple(Tier(float(a), None if b is None else float(b), float(c))
                                  for a, b, c in p["tiers"])
                else:
                    tiers = (Tier(0.0, None, float(p["price"])),)
                product = Product(
                    service=code, usage_type=p["usagetype"], operation=p.get("operation", ""),
                    unit=p["unit"], tiers=tiers, family=p["family"],
                    description=p["description"], ce_service=p.get("ce", svc["ce"]),
                    attributes=dict(p.get("attributes", {})),
                )
                self.products.append(product)
                self._by_key[(code, product.usage_type, product.operation)] = product
                self._by_type.setdefault((code, product.usage_type), product)

    def product(self, service: str, usage_type: str, operation: str = "") -> Product | None:
        """The product metered as ``usage_type`` (without region prefix)."""
        found = self._by_key.get((service, usage_type, operation))
        return found if found is not None else self._by_type.get((service, usage_type))

    def prefix(self, region: str) -> str:
        known = self.regions.get(region)
        return known[1] if known is not None else region.upper().replace("-", "") + "-"

    def location(self, region: str) -> str:
        known = self.regions.get(region)
        return known[0] if known is not None else region

    def ce_service(self, service: str, usage_type: str, operation: str = "") -> str:
        product = self.product(service, usage_type, operation)
        if product is not None:
            return product.ce_service
        info = self.services.get(service)
        return info.ce_name if info is not None else service

    # -- the AWS Price List format -----------------------------------------

    def product_attributes(self, product: Product, region: str) -> dict[str, str]:
        """The attributes GetProducts filters on and answers with."""
        prefix = self.prefix(region)
        attrs = {
            "servicecode": product.service,
            "servicename": self.services[product.service].name,
            "usagetype": prefix + product.usage_type,
            "operation": product.operation,
            "location": self.location(region),
            "locationType": "AWS Region",
            "regionCode": region,
        }
        attrs.update(product.attributes)
        return attrs

    def price_list_item(self, product: Product, region: str) -> dict[str, Any]:
        """One product as the Price List API's JSON document (before stringifying)."""
        sku = self.regional_sku(product, region)
        term = "JRTCKXETXF"
        dims: dict[str, Any] = {}
        for i, tier in enumerate(product.tiers):
            rate = f"{sku}.{term}.{_rate_code(i)}"
            dims[rate] = {
                "unit": product.unit,
                "endRange": "Inf" if tier.end is None else _number(tier.end),
                "description": product.description,
                "appliesTo": [],
                "rateCode": rate,
                "beginRange": _number(tier.begin),
                "pricePerUnit": {self.currency: f"{tier.price:.10f}"},
            }
        return {
            "product": {
                "productFamily": product.family,
                "attributes": self.product_attributes(product, region),
                "sku": sku,
            },
            "serviceCode": product.service,
            "terms": {
                "OnDemand": {
                    f"{sku}.{term}": {
                        "priceDimensions": dims,
                        "sku": sku,
                        "effectiveDate": f"{self.taken}T00:00:00Z",
                        "offerTermCode": term,
                        "termAttributes": {},
                    }
                }
            },
            "version": self.taken.replace("-", "") + "000000",
            "publicationDate": f"{self.taken}T00:00:00Z",
        }

    def regional_sku(self, product: Product, region: str) -> str:
        if region == DEFAULT_REGION:
            return product.sku
        return hashlib.sha1(f"{product.sku}|{region}".encode()).hexdigest()[:16].upper()


def _rate_code(i: int) -> str:
    return ["6YS6EN2CT7", "PGHJ3S3EYE", "D42MF2PVJS", "7NE97W5U4E", "E7GSL9X8ZX"][i % 5]


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


@lru_cache(maxsize=1)
def prices() -> PriceList:
    """The bundled price list (loaded once)."""
    text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
    return PriceList(json.loads(text))


@dataclass(frozen=True)
class Unpriced:
    """Usage gureum metered but its price list has no price for: billed at 0."""

    region: str
    service: str  # price list service code
    usage_type: str
    unit: str
    quantity: float

    @property
    def what(self) -> str:
        """The instance class or node type (``db.r6g.large``), else the usage type."""
        return self.usage_type.split(":", 1)[1] if ":" in self.usage_type else self.usage_type

    def message(self) -> str:
        return (f"no price for {self.what} ({self.service} {self.usage_type}, "
                f"{self.quantity:.4g} {self.unit} in {self.region}) — not billed")


def unpriced(price_list: PriceList, used: Iterable[tuple[str, str, str, str, float]]
             ) -> list[Unpriced]:
    """Of ``used`` ((region, service, usage type, unit, quantity), as
    ``Usage.kinds`` reads them), what the price list has no price for."""
    return [Unpriced(*u) for u in used if price_list.product(u[1], u[2]) is None]
