"""rest-xml's per-operation plans against the generic walk they replaced.

The protocol reads a request by looking its few headers, query keys and path
labels up among an operation's members (grouped once, with a reader per
member), writes a response by looking the output's few keys up among the
members (with a formatter per member), and remembers the route chosen for
requests alike in what routing looks at. Here the straightforward walk over
every member of the shapes (``_from_header``/``_to_header`` decided afresh for
each value, every route scored for each request) is the specification: for
every S3 operation, requests as botocore writes them and outputs drawn from
the model must give exactly the same parameters, status, headers and body.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from botocore.model import OperationModel, Shape
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gureum.errors import AWSError
from gureum.gateway.protocols.base import HttpRequest, HttpResponse
from gureum.gateway.protocols.restxml import (
    RestXMLProtocol,
    _from_header,
    _from_text,
    _labels,
    _to_header,
    header_formatter,
    header_reader,
)
from gureum.gateway.validate import validate

from .shapes import EXAMPLES, comparable, values
from .test_roundtrip_requests import model, wire_request

S3 = model("s3")
OPERATIONS = list(S3.operation_names)
# One protocol for every example: its remembered routes and plans are what is
# tested against a fresh walk each time.
SHARED = RestXMLProtocol()
QUICK = settings(
    max_examples=8,
    deadline=None,
    database=EXAMPLES,
    suppress_health_check=list(HealthCheck),
    phases=(Phase.explicit, Phase.generate),
)


def reference_members(request: HttpRequest, operation: OperationModel) -> dict[str, Any]:
    """The members a request carries in its path, host, query and headers,
    found by walking every member of the input shape."""
    shape = operation.input_shape
    assert shape is not None
    route = RestXMLProtocol()._route(operation)
    labels = _labels(route, RestXMLProtocol.full_path(request))
    if route.host_prefix is not None:
        match = route.host_prefix.match(request.host)
        if match:
            labels.update(match.groupdict())
    params: dict[str, Any] = {}
    query, headers = request.query, request.headers
    for mname, mshape in shape.members.items():
        ser = mshape.serialization
        location = ser.get("location")
        wire = ser.get("name", mname)
        if ser.get("hostLabel") or location == "uri":
            for label in ((mname, wire) if ser.get("hostLabel") else (wire,)):
                if label in labels:
                    params[mname] = _from_text(labels[label], mshape)
                    break
        elif location == "querystring":
            if mshape.type_name == "map":
                params[mname] = dict(query.items())
            elif wire in query:
                if mshape.type_name == "list":
                    params[mname] = [_from_text(v, mshape.member) for v in query.getall(wire)]
                else:
                    params[mname] = _from_text(query[wire], mshape)
        elif location == "header":
            if wire in headers:
                params[mname] = _from_header(headers[wire], mshape)
        elif location == "headers":
            prefix = wire.lower()
            found = {
                k.lower()[len(prefix):]: v for k, v in headers.items()
                if k.lower().startswith(prefix)
            }
            if found:
                params[mname] = found
    return params


def reference_serialize(
    operation: OperationModel, output: dict[str, Any], request_id: str
) -> HttpResponse:
    """The response walking every member of the output shape; the body is the
    compiled serializer's (its document writer is not what is compared)."""
    response = HttpResponse(200, {"x-amz-request-id": request_id})
    shape = operation.output_shape
    assert shape is not None
    for mname, mshape in shape.members.items():
        value = output.get(mname)
        if value is None:
            continue
        location = mshape.serialization.get("location")
        wire = mshape.serialization.get("name", mname)
        if location == "statusCode":
            response.status = int(value)
        elif location == "header":
            response.headers[wire] = _to_header(value, mshape)
        elif location == "headers":
            for key, val in value.items():
                response.headers[f"{wire}{key}"] = str(val)
    return response


@functools.cache
def input_strategy(op: str) -> st.SearchStrategy[Any]:
    shape = S3.operation_model(op).input_shape
    return st.just({}) if shape is None else values(shape, "rest-xml")


@functools.cache
def output_strategy(op: str) -> st.SearchStrategy[Any]:
    return values(S3.operation_model(op).output_shape, "rest-xml")


def with_extras(request: HttpRequest, headers: list[tuple[str, str]],
                query: list[tuple[str, str]]) -> HttpRequest:
    h = CIMultiDict(request.headers)
    for key, value in headers:
        h.add(key, value)
    q = MultiDict(request.query)
    for key, value in query:
        q.add(key, value)
    return HttpRequest(
        method=request.method, path=request.path, raw_path=request.raw_path,
        raw_query=request.raw_query, query=MultiDictProxy(q), headers=CIMultiDictProxy(h),
        host=request.host, body=request.body,
    )


