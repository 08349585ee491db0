"""The ``rest-xml`` protocol (S3): input from the URI, query string, headers and
an XML or streamed body; output to the status, headers and an XML or streamed
body.

Operations are found by matching the request against each operation's
``requestUri`` template (method, path labels, required query keys, required
headers); the most specific match wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from gureum.errors import AWSError, ValidationError

from . import xml
from .base import HttpRequest, HttpResponse, error_shape_for
from .values import (
    b64decode,
    b64encode,
    format_float,
    format_timestamp,
    parse_bool,
    parse_float,
    parse_int,
    parse_timestamp,
)

# Named patch: the S3 model does not name the root element of its XML
# outputs; these are the names S3 answers with. Others default to the output
# shape's name without "Output".
S3_OUTPUT_ROOTS = {
    "ListBuckets": "ListAllMyBucketsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListParts": "ListPartsResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketAcl": "AccessControlPolicy",
    "GetObjectAcl": "AccessControlPolicy",
    "GetBucketTagging": "Tagging",
    "GetObjectTagging": "Tagging",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketWebsite": "WebsiteConfiguration",
    "GetObjectAttributes": "GetObjectAttributesResponse",
}


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    segments: tuple[str, ...]  # literal path segments or "{Label}" / "{Label+}"
    query: tuple[tuple[str, str | None], ...]  # required query keys (and values)
    required_headers: tuple[str, ...]


def _compile(operation: OperationModel) -> _Route:
    uri = operation.http["requestUri"]
    path, _, qs = uri.partition("?")
    segments = tuple(s for s in path.split("/") if s)
    query: list[tuple[str, str | None]] = []
    for part in qs.split("&") if qs else []:
        key, eq, value = part.partition("=")
        query.append((key, value if eq else None))
    required: list[str] = []
    shape = operation.input_shape
    if shape is not None:
        for name in shape.required_members:
            member = shape.members[name]
            if member.serialization.get("location") == "header":
                required.append(member.serialization.get("name", name).lower())
    return _Route(operation.name, operation.http["method"], segments, tuple(query), tuple(required))


class RestXMLProtocol:
    name = "rest-xml"

    def __init__(self) -> None:
        self._routes: dict[str, list[_Route]] = {}

    def _routes_for(self, service: ServiceModel) -> list[_Route]:
        routes = self._routes.get(service.service_name)
        if routes is None:
            routes = [_compile(service.operation_model(n)) for n in service.operation_names]
            self._routes[service.service_name] = routes
        return routes

    @staticmethod
    def full_path(request: HttpRequest) -> str:
        if request.virtual_bucket:
            return f"/{request.virtual_bucket}{request.raw_path}"
        return request.raw_path

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        method = request.method if request.method != "HEAD" else "HEAD"
        raw = self.full_path(request)
        segments = [s for s in raw.split("/")]
        segments = segments[1:] if segments and segments[0] == "" else segments
        # "/bucket/" and "/bucket" are the same resource; "/bucket/a/" keeps its slash.
        if len(segments) == 2 and segments[1] == "":
            segments = segments[:1]
        if segments == [""]:
            segments = []
        best: tuple[int, str] | None = None
        for route in self._routes_for(service):
            if route.method != method:
                continue
            if not _path_matches(route.segments, segments):
                continue
            score = 0
            ok = True
            for key, value in route.query:
                if key not in request.query or (value is not None and request.query[key] != value):
                    ok = False
                    break
                score += 10
            if not ok:
                continue
            for header in route.required_headers:
                if header not in request.headers:
                    ok = False
                    break
                score += 5
            if ok and (best is None or score > best[0]):
                best = (score, route.operation)
        return best[1] if best else None

    # -- request ----------------------------------------------------------

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        labels = _labels(operation.http["requestUri"], self.full_path(request))
        params: dict[str, Any] = {}
        payload = shape.serialization.get("payload")
        for mname, mshape in shape.members.items():
            ser = mshape.serialization
            location = ser.get("location")
            wire = ser.get("name", mname)
            if location == "uri":
                if wire in labels:
                    params[mname] = _from_text(labels[wire], mshape)
            elif location == "querystring":
                if mshape.type_name == "map":
                    params[mname] = {k: v for k, v in request.query.items()}
                elif mshape.type_name == "list":
                    if wire in request.query:
                        params[mname] = [
                            _from_text(v, mshape.member) for v in request.query.getall(wire)
                        ]
                elif wire in request.query:
                    params[mname] = _from_text(request.query[wire], mshape)
            elif location == "header":
                if wire in request.headers:
                    params[mname] = _from_header(request.headers[wire], mshape)
            elif location == "headers":
                prefix = wire.lower()
                params[mname] = {
                    k.lower()[len(prefix) :]: v
                    for k, v in request.headers.items()
                    if k.lower().startswith(prefix)
                }
        if payload is not None:
            pshape = shape.members[payload]
            if pshape.type_name in ("blob", "string"):
                params[payload] = request.stream if request.stream is not None else request.body
            elif request.body.strip():
                root = xml.parse_document(request.body)
                params[payload] = xml.read_value(root, pshape)
        return params

    # -- response ---------------------------------------------------------

    def serialize(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        response = HttpResponse(200, {"x-amz-request-id": request_id})
        shape = operation.output_shape
        if shape is None:
            return response
        payload = shape.serialization.get("payload")
        body_members = False
        for mname, mshape in shape.members.items():
            value = output.get(mname)
            ser = mshape.serialization
            location = ser.get("location")
            if location is None:
                if mname != payload:
                    body_members = body_members or value is not None
                continue
            if value is None:
                continue
            wire = ser.get("name", mname)
            if location == "statusCode":
                response.status = int(value)
            elif location == "header":
                response.headers[wire] = _to_header(value, mshape)
            elif location == "headers":
                for key, val in value.items():
                    response.headers[f"{wire}{key}"] = str(val)
        if payload is not None:
            pshape = shape.members[payload]
            value = output.get(payload)
            if pshape.type_name in ("blob", "string"):
                if value is not None:
                    response.body = value.encode() if isinstance(value, str) else value
            elif value is not None:
                root = pshape.serialization.get("name", payload)
                response.body = _document(root, value, pshape)
                response.headers["Content-Type"] = "application/xml"
        elif body_members:
            root = S3_OUTPUT_ROOTS.get(operation.name) or shape.name.removesuffix("Output")
            response.body = _document(root, output, shape, operation.service_model)
            response.headers["Content-Type"] = "application/xml"
        return response

    def serialize_error(
        self,
        service: ServiceModel,
        error: AWSError,
        request_id: str,
        operation: OperationModel | None,
    ) -> HttpResponse:
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
            f"<Code>{xml.escape(error.code)}</Code><Message>{xml.escape(error.message)}</Message>",
        ]
        shape = error_shape_for(service, error.code)
        for key, value in error.fields.items():
            if shape is not None and key in shape.members:
                xml.write_value(out, key, value, shape.members[key])
            else:
                out.append(f"<{key}>{xml.escape(str(value))}</{key}>")
        out.append(f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>")
        headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
        return HttpResponse(error.status, headers, "".join(out).encode())


def _document(root: str, value: Any, shape: Shape, service: ServiceModel | None = None) -> bytes:
    ns = "http://s3.amazonaws.com/doc/2006-03-01/"
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    if shape.type_name == "structure":
        out.append(f'<{root} xmlns="{ns}">')
        xml.write_members(out, shape, value)
        out.append(f"</{root}>")
    else:
        xml.write_value(out, root, value, shape)
    return "".join(out).encode()


def _path_matches(template: tuple[str, ...], segments: list[str]) -> bool:
    if template and template[-1].endswith("+}"):
        return len(segments) >= len(template) and all(
            t.startswith("{") or t == s for t, s in zip(template[:-1], segments, strict=False)
        ) and any(s for s in segments[len(template) - 1 :])
    if len(template) != len(segments):
        return False
    return all(
        (t.startswith("{") and s != "") or t == s for t, s in zip(template, segments, strict=True)
    )


_LABEL = re.compile(r"{([^}]+)}")


def _labels(uri: str, raw_path: str) -> dict[str, str]:
    template = [s for s in uri.partition("?")[0].split("/") if s]
    segments = raw_path.split("/")[1:]
    out: dict[str, str] = {}
    for i, part in enumerate(template):
        m = _LABEL.fullmatch(part)
        if not m:
            continue
        name = m.group(1)
        if name.endswith("+"):
            out[name[:-1]] = unquote("/".join(segments[i:]))
            break
        if i < len(segments):
            out[name] = unquote(segments[i])
    return out


def _from_text(text: str, shape: Shape) -> Any:
    t = shape.type_name
    if t == "boolean":
        return parse_bool(text)
    if t in ("integer", "long"):
        return parse_int(text)
    if t in ("float", "double"):
        return parse_float(text)
    if t == "timestamp":
        return parse_timestamp(text)
    if t == "blob":
        return b64decode(text)
    return text


def _from_header(text: str, shape: Shape) -> Any:
    if shape.type_name == "list":
        return [_from_text(v.strip().strip('"'), shape.member) for v in text.split(",")]
    if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
        try:
            return json.loads(b64decode(text))
        except ValueError as exc:
            raise ValidationError(message="Invalid JSON header value") from exc
    return _from_text(text, shape)


def _to_header(value: Any, shape: Shape) -> str:
    t = shape.type_name
    if t == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", "rfc822"))
    if t == "boolean":
        return "true" if value else "false"
    if t in ("float", "double"):
        return format_float(value)
    if t == "list":
        return ",".join(_to_header(v, shape.member) for v in value)
    if t == "blob":
        return b64encode(value)
    if t == "string" and shape.serialization.get("jsonvalue"):
        return b64encode(json.dumps(value, separators=(",", ":")))
    return str(value)
