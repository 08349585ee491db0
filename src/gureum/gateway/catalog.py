"""Which AWS services gureum speaks, how a request names one, and their models.

The table is static so that routing needs no model; botocore models are loaded
on first use (and warmed in the background after start) and kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from botocore.model import ServiceModel


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # botocore's service name
    signing_names: tuple[str, ...]
    protocols: tuple[str, ...]  # as the model lists them, preferred first
    error_style: str  # "query", "ec2", "json" or "s3": how auth errors are spelled
    # Codes for input that fails the model's constraints.
    missing_code: str
    invalid_code: str
    target_prefix: str | None = None
    api_version: str | None = None  # to tell apart services sharing a signing name
    global_service: bool = False  # IAM-like: one region ("us-east-1") holds its state


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("sts", ("sts",), ("query",), "query", "MissingParameter", "ValidationError"),
        ServiceSpec(
            "iam", ("iam",), ("query",), "query", "ValidationError", "ValidationError",
            global_service=True,
        ),
        ServiceSpec(
            "ec2", ("ec2",), ("ec2",), "ec2", "MissingParameter", "InvalidParameterValue"
        ),
        ServiceSpec("s3", ("s3",), ("rest-xml",), "s3", "InvalidRequest", "InvalidArgument"),
        ServiceSpec(
            "elbv2", ("elasticloadbalancing",), ("query",), "query",
            "ValidationError", "ValidationError", api_version="2015-12-01",
        ),
        ServiceSpec(
            "autoscaling", ("autoscaling",), ("query",), "query",
            "ValidationError", "ValidationError",
        ),
        ServiceSpec(
            "cloudwatch", ("monitoring",), ("smithy-rpc-v2-cbor", "json", "query"), "query",
            "MissingParameter", "InvalidParameterValue",
            target_prefix="GraniteServiceVersion20100801",
        ),
        ServiceSpec(
            "rds", ("rds",), ("query",), "query", "MissingParameter", "InvalidParameterValue"
        ),
        ServiceSpec(
            "elasticache", ("elasticache",), ("query",), "query",
            "MissingParameter", "InvalidParameterValue",
        ),
        ServiceSpec(
            "ce", ("ce",), ("json",), "json", "ValidationException", "ValidationException",
            target_prefix="AWSInsightsIndexService", global_service=True,
        ),
        ServiceSpec(
            "budgets", ("budgets",), ("json",), "json",
            "InvalidParameterException", "InvalidParameterException",
            target_prefix="AWSBudgetServiceGateway", global_service=True,
        ),
        ServiceSpec(
            "pricing", ("pricing",), ("json",), "json",
            "InvalidParameterException", "InvalidParameterException",
            target_prefix="AWSPriceListService",
        ),
    )
}

BY_SIGNING_NAME: dict[str, list[ServiceSpec]] = {}
BY_TARGET_PREFIX: dict[str, ServiceSpec] = {}
for _spec in SERVICES.values():
    for _name in _spec.signing_names:
        BY_SIGNING_NAME.setdefault(_name, []).append(_spec)
    if _spec.target_prefix:
        BY_TARGET_PREFIX[_spec.target_prefix] = _spec


class Models:
    """botocore service models, loaded once each, thread-safe (warmed off-loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._models: dict[str, ServiceModel] = {}

    def get(self, name: str) -> ServiceModel:
        model = self._models.get(name)
        if model is not None:
            return model
        with self._lock:
            model = self._models.get(name)
            if model is None:
                if self._session is None:
                    import botocore.session

                    self._session = botocore.session.get_session()
                model = self._session.get_service_model(name)
                self._models[name] = model
        return model

    def loaded(self, name: str) -> bool:
        return name in self._models

    def warm(self, name: str) -> None:
        """Load the model and resolve every operation's shapes (first calls are fast)."""
        model = self.get(name)
        for op in model.operation_names:
            om = model.operation_model(op)
            om.input_shape  # noqa: B018 - resolving shapes fills botocore's caches
            om.output_shape  # noqa: B018