EXTRA_HEADERS = st.lists(st.tuples(
    st.sampled_from(["X-Amz-Meta-Colour", "x-amz-meta-SIZE", "Range", "If-Match", "x-amz-acl",
                     "X-Amz-Copy-Source", "x-amz-request-token", "Content-Type", "X-Other"]),
    st.sampled_from(["a", "bytes=0-9", '"etag"', "private", "b/c", "7"]),
), max_size=3)
EXTRA_QUERY = st.lists(st.tuples(
    st.sampled_from(["list-type", "versionId", "uploads", "tagging", "acl", "prefix",
                     "select-type", "x-id", "versions"]),
    st.sampled_from(["", "2", "1", "v1", "x"]),
), max_size=2)


@pytest.mark.parametrize("op", OPERATIONS)
@QUICK
@given(data=st.data())
def test_requests_read_as_the_member_walk_reads_them(op: str, data: st.DataObject) -> None:
    operation = S3.operation_model(op)
    params = data.draw(input_strategy(op), label="params")
    request = wire_request(params, operation, "rest-xml")
    request = with_extras(request, data.draw(EXTRA_HEADERS, label="headers"),
                          data.draw(EXTRA_QUERY, label="query"))
    # The remembered route is the one every route scored afresh would choose...
    chosen = RestXMLProtocol().operation_name(request, S3)
    assert SHARED.operation_name(request, S3) == chosen
    # ... and the one S3's object shortcut names, where it names one.
    assert SHARED.s3_object_operation(request, S3) in (None, chosen)
    if operation.input_shape is None:
        return
    try:
        expected: Any = reference_members(request, operation)
    except AWSError as exc:
        expected = (exc.code, exc.status)
    try:
        parsed: Any = SHARED.parse(request, operation)
    except AWSError as exc:
        parsed = (exc.code, exc.status)
    if isinstance(parsed, dict) and isinstance(expected, dict):
        shape = operation.input_shape
        parsed = {k: v for k, v in parsed.items()
                  if shape.members[k].serialization.get("location") or
                  shape.members[k].serialization.get("hostLabel")}
    assert parsed == expected


@pytest.mark.parametrize("op", OPERATIONS)
@QUICK
@given(data=st.data())
def test_responses_written_as_the_member_walk_writes_them(op: str, data: st.DataObject) -> None:
    operation = S3.operation_model(op)
    if operation.output_shape is None:
        return
    output = data.draw(output_strategy(op), label="output")
    compiled = SHARED.serialize(operation, output, "req-1")
    expected = reference_serialize(operation, output, "req-1")
    headers = dict(compiled.headers)
    if headers.get("Content-Type") == "application/xml" and (
        "ContentType" not in output or output.get("ContentType") is None
    ):
        headers.pop("Content-Type")  # the document's, not a member's
    assert headers == expected.headers
    assert compiled.status in (expected.status, 206)
    assert compiled.body == RestXMLProtocol().serialize(operation, output, "req-1").body


def _members(location: str) -> list[Any]:
    out = []
    for op in OPERATIONS:
        operation = S3.operation_model(op)
        shape = operation.input_shape if location == "in" else operation.output_shape
        for mname, mshape in (shape.members.items() if shape is not None else ()):
            if mshape.serialization.get("location") == "header":
                out.append(pytest.param(mshape, id=f"{op}-{mname}"))
    # One of each distinct header shape is enough; ids keep the first.
    seen: set[tuple[str, str]] = set()
    unique = []
    for p in out:
        shape: Shape = p.values[0]
        key = (shape.name, str(shape.serialization))
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


SPOILT = st.sampled_from(["", "x", "NaN", "1.5", "-3", "true", "False", "Wed, 21 Oct 2015",
                          "2015-10-21T07:28:00Z", "1445412480", "YWJj", "%%", 'a, "b,c"'])


@pytest.mark.parametrize("shape", _members("in"))
@QUICK
@given(data=st.data())
def test_header_readers_agree(shape: Shape, data: st.DataObject) -> None:
    value = data.draw(values(shape, "rest-xml", location="header"), label="value")
    texts = [_to_header(value, shape), data.draw(SPOILT, label="spoilt")]
    read = header_reader(shape)
    for text in texts:
        outcome: list[Any] = []
        for reader in (read, lambda t: _from_header(t, shape)):
            try:
                outcome.append(comparable(reader(text)))
            except AWSError as exc:
                outcome.append((type(exc), exc.code, exc.message))
        assert outcome[0] == outcome[1], text


@pytest.mark.parametrize("shape", _members("out"))
@QUICK
@given(data=st.data())
def test_header_formatters_agree(shape: Shape, data: st.DataObject) -> None:
    value = data.draw(values(shape, "rest-xml", location="header"), label="value")
    assert header_formatter(shape)(value) == _to_header(value, shape)
    if shape.type_name == "timestamp":
        # Stored epoch seconds (what S3 keeps for Last-Modified) as well.
        seconds = data.draw(st.floats(0, 4e9) | st.integers(0, 4 * 10**9), label="epoch")
        assert header_formatter(shape)(seconds) == _to_header(seconds, shape)


