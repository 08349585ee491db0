"""Which AWS services gureum speaks, how a request names one, and their models.

The table is static so that routing needs no model; botocore models are loaded
on first use (and warmed in the background after start) and kept.
"""

from __future__ import annotations

import marshal
import os
import threading
from dataclasses import dataclass
from pathlib import Path
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
            "acm", ("acm",), ("json",), "json", "ValidationException",
            "ValidationException", target_prefix="CertificateManager",
        ),
        ServiceSpec(
            "pricing", ("pricing",), ("json",), "json",
            "InvalidParameterException", "InvalidParameterException",
            target_prefix="AWSPriceListService",
        ),
        ServiceSpec(
            "secretsmanager", ("secretsmanager",), ("json",), "json",
            "InvalidParameterException", "InvalidParameterException",
            target_prefix="secretsmanager",
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
    """botocore service models, loaded once each, thread-safe (warmed off-loop).

    With a cache dir, each model is kept there without its documentation in
    marshal form, tagged with botocore's version: loading EC2's from the cache
    takes a fifth of the time of botocore's gzipped JSON."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._loader: Any = None
        self._models: dict[str, ServiceModel] = {}
        self._cache_dir = cache_dir

    def get(self, name: str) -> ServiceModel:
        model = self._models.get(name)
        if model is not None:
            return model
        with self._lock:
            model = self._models.get(name)
            if model is None:
                model = ServiceModel(self._description(name), service_name=name)
                self._models[name] = model
        return model

    def _cache_path(self, name: str) -> Path | None:
        if self._cache_dir is None:
            return None
        import botocore

        return self._cache_dir / f"{name}-{botocore.__version__}.marshal"

    def _description(self, name: str) -> dict[str, Any]:
        path = self._cache_path(name)
        if path is not None:
            try:
                cached: dict[str, Any] = marshal.loads(path.read_bytes())
                return cached
            except (OSError, ValueError, EOFError, TypeError):
                pass
        if self._loader is None:
            from botocore.loaders import Loader

            self._loader = Loader()
        description: dict[str, Any] = self._loader.load_service_model(name, "service-2")
        description = _without_docs(description)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(marshal.dumps(description))
                tmp.replace(path)
            except OSError:
                pass  # a read-only cache only costs speed
        return description

    def loaded(self, name: str) -> bool:
        return name in self._models

    def warm(self, name: str) -> None:
        """Load the model and resolve every operation's shapes (first calls are fast)."""
        model = self.get(name)
        for op in model.operation_names:
            om = model.operation_model(op)
            om.input_shape  # noqa: B018 - resolving shapes fills botocore's caches
            om.output_shape  # noqa: B018


def _without_docs(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _without_docs(v)
            for k, v in value.items()
            if k not in ("documentation", "documentationUrl", "examples")
        }
    if isinstance(value, list):
        return [_without_docs(v) for v in value]
    return value
