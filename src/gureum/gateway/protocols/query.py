"""The ``query`` and ``ec2`` protocols: form/query-string input, XML output.

Input keys are flat (``Filter.1.Value.2``, ``Tags.member.1.Key``); they are
folded into a tree once and the tree is walked with the input shape. The two
protocols differ only in naming rules, list encoding and the error envelope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from gureum.errors import AWSError, ValidationError

from . import xml
from .base import HttpRequest, HttpResponse, error_shape_for
from .values import parse_scalar

Tree = dict[str, Any]

XML_HEADERS = {"Content-Type": "text/xml"}


def fold(items: Iterable[tuple[str, str]]) -> Tree:
    """``[("A.1.B", "x")]`` → ``{"A": {"1": {"B": "x"}}}``; a scalar that also has
    children keeps its value under the key ``""``."""
    root: Tree = {}
    for key, value in items:
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {} if child is None else {"": child}
                node[part] = child
            node = child
        last = parts[-1]
        existing = node.get(last)
        if isinstance(existing, dict):
            existing[""] = value
        else:
            node[last] = value
    return root


def form_pairs(text: str) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True)``, faster: most keys and values
    need no unquoting, so only those with ``%`` or ``+`` are unquoted."""
    out: list[tuple[str, str]] = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "))
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "))
        out.append((name, value))
    return out


def _indexed(node: Any) -> list[Any]:
    if not isinstance(node, dict):
        return []
    items = []
    for key, value in node.items():
        if key.isdigit():
            items.append((int(key), value))
    items.sort(key=lambda kv: kv[0])
    return [v for _, v in items]


