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
from collections.abc import Callable, Mapping
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
    parse_scalar,
    parse_timestamp,
    rfc822,
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


# Named patch: GetBucketLocation answers a bare ``<LocationConstraint>`` whose
# text is the region (empty for us-east-1), not a document with a member
# element; botocore reads it with a customisation (parse_get_bucket_location).
BARE_DOCUMENTS = {"GetBucketLocation": "LocationConstraint"}
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def _bare_document(member: str, output: Mapping[str, Any]) -> bytes:
    value = output.get(member)
    text = "" if value is None else xml.escape(str(value))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{member} xmlns="{S3_NAMESPACE}">{text}</{member}>'
    ).encode()


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    segments: tuple[str, ...]  # literal path segments or "{Label}" / "{Label+}"
    # Query keys the request must carry: the requestUri's literal keys (and
    # values) and the wire names of required querystring members.
    query: tuple[tuple[str, str | None], ...]
    required_headers: tuple[str, ...]
    optional_query: frozenset[str]  # other modelled query keys: a tie-breaker
    deprecated: bool
    labels: tuple[tuple[int, str, bool], ...]  # (segment index, label, greedy)
    host_prefix: re.Pattern[str] | None  # endpoint.hostPrefix, labels as groups


def _compile(operation: OperationModel) -> _Route:
    uri = operation.http["requestUri"]
    path, _, qs = uri.partition("?")
    segments = tuple(s for s in path.split("/") if s)
    query: list[tuple[str, str | None]] = []
    for part in qs.split("&") if qs else []:
        key, eq, value = part.partition("=")
        query.append((key, value if eq else None))
    required: list[str] = []
    optional_query: set[str] = set()
    shape = operation.input_shape
    if shape is not None:
        required_members = set(shape.required_members)
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "header" and name in required_members:
                required.append(wire.lower())
            elif location == "querystring" and member.type_name != "map":
                if name in required_members:
                    query.append((wire, None))
                else:
                    optional_query.add(wire)
    labels = tuple(
        (i, seg[1:-2] if seg.endswith("+}") else seg[1:-1], seg.endswith("+}"))
        for i, seg in enumerate(segments)
        if seg.startswith("{")
    )
    host_prefix = None
    endpoint = operation.endpoint
    if endpoint and endpoint.get("hostPrefix"):
        pattern = re.sub(
            r"\\{([^}]+)\\}", r"(?P<\1>[^.]+)", re.escape(endpoint["hostPrefix"])
        )
        host_prefix = re.compile(pattern)
    return _Route(
        operation.name,
        operation.http["method"],
        segments,
        tuple(query),
        tuple(required),
        frozenset(optional_query),
        bool(operation.deprecated),
        labels,
        host_prefix,
    )


class _Inputs:
    """Where an operation's input members come from, grouped once: members
    bound to path labels, query keys and header names (lower case) to
    members, ``x-amz-meta-``-style header prefixes, the payload member."""

    def __init__(self, shape: Shape, route: _Route) -> None:
        self.route = route
        # (member, label names to look for in order, reader of the text)
        self.labelled: list[tuple[str, tuple[str, ...], _Reader]] = []
        self.query: dict[str, tuple[str, Shape]] = {}
        self.query_maps: list[str] = []
        self.headers: dict[str, tuple[str, _Reader]] = {}
        self.prefixed: list[tuple[str, str]] = []
        self.payload: str | None = shape.serialization.get("payload")
        self.body_members = False
        for mname, mshape in shape.members.items():
            ser = mshape.serialization
            location = ser.get("location")
            wire = ser.get("name", mname)
            if ser.get("hostLabel") or location == "uri":
                keys = (mname, wire) if ser.get("hostLabel") else (wire,)
                self.labelled.append((mname, keys, _SCALAR_READERS.get(mshape.type_name, _text)))
            elif location == "querystring":
                if mshape.type_name == "map":
                    self.query_maps.append(mname)
                else:
                    self.query.setdefault(wire, (mname, mshape))
            elif location == "header":
                self.headers.setdefault(wire.lower(), (mname, header_reader(mshape)))
            elif location == "headers":
                self.prefixed.append((mname, wire.lower()))
            elif location is None and mname != self.payload:
                self.body_members = True


def _plain_headers(plan: _Inputs, names: tuple[str, ...]) -> bool:
    """True when headers of these names carry none of the plan's members but
    Content-Length, and it reads nothing from a query map or a host."""
    if plan.query_maps or plan.route.host_prefix is not None:
        return False
    for name in names:
        lower = name.lower()
        if lower in plan.headers and lower != "content-length":
            return False
        if any(lower.startswith(prefix) for _, prefix in plan.prefixed):
            return False
    return True


