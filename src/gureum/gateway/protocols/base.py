"""What every wire protocol implements, and the HTTP views it works on.

A protocol turns an ``HttpRequest`` into (operation name, input dict) using the
botocore model, and turns an output dict or an ``AWSError`` back into an
``HttpResponse``. Protocols never see aiohttp objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.model import OperationModel, ServiceModel
from multidict import CIMultiDictProxy, MultiDictProxy

from gureum.errors import AWSError


@dataclass
class HttpRequest:
    method: str
    path: str  # decoded
    raw_path: str  # as received, percent-encoded, without the query
    raw_query: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    host: str
    body: bytes = b""  # the whole body, for protocols that are not streamed
    stream: Any = None  # an async body reader for streamed payloads (S3)
    # Filled by routing for rest protocols: bucket from a virtual host.
    virtual_bucket: str | None = None
    # Set by a protocol whose parse also checked the model's constraints.
    input_checked: bool = False


@dataclass
class HttpResponse:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | AsyncIterable[bytes] | Any = b""


class WireProtocol(Protocol):
    name: str

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        """The operation the request names, or None if it names none."""

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict[str, Any]: ...

    def serialize(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse: ...

    def serialize_error(
        self,
        service: ServiceModel,
        error: AWSError,
        request_id: str,
        operation: OperationModel | None,
    ) -> HttpResponse: ...


def error_shape_for(service: ServiceModel, code: str) -> Any:
    """The modelled error shape named ``code`` (by its error code or shape name)."""
    for shape in service.error_shapes:
        err = shape.metadata.get("error", {})
        if err.get("code") == code or shape.name == code:
            return shape
    return None