class QueryProtocol:
    name = "query"
    ec2 = False

    # -- request ----------------------------------------------------------

    def _params(self, request: HttpRequest) -> list[tuple[str, str]]:
        items = list(request.query.items())
        ctype = request.headers.get("Content-Type", "")
        if request.body and (request.method == "POST" or "form-urlencoded" in ctype):
            try:
                text = request.body.decode()
            except UnicodeDecodeError as exc:
                raise ValidationError(message="Request body is not UTF-8") from exc
            items.extend(form_pairs(text))
        return items

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str | None:
        tree = self._tree(request)
        action = tree.get("Action")
        return action if isinstance(action, str) and action else None

    def _tree(self, request: HttpRequest) -> Tree:
        cached = getattr(request, "_query_tree", None)
        if cached is None:
            cached = fold(self._params(request))
            request._query_tree = cached  # type: ignore[attr-defined]
        return cached

    def parse(self, request: HttpRequest, operation: OperationModel) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        result = tree_reader(shape, self.ec2)(self._tree(request))
        return result if isinstance(result, dict) else {}

    # -- response ---------------------------------------------------------

    def _namespace(self, service: ServiceModel) -> str:
        ns = service.metadata.get("xmlNamespace")
        if ns:
            return str(ns)
        return f"https://{service.endpoint_prefix}.amazonaws.com/doc/{service.api_version}/"

    def serialize(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        name = operation.name
        ns = self._namespace(operation.service_model)
        out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{ns}">']
        shape = operation.output_shape
        wrapper = shape.serialization.get("resultWrapper") if shape is not None else None
        if wrapper:
            out.append(f"<{wrapper}>")
        if shape is not None:
            xml.write_answer(out, shape, output)
        if wrapper:
            out.append(f"</{wrapper}>")
        out.append(
            f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
            f"</{name}Response>"
        )
        return HttpResponse(200, dict(XML_HEADERS), "".join(out).encode())

    def serialize_error(
        self,
        service: ServiceModel,
        error: AWSError,
        request_id: str,
        operation: OperationModel | None,
    ) -> HttpResponse:
        ns = self._namespace(service)
        kind = "Sender" if error.sender else "Receiver"
        extra = _error_fields(service, error)
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="{ns}">'
            f"<Error><Type>{kind}</Type><Code>{xml.escape(error.code)}</Code>"
            f"<Message>{xml.escape(error.message)}</Message>{extra}</Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return HttpResponse(error.status, dict(XML_HEADERS), body.encode())


class EC2Protocol(QueryProtocol):
    name = "ec2"
    ec2 = True

    def serialize(
        self, operation: OperationModel, output: Mapping[str, Any], request_id: str
    ) -> HttpResponse:
        name = operation.name
        ns = f"http://ec2.amazonaws.com/doc/{operation.service_model.api_version}/"
        out = [
            f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{ns}">'
            f"<requestId>{request_id}</requestId>"
        ]
        if operation.output_shape is not None:
            xml.write_answer(out, operation.output_shape, output)
        out.append(f"</{name}Response>")
        return HttpResponse(200, dict(XML_HEADERS), "".join(out).encode())

    def serialize_error(
        self,
        service: ServiceModel,
        error: AWSError,
        request_id: str,
        operation: OperationModel | None,
    ) -> HttpResponse:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{xml.escape(error.code)}</Code>"
            f"<Message>{xml.escape(error.message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
        return HttpResponse(error.status, dict(XML_HEADERS), body.encode())


def _error_fields(service: ServiceModel, error: AWSError) -> str:
    if not error.fields:
        return ""
    shape = error_shape_for(service, error.code)
    out: list[str] = []
    if shape is not None:
        values = {k: v for k, v in error.fields.items() if k in shape.members}
        xml.write_members(out, shape, values)
    else:
        for key, value in error.fields.items():
            out.append(f"<{key}>{xml.escape(str(value))}</{key}>")
    return "".join(out)


# -- the input tree read with the shapes, compiled once per shape --------------

Convert = Callable[[Any], Any]
_READERS: dict[tuple[int, bool], tuple[Shape, Convert]] = {}


def tree_reader(shape: Shape, ec2: bool) -> Convert:
    """The compiled reader of a folded query tree for ``shape`` (ec2's naming
    and list rules when ``ec2``)."""
    key = (id(shape), ec2)
    found = _READERS.get(key)
    if found is None:
        found = (shape, _reader(shape, ec2, ()))
        _READERS[key] = found
    return found[1]


def member_key(shape: Shape, member_name: str, ec2: bool) -> str:
    ser = shape.serialization
    if ec2:
        if "queryName" in ser:
            return str(ser["queryName"])
        if "name" in ser:
            name = str(ser["name"])
            return name[0].upper() + name[1:]
        return member_name
    if shape.type_name == "list" and ser.get("flattened"):
        name = shape.member.serialization.get("name")
        if name:
            return str(name)
    return str(ser.get("name", member_name))


def _reader(shape: Shape, ec2: bool, stack: tuple[str, ...]) -> Convert:
    t = shape.type_name
    if t == "structure":
        if shape.name in stack:
            compiled: list[Convert] = []

            def deferred(node: Any) -> Any:
                if not compiled:
                    compiled.append(_reader(shape, ec2, ()))
                return compiled[0](node)

            return deferred
        inner = (*stack, shape.name)
        fields = tuple(
            (member_key(mshape, mname, ec2), mname, _reader(mshape, ec2, inner))
            for mname, mshape in shape.members.items()
        )

        def read_structure(node: Any) -> Any:
            if not isinstance(node, dict):
                return {}
            out: dict[str, Any] = {}
            for key, mname, read in fields:
                if key in node:
                    out[mname] = read(node[key])
            return out

        return read_structure
    if t == "list":
        read_item = _reader(shape.member, ec2, stack)
        wrapped = not ec2 and not shape.serialization.get("flattened")
        item_name = shape.member.serialization.get("name", "member")

        def read_list(node: Any) -> Any:
            if not isinstance(node, dict):
                return []  # "Name=" is how the query protocol sends an empty list
            if wrapped:
                node = node.get(item_name, {})
            return [read_item(item) for item in _indexed(node)]

        return read_list
    if t == "map":
        read_key = _reader(shape.key, ec2, stack)
        read_value = _reader(shape.value, ec2, stack)
        entries = not shape.serialization.get("flattened")
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")

        def read_map(node: Any) -> Any:
            if not isinstance(node, dict):
                return {}
            if entries:
                node = node.get("entry", {})
            out: dict[Any, Any] = {}
            for entry in _indexed(node):
                if isinstance(entry, dict) and key_name in entry:
                    key = read_key(entry[key_name])
                    out[key] = read_value(entry.get(value_name, ""))
            return out

        return read_map
    type_name = t
    if t == "string":
        def read_string(node: Any) -> Any:
            return str(node.get("", "") if isinstance(node, dict) else node)

        return read_string

    def read_scalar(node: Any) -> Any:
        if isinstance(node, dict):
            node = node.get("", "")
        return parse_scalar(str(node), type_name)

    return read_scalar