_NO_KEYS: frozenset[str] = frozenset()
_UNSEEN: Any = object()
# S3's object reads and writes, as most clients send them.
_S3_OBJECT_OPERATIONS = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject"}


class RestXMLProtocol:
    name = "rest-xml"

    def __init__(self) -> None:
        self._routes: dict[str, list[_Route]] = {}
        self._by_operation: dict[tuple[str, str], _Route] = {}
        # What a route choice depends on, per service: literal path segments,
        # query keys whose value matters, headers some route requires, and the
        # longest path template. Requests alike in those get the same answer.
        self._traits: dict[str, tuple[frozenset[str], tuple[str, ...], tuple[str, ...], int]] = {}
        self._chosen: dict[tuple[Any, ...], str | None] = {}
        self._outputs: dict[tuple[str, str], dict[str, tuple[str | None, str, _Formatter]]] = {}
        self._input_plans: dict[tuple[str, str], _Inputs] = {}
        self._by_model: dict[OperationModel, _Inputs] = {}
        # (operation, a request's header names) -> the operation's plan when
        # they carry none of its members but Content-Length, else None: see
        # ``s3_object_params``.
        self._plain: dict[tuple[str, tuple[str, ...]], _Inputs | None] = {}
        self._outputs_by_model: dict[
            OperationModel, dict[str, tuple[str | None, str, _Formatter]]
        ] = {}

    def _routes_for(self, service: ServiceModel) -> list[_Route]:
        routes = self._routes.get(service.service_name)
        if routes is None:
            routes = [_compile(service.operation_model(n)) for n in service.operation_names]
            for route in routes:
                self._by_operation[service.service_name, route.operation] = route
            self._routes[service.service_name] = routes
        return routes

    def _route(self, operation: OperationModel) -> _Route:
        service = operation.service_model
        route = self._by_operation.get((service.service_name, operation.name))
        if route is None:
            self._routes_for(service)
            route = self._by_operation[service.service_name, operation.name]
        return route

    @staticmethod
    def full_path(request: HttpRequest) -> str:
        if request.virtual_bucket:
            return f"/{request.virtual_bucket}{request.raw_path}"
        return request.raw_path

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        """The best matching route: required query keys (10 each) and headers
        (5 each), then modelled optional query keys present (1 each); on a tie
        a current operation beats a deprecated one (``GetBucketLifecycle`` and
        ``GetBucketLifecycleConfiguration`` are the same request), then model
        order wins."""
        method = request.method
        segments = self.full_path(request).split("/")
        segments = segments[1:] if segments and segments[0] == "" else segments
        # "/bucket/" and "/bucket" are the same resource; "/bucket/a/" keeps its slash.
        if len(segments) == 2 and segments[1] == "":
            segments = segments[:1]
        if segments == [""]:
            segments = []
        query = request.query
        headers = request.headers
        literals, valued, required, longest = self._service_traits(service)
        # (List comprehensions: a generator's frames cost more than these few items.)
        key = (
            service.service_name,
            method,
            min(len(segments), longest + 1),
            tuple([s if s in literals else "*" if s else "" for s in segments[: longest + 1]]),
            frozenset(query.keys()) if query else _NO_KEYS,
            tuple([query.get(k) for k in valued]) if query else None,
            tuple([h in headers for h in required]),
        )
        if key in self._chosen:
            return self._chosen[key]
        if len(self._chosen) > 4096:
            self._chosen.clear()
        self._chosen[key] = name = self._best_route(service, method, segments, query, headers)
        return name

    def s3_object_operation(self, request: HttpRequest, service: ServiceModel) -> str | None:
        """S3's GetObject, HeadObject or PutObject for a path-style request of
        ``/bucket/key`` with no query and none of the headers a route requires
        (``x-amz-copy-source``): what ``operation_name`` chooses for it, without
        matching the routes; ``None`` for any other request."""
        if request.raw_query or request.query or request.virtual_bucket:
            return None
        name = _S3_OBJECT_OPERATIONS.get(request.method)
        path = request.raw_path
        slash = path.find("/", 1)
        if name is None or slash < 2 or slash == len(path) - 1 or path[-1] == "/" or "//" in path:
            return None
        headers = request.headers
        for header in self._service_traits(service)[2]:
            if header in headers:
                return None
        return name

    def s3_object_params(
        self, request: HttpRequest, operation: OperationModel
    ) -> dict[str, Any] | None:
        """``parse``'s parameters for a request ``s3_object_operation`` named,
        when its headers carry none of the operation's members but
        Content-Length (a plain read or write, as SDKs send most): the bucket
        and key of the path, the length and the body, without the plan's walk
        over each header; ``None`` for any other request, which ``parse``
        reads. ``validate`` always passes them (a bucket, a key never empty, a
        length), so it need not run. Whether a request's header names carry
        members is kept per operation and names: a client sends the same ones
        each time."""
        headers = request.headers
        key = (operation.name, tuple(headers.keys()))
        plan = self._plain.get(key, _UNSEEN)
        if plan is _UNSEEN:
            plan = self._inputs(operation)
            if not _plain_headers(plan, key[1]):
                plan = None
            if len(self._plain) > 4096:
                self._plain.clear()
            self._plain[key] = plan
        if plan is None:
            return None
        bucket, _, name = request.raw_path[1:].partition("/")
        params: dict[str, Any] = {
            "Bucket": unquote(bucket) if "%" in bucket else bucket,
            "Key": unquote(name) if "%" in name else name,
        }
        length = plan.headers.get("content-length")
        if length is not None and "Content-Length" in headers:
            params[length[0]] = length[1](headers["Content-Length"])
        if plan.payload is not None:  # (PutObject's streamed body)
            params[plan.payload] = request.stream if request.stream is not None else request.body
        return params

    def _service_traits(
        self, service: ServiceModel
    ) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...], int]:
        traits = self._traits.get(service.service_name)
        if traits is None:
            routes = self._routes_for(service)
            traits = (
                frozenset(t for r in routes for t in r.segments if not t.startswith("{")),
                tuple(sorted({k for r in routes for k, v in r.query if v is not None})),
                tuple(sorted({h for r in routes for h in r.required_headers})),
                max((len(r.segments) for r in routes), default=0),
            )
            self._traits[service.service_name] = traits
        return traits

    def _best_route(
        self, service: ServiceModel, method: str, segments: list[str], query: Any, headers: Any
    ) -> str | None:
        best: tuple[int, int] | None = None
        best_name: str | None = None
        for route in self._routes_for(service):
            if route.method != method or not _path_matches(route.segments, segments):
                continue
            score = 0
            ok = True
            for key, value in route.query:
                if key not in query or (value is not None and query[key] != value):
                    ok = False
                    break
                score += 10
            if not ok:
                continue
            for header in route.required_headers:
                if header not in headers:
                    ok = False
                    break
                score += 5
            if not ok:
                continue
            score += sum(1 for key in route.optional_query if key in query)
            rank = (score, 0 if route.deprecated else 1)
            if best is None or rank > best:
                best, best_name = rank, route.operation
        return best_name

    # -- request ----------------------------------------------------------

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        plan = self._inputs(operation)
        route = plan.route
        labels = _labels(route, self.full_path(request))
        if route.host_prefix is not None:
            match = route.host_prefix.match(request.host)
            if match:
                labels.update(match.groupdict())
        params: dict[str, Any] = {}
        for mname, keys, read in plan.labelled:
            for label in keys:
                if label in labels:
                    params[mname] = read(labels[label])
                    break
        query = request.query
        for mname in plan.query_maps:
            params[mname] = {k: v for k, v in query.items()}
        if query:
            for wire in query:
                found = plan.query.get(wire)
                if found is None or found[0] in params:
                    continue
                mname, mshape = found
                if mshape.type_name == "list":
                    params[mname] = [_from_text(v, mshape.member) for v in query.getall(wire)]
                else:
                    params[mname] = _from_text(query[wire], mshape)
        # The request's few headers are looked up among the members, rather
        # than each of the dozens of header members among the headers.
        prefixed = plan.prefixed
        header_members = plan.headers
        for name, value in request.headers.items():
            lower = name.lower()
            found = header_members.get(lower)
            if found is not None and found[0] not in params:
                params[found[0]] = found[1](value)
            for mname, prefix in prefixed:
                if lower.startswith(prefix):
                    params.setdefault(mname, {})[lower[len(prefix):]] = value
        payload = plan.payload
        body_members = plan.body_members
        if payload is not None:
            pshape = shape.members[payload]
            if pshape.type_name in ("blob", "string"):
                if request.stream is not None:
                    params[payload] = request.stream
                elif pshape.serialization.get("streaming") or operation.has_streaming_input:
                    params[payload] = request.body
                elif request.body:
                    body = request.body
                    params[payload] = body.decode() if pshape.type_name == "string" else body
            elif request.body.strip():
                root = xml.parse_document(request.body)
                params[payload] = xml.read_value(root, pshape)
        elif body_members and request.body.strip():
            # No payload member: the input shape itself is the document
            # (SelectObjectContentRequest).
            document = xml.read_value(xml.parse_document(request.body), shape)
            for mname, value in document.items():
                if shape.members[mname].serialization.get("location") is None:
                    params[mname] = value
        return params

    def _inputs(self, operation: OperationModel) -> _Inputs:
        """The operation's input plan (one with an input shape), made once."""
        plan = self._by_model.get(operation)
        if plan is not None:
            return plan
        key = (operation.service_model.service_name, operation.name)
        plan = self._input_plans.get(key)
        if plan is None:
            plan = _Inputs(operation.input_shape, self._route(operation))
            self._input_plans[key] = plan
        # Found by the model object itself next time (botocore hands out one
        # per operation and service model); a bound against models made anew.
        if len(self._by_model) > 4096:
            self._by_model.clear()
        self._by_model[operation] = plan
        return plan

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
        members = self._outputs_by_model.get(operation) or self._output_members(operation, shape)
        headers = response.headers
        # The output names a few members; the shape may model dozens (HeadObject).
        for mname, value in output.items():
            found = members.get(mname)
            if found is None:
                continue
            location, wire, format_ = found
            if location is None:
                if mname != payload:
                    body_members = body_members or value is not None
                continue
            if value is None:
                continue
            if location == "header":
                # (Text members' str values are written as they are: no call.)
                headers[wire] = (
                    value if format_ is _text_header and type(value) is str else format_(value)
                )
            elif location == "statusCode":
                response.status = int(value)
            elif location == "headers":
                for key, val in value.items():
                    headers[f"{wire}{key}"] = str(val)
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
        elif operation.name in BARE_DOCUMENTS:
            response.body = _bare_document(BARE_DOCUMENTS[operation.name], output)
            response.headers["Content-Type"] = "application/xml"
        elif body_members:
            root = S3_OUTPUT_ROOTS.get(operation.name) or shape.name.removesuffix("Output")
            response.body = _document(root, output, shape, operation.service_model)
            response.headers["Content-Type"] = "application/xml"
        if operation.name in PARTIAL_CONTENT and output.get("ContentRange"):
            response.status = 206
        return response

    def _output_members(
        self, operation: OperationModel, shape: Shape
    ) -> dict[str, tuple[str | None, str, _Formatter]]:
        """Output member -> (location, wire name, header formatter), once per
        operation."""
        key = (operation.service_model.service_name, operation.name)
        members = self._outputs.get(key)
        if members is None:
            members = {
                mname: (
                    mshape.serialization.get("location"),
                    mshape.serialization.get("name", mname),
                    header_formatter(mshape),
                )
                for mname, mshape in shape.members.items()
            }
            self._outputs[key] = members
        if len(self._outputs_by_model) > 4096:
            self._outputs_by_model.clear()
        self._outputs_by_model[operation] = members
        return members

    def serialize_error(
        self,
        service: ServiceModel,
        error: AWSError,
        request_id: str,
        operation: OperationModel | None,
    ) -> HttpResponse:
        if error.status == 304:
            # Not Modified carries no body, and the validators of the object.
            headers = {"x-amz-request-id": request_id}
            if "ETag" in error.fields:
                headers["ETag"] = str(error.fields["ETag"])
            if "LastModified" in error.fields:
                headers["Last-Modified"] = format_timestamp(error.fields["LastModified"], "rfc822")
            return HttpResponse(304, headers, b"")
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