def _plain(method: str, raw_path: str, query: str = "", host: str = "127.0.0.1:4566",
           **headers: str) -> HttpRequest:
    q: MultiDict[str] = MultiDict(
        [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p])
    return HttpRequest(
        method=method, path=raw_path, raw_path=raw_path, raw_query=query,
        query=MultiDictProxy(q),
        headers=CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()})),
        host=host)


@pytest.mark.parametrize(("request_", "expected"), [
    (_plain("GET", "/b/k"), "GetObject"),
    (_plain("HEAD", "/bucket/a/b%20c.txt", Range="bytes=0-1"), "HeadObject"),
    (_plain("PUT", "/bucket/dir/key", Content_Length="5", x_amz_meta_a="1"), "PutObject"),
    (_plain("PUT", "/bucket/key", x_amz_copy_source="/other/key"), None),  # CopyObject
    (_plain("GET", "/bucket/key", "versionId=3"), None),
    (_plain("GET", "/bucket/key", "acl"), None),
    (_plain("GET", "/bucket/"), None),  # ListObjects
    (_plain("GET", "/bucket"), None),
    (_plain("PUT", "/bucket/dir/"), None),
    (_plain("GET", "/bucket//key"), None),
    (_plain("DELETE", "/bucket/key"), None),
    (_plain("POST", "/bucket/key"), None),
])
def test_the_s3_object_shortcut_names_only_the_plain_object_requests(
        request_: HttpRequest, expected: str | None) -> None:
    protocol = RestXMLProtocol()
    assert protocol.s3_object_operation(request_, S3) == expected
    if expected is not None:
        assert protocol.operation_name(request_, S3) == expected


def test_the_s3_object_shortcut_leaves_virtual_hosted_requests_to_the_routes() -> None:
    request = _plain("GET", "/key/more", host="bucket.s3.localhost:4566")
    request.virtual_bucket = "bucket"
    assert RestXMLProtocol().s3_object_operation(request, S3) is None


# Headers an SDK sends with a plain object request (none of them a member but
# Content-Length) and some that carry members of GetObject, HeadObject or PutObject.
OBJECT_HEADERS = st.lists(st.tuples(
    st.sampled_from(["X-Amz-Date", "x-amz-content-sha256", "User-Agent", "amz-sdk-request",
                     "Expect", "Accept-Encoding", "Content-Length", "Content-Type", "Range",
                     "If-None-Match", "x-amz-meta-a", "X-Amz-Checksum-Crc32", "x-amz-acl",
                     "x-amz-expected-bucket-owner"]),
    st.sampled_from(["1", "4096", "100-continue", "bytes=0-9", "*", "x", ""]),
), max_size=4)


def _member_headers(operation: OperationModel) -> tuple[set[str], list[str]]:
    """The operation's header members' names and header prefixes, lower case."""
    assert operation.input_shape is not None
    names, prefixes = set(), []
    for mname, mshape in operation.input_shape.members.items():
        location = mshape.serialization.get("location")
        wire = mshape.serialization.get("name", mname).lower()
        if location == "header":
            names.add(wire)
        elif location == "headers":
            prefixes.append(wire)
    return names, prefixes


@pytest.mark.parametrize("op", ["GetObject", "HeadObject", "PutObject"])
@settings(QUICK, max_examples=40)
@given(data=st.data())
def test_plain_object_requests_read_as_parse_reads_them(op: str, data: st.DataObject) -> None:
    """``s3_object_params`` gives ``parse``'s parameters, which validation
    passes, for every object request whose headers carry no member but
    Content-Length, and declines every other."""
    operation = S3.operation_model(op)
    drawn = data.draw(input_strategy(op), label="params")
    params = {k: v for k, v in drawn.items() if k in ("Bucket", "Key", "Body")}
    request = with_extras(wire_request(params, operation, "rest-xml"),
                          data.draw(OBJECT_HEADERS, label="headers"), [])
    if SHARED.s3_object_operation(request, S3) != op:
        return  # a key the shortcut leaves to the routes ("a/", "a//b")
    names, prefixes = _member_headers(operation)
    carried = [n.lower() for n in request.headers
               if n.lower() in names - {"content-length"}
               or any(n.lower().startswith(p) for p in prefixes)]

    def read(how: Any) -> Any:
        try:
            return how(request, operation)
        except AWSError as exc:
            return (exc.code, exc.status)

    plain = read(SHARED.s3_object_params)
    if carried:
        assert plain is None, carried
        return
    assert plain is not None
    assert plain == read(SHARED.parse)
    if isinstance(plain, dict):
        validate(plain, operation.input_shape, "MissingParameter", "InvalidArgument",
                 xml_body=True)  # (raises when they would not pass)
