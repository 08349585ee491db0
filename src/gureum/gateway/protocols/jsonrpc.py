"""The ``json`` protocol (1.0/1.1, ``X-Amz-Target``) and ``smithy-rpc-v2-cbor``.

Both carry a document whose members are walked with the shapes; they differ in
encoding (JSON with base64 blobs and epoch-number timestamps vs CBOR with byte
strings and tag-1 timestamps), in how the operation is named (header vs path)
and in their content types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import cbor2
from botocore.model import OperationModel, ServiceModel, Shape

from gureum.errors import AWSError

from ..validate import Violation
from .base import HttpRequest, HttpResponse, error_shape_for
from .document import Unchecked, checking_reader, reader, writer
from .values import b64encode, epoch


class JSONProtocol:
    name = "json"
    binary = False

    def content_type(self, service: ServiceModel) -> str:
        return f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, op = target.rpartition(".")
        if not op or prefix != service.metadata.get("targetPrefix"):
            return None
        return op

    def decode(self, body: bytes) -> Any:
        try:
            return json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as exc:
            raise AWSError("SerializationException", "Malformed JSON in request body") from exc

    def encode(self, document: Any) -> bytes:
        return json.dumps(document, separators=(",", ":")).encode()

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        document = self.decode(request.body)
        if not isinstance(document, dict):
            raise AWSError("SerializationException", "Request body must be an object")
        try:
            params: dict[str, Any] = checking_reader(shape)(document)
        except (Unchecked, Violation):
            # Read again, plainly: its type errors come first, then the
            # validator names the broken constraint.
            return reader(shape)(document)  # type: ignore[no-any-return]
        request.input_checked = True
        return params

    # -- reading ----------------------------------------------------------

    def _read(self, value: Any, shape: Shape) -> Any:
        if value is None:
            return None
        return reader(shape)(value)

    # -- writing ----------------------------------------------------------

    def _write(self, value: Any, shape: Shape) -> Any:
        return writer(shape, self.name, self._timestamp, self._blob)(value)

    # Plain functions (not bound methods), which the compiled writers call
    # directly or write in place (epoch seconds).
    _timestamp = staticmethod(epoch)
    _blob = staticmethod(b64encode)

    def _headers(self, service: ServiceModel) -> dict[str, str]:
        return {"Content-Type": self.content_type(service)}

    def serialize(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        shape = operation.output_shape
        document = self._write(output, shape) if shape is not None else {}
        headers = self._headers(operation.service_model)
        return HttpResponse(200, headers, self.encode(document))

    def serialize_error(
        self,
        service: ServiceModel,
        error: AWSError,
        request_id: str,
        operation: OperationModel | None,
    ) -> HttpResponse:
        code = error.code
        shape = error_shape_for(service, code)
        type_name = shape.name if shape is not None else code
        document: dict[str, Any] = {"__type": type_name, "message": error.message}
        if shape is not None and error.fields:
            fields = {k: v for k, v in error.fields.items() if k in shape.members}
            document.update(self._write(fields, shape))
        headers = self._headers(service)
        headers["x-amzn-ErrorType"] = type_name
        if "awsQueryCompatible" in service.metadata:
            # Query-compatible services name the query error code in a header so
            # that SDKs report the same code whatever protocol they speak.
            headers["x-amzn-query-error"] = f"{code};{'Sender' if error.sender else 'Receiver'}"
        return HttpResponse(error.status, headers, self.encode(document))


class CBORProtocol(JSONProtocol):
    name = "smithy-rpc-v2-cbor"
    binary = True

    def content_type(self, service: ServiceModel) -> str:
        return "application/cbor"

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        # /service/{ServiceName}/operation/{Operation}
        parts = request.path.rstrip("/").split("/")
        if len(parts) >= 5 and parts[-2] == "operation" and parts[-4] == "service":
            return parts[-1]
        return None

    def decode(self, body: bytes) -> Any:
        if not body:
            return {}
        try:
            return cbor2.loads(body)
        except Exception as exc:  # cbor2 raises several types for bad input
            raise AWSError("SerializationException", "Malformed CBOR in request body") from exc

    def encode(self, document: Any) -> bytes:
        return bytes(cbor2.dumps(document, datetime_as_timestamp=True, timezone=None))

    @staticmethod
    def _timestamp(value: Any) -> Any:
        return cbor2.CBORTag(1, epoch(value))

    @staticmethod
    def _blob(value: Any) -> Any:
        return value.encode() if isinstance(value, str) else bytes(value)

    def _headers(self, service: ServiceModel) -> dict[str, str]:
        return {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