# Named patch: the S3 model gives GetObject no status member, but a ranged GET
# answers 206 Partial Content (curl, browsers and caches depend on it).
PARTIAL_CONTENT = {"GetObject"}


def _document(root: str, value: Any, shape: Shape, service: ServiceModel | None = None) -> bytes:
    ns = S3_NAMESPACE
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
        # A greedy label takes the rest of the path, which must not be empty
        # (but may be "/": the key "/" is "/bucket//").
        head = len(template) - 1
        return (
            len(segments) > head
            and (len(segments) > head + 1 or segments[head] != "")
            and all(
                (t.startswith("{") and s != "") or t == s
                for t, s in zip(template[:head], segments, strict=False)
            )
        )
    if len(template) != len(segments):
        return False
    return all(
        (t.startswith("{") and s != "") or t == s for t, s in zip(template, segments, strict=True)
    )


def _labels(route: _Route, raw_path: str) -> dict[str, str]:
    segments = raw_path.split("/")[1:]
    out: dict[str, str] = {}
    for i, name, greedy in route.labels:
        if greedy:
            text = "/".join(segments[i:])
        elif i < len(segments):
            text = segments[i]
        else:
            continue
        out[name] = unquote(text) if "%" in text else text  # (unquote's own test, inline)
    return out


def _from_text(text: str, shape: Shape) -> Any:
    return parse_scalar(text, shape.type_name)


_Reader = Callable[[str], Any]

_SCALAR_READERS: dict[str, _Reader] = {
    "boolean": parse_bool,
    "integer": parse_int,
    "long": parse_int,
    "float": parse_float,
    "double": parse_float,
    "timestamp": parse_timestamp,
    "blob": b64decode,
}


def _text(text: str) -> str:
    return text


def header_reader(shape: Shape) -> _Reader:
    """``_from_header`` for one shape, its type's decisions taken once: what
    the request parser keeps per input header member."""
    t = shape.type_name
    if t == "list":
        item = shape.member
        return lambda text: [_from_text(v, item) for v in split_header_list(text)]
    if t == "string" and shape.serialization.get("jsonvalue"):
        return lambda text: _from_header(text, shape)
    return _SCALAR_READERS.get(t, _text)


def _from_header(text: str, shape: Shape) -> Any:
    """A header member's value from its text, decided afresh for every value:
    the specification ``header_reader``'s functions are tested against."""
    if shape.type_name == "list":
        return [_from_text(v, shape.member) for v in split_header_list(text)]
    if shape.type_name == "string" and shape.serialization.get("jsonvalue"):
        try:
            return json.loads(b64decode(text))
        except ValueError as exc:
            raise ValidationError(message="Invalid JSON header value") from exc
    return _from_text(text, shape)


def split_header_list(text: str) -> list[str]:
    """``a, "b,c", "d\\"e"`` → ``["a", "b,c", 'd"e']``: items that hold a comma or
    a quote are quoted, with inner quotes backslash-escaped (as botocore writes
    them)."""
    if '"' not in text:
        return [v.strip() for v in text.split(",")]
    items: list[str] = []
    i, n = 0, len(text)
    while i <= n:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            buf: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            items.append("".join(buf))
            end = text.find(",", i)
        else:
            end = text.find(",", i)
            items.append(text[i : n if end < 0 else end].strip())
        if end < 0:
            break
        i = end + 1
    return items


def _quote_header_item(value: str) -> str:
    if '"' in value or "," in value:
        return '"' + value.replace('"', '\\"') + '"'
    return value


_Formatter = Callable[[Any], str]


def _text_header(value: Any) -> str:
    return value if type(value) is str else str(value)


def _bool_header(value: Any) -> str:
    return "true" if value else "false"


def header_formatter(shape: Shape) -> _Formatter:
    """``_to_header`` for one shape, its type's decisions taken once: what the
    response serializer keeps per output member."""
    t = shape.type_name
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "rfc822")
        if fmt == "rfc822":
            return rfc822
        return lambda value: format_timestamp(value, fmt)
    if t == "boolean":
        return _bool_header
    if t in ("float", "double"):
        return format_float
    if t == "list":
        item = header_formatter(shape.member)
        return lambda value: ",".join(_quote_header_item(item(v)) for v in value)
    if t == "blob":
        return b64encode
    if t == "string" and shape.serialization.get("jsonvalue"):
        return lambda value: b64encode(json.dumps(value, separators=(",", ":")))
    return _text_header


def _to_header(value: Any, shape: Shape) -> str:
    """A header's text from the shape, decided afresh for every value: the
    specification ``header_formatter``'s functions are tested against."""
    t = shape.type_name
    if t == "timestamp":
        return format_timestamp(value, shape.serialization.get("timestampFormat", "rfc822"))
    if t == "boolean":
        return "true" if value else "false"
    if t in ("float", "double"):
        return format_float(value)
    if t == "list":
        return ",".join(_quote_header_item(_to_header(v, shape.member)) for v in value)
    if t == "blob":
        return b64encode(value)
    if t == "string" and shape.serialization.get("jsonvalue"):
        return b64encode(json.dumps(value, separators=(",", ":")))
    return str(value)
