"""The straightforward model walkers gureum's gateway used before it compiled
shapes: kept as the specification the compiled readers and checkers must
match, value for value and error for error (``test_compiled``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from gureum.errors import AWSError, ValidationError
from gureum.gateway.protocols.query import _indexed
from gureum.gateway.protocols.values import (
    b64decode,
    b64encode,
    epoch,
    parse_scalar,
    parse_timestamp,
    to_datetime,
)
from gureum.gateway.protocols.xml import escape, member_element_name, scalar_text


class Violation(Exception):
    def __init__(self, path: str, message: str, missing: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.missing = missing


@lru_cache(maxsize=4096)
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:
        return None


def validate(params: dict[str, Any], shape: Shape | None, missing_code: str, invalid_code: str,
             json_style: bool = False) -> None:
    if shape is None:
        return
    try:
        _structure(params, shape, "")
    except Violation as v:
        if json_style or missing_code == invalid_code == "ValidationError":
            value = "null" if v.missing else "the given value"
            message = (
                f"1 validation error detected: Value {value} at '{v.path}' failed to satisfy "
                f"constraint: {v.message}"
            )
        elif v.missing:
            message = f"The request must contain the parameter {v.path}"
        else:
            message = f"Invalid value for parameter {v.path}: {v.message}"
        raise AWSError(missing_code if v.missing else invalid_code, message, 400) from None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _structure(value: Any, shape: Shape, path: str) -> None:
    if not isinstance(value, dict):
        return
    for name in shape.required_members:
        if value.get(name) is None:
            raise Violation(_join(path, _lower_first(name)), "Member must not be null", True)
    members = shape.members
    for name, v in value.items():
        member = members.get(name)
        if member is not None and v is not None:
            _value(v, member, _join(path, _lower_first(name)))


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _value(value: Any, shape: Shape, path: str) -> None:
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        _structure(value, shape, path)
    elif t == "list":
        if isinstance(value, list):
            _length(len(value), meta, path)
            for i, item in enumerate(value, 1):
                if item is not None:
                    _value(item, shape.member, f"{path}.{i}.member")
    elif t == "map":
        if isinstance(value, dict):
            _length(len(value), meta, path)
            for k, item in value.items():
                _value(k, shape.key, f"{path}.key")
                if item is not None:
                    _value(item, shape.value, f"{path}.{k}.member")
    elif t == "string":
        if not isinstance(value, str):
            return
        enum = meta.get("enum")
        if enum and value not in enum:
            raise Violation(
                path, f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
        _length(len(value), meta, path)
        pattern = meta.get("pattern")
        if pattern:
            compiled = _pattern(pattern)
            if compiled is not None and compiled.search(value) is None:
                raise Violation(path, f"Member must satisfy regular expression pattern: {pattern}")
    elif t in ("integer", "long", "float", "double"):
        if isinstance(value, int | float) and not isinstance(value, bool):
            if "min" in meta and value < meta["min"]:
                raise Violation(
                    path, f"Member must have value greater than or equal to {meta['min']}"
                )
            if "max" in meta and value > meta["max"]:
                raise Violation(
                    path, f"Member must have value less than or equal to {meta['max']}"
                )
    elif t == "blob" and isinstance(value, bytes | bytearray):
        _length(len(value), meta, path)


def _length(n: int, meta: dict[str, Any], path: str) -> None:
    if "min" in meta and n < meta["min"]:
        raise Violation(path, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        raise Violation(path, f"Member must have length less than or equal to {meta['max']}")


class DocumentWalker:
    """JSON/CBOR documents read and written by walking the shapes per value."""

    def __init__(self, timestamp: Any = epoch, blob: Any = b64encode) -> None:
        self._timestamp = timestamp
        self._blob = blob

    def _read(self, value: Any, shape: Shape) -> Any:
        if value is None:
            return None
        t = shape.type_name
        if t == "structure":
            if getattr(shape, "is_document_type", False):
                return value
            if not isinstance(value, dict):
                raise ValidationError(message=f"Expected an object for {shape.name}")
            out: dict[str, Any] = {}
            for mname, mshape in shape.members.items():
                key = mshape.serialization.get("name", mname)
                if key in value and value[key] is not None:
                    out[mname] = self._read(value[key], mshape)
            return out
        if t == "list":
            if not isinstance(value, list):
                raise ValidationError(message=f"Expected a list for {shape.name}")
            return [self._read(v, shape.member) for v in value]
        if t == "map":
            if not isinstance(value, dict):
                raise ValidationError(message=f"Expected a map for {shape.name}")
            return {k: self._read(v, shape.value) for k, v in value.items()}
        return self._read_scalar(value, shape)

    def _read_scalar(self, value: Any, shape: Shape) -> Any:
        t = shape.type_name
        if t == "timestamp":
            if isinstance(value, datetime):
                return to_datetime(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return to_datetime(value)
            if isinstance(value, str):
                return parse_timestamp(value)
            raise ValidationError(message=f"Invalid timestamp for {shape.name}")
        if t == "blob":
            if isinstance(value, bytes | bytearray):
                return bytes(value)
            if isinstance(value, str):
                return b64decode(value)
            raise ValidationError(message=f"Invalid blob for {shape.name}")
        if t == "boolean":
            if not isinstance(value, bool):
                raise ValidationError(message=f"Expected a boolean for {shape.name}")
            return value
        if t in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    return int(value)
                raise ValidationError(message=f"Expected an integer for {shape.name}")
            return value
        if t in ("float", "double"):
            if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
                return float(value)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError(message=f"Expected a number for {shape.name}")
            return float(value)
        if t == "string" and not isinstance(value, str):
            raise ValidationError(message=f"Expected a string for {shape.name}")
        return value

    def _write(self, value: Any, shape: Shape) -> Any:
        t = shape.type_name
        if t == "structure":
            if getattr(shape, "is_document_type", False):
                return value
            out: dict[str, Any] = {}
            for mname, mshape in shape.members.items():
                v = value.get(mname)
                if v is not None:
                    out[mshape.serialization.get("name", mname)] = self._write(v, mshape)
            return out
        if t == "list":
            return [self._write(v, shape.member) for v in value]
        if t == "map":
            return {k: self._write(v, shape.value) for k, v in value.items()}
        if t == "timestamp":
            return self._timestamp(value)
        if t == "blob":
            return self._blob(value)
        if t in ("float", "double"):
            f = float(value)
            if f != f or f in (float("inf"), float("-inf")):
                return "NaN" if f != f else ("Infinity" if f > 0 else "-Infinity")
            return f
        return value



# -- XML, as the query, ec2 and rest-xml protocols write it ----------------


def xml_write_members(out: list[str], shape: Shape, value: Mapping[str, Any]) -> None:
    """Append the members of structure ``value`` (in model order) to ``out``."""
    for member_name, member_shape in shape.members.items():
        v = value.get(member_name)
        if v is None:
            continue
        ser = member_shape.serialization
        if ser.get("location") or ser.get("xmlAttribute"):
            continue
        xml_write_value(out, member_element_name(member_shape, member_name), v, member_shape)


def xml_write_value(out: list[str], name: str, value: Any, shape: Shape) -> None:
    t = shape.type_name
    if t == "structure":
        attrs = ""
        for mname, mshape in shape.members.items():
            if mshape.serialization.get("xmlAttribute") and value.get(mname) is not None:
                attrs += f' {mshape.serialization["name"]}="{escape(str(value[mname]))}"'
        ns = shape.serialization.get("xmlNamespace")
        if ns:
            prefix = ns.get("prefix")
            attrs += f' xmlns:{prefix}="{ns["uri"]}"' if prefix else f' xmlns="{ns["uri"]}"'
        out.append(f"<{name}{attrs}>")
        xml_write_members(out, shape, value)
        out.append(f"</{name}>")
    elif t == "list":
        member = shape.member
        if shape.serialization.get("flattened"):
            for item in value:
                xml_write_value(out, name, item, member)
        else:
            item_name = member.serialization.get("name", "member")
            out.append(f"<{name}>")
            for item in value:
                xml_write_value(out, item_name, item, member)
            out.append(f"</{name}>")
    elif t == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        flat = shape.serialization.get("flattened")
        if not flat:
            out.append(f"<{name}>")
        entry = name if flat else "entry"
        for k, v in value.items():
            out.append(f"<{entry}>")
            xml_write_value(out, key_name, k, shape.key)
            xml_write_value(out, value_name, v, shape.value)
            out.append(f"</{entry}>")
        if not flat:
            out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{scalar_text(shape, value)}</{name}>")


# -- query and ec2 input trees ---------------------------------------------------


class QueryWalker:
    """A folded query tree read by walking the shapes per value."""

    def __init__(self, ec2: bool) -> None:
        self.ec2 = ec2

    def _member_key(self, shape: Shape, member_name: str) -> str:
        ser = shape.serialization
        if self.ec2:
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

    def _value(self, node: Any, shape: Shape) -> Any:
        t = shape.type_name
        if t == "structure":
            return self._structure(node, shape)
        if t == "list":
            return self._list(node, shape)
        if t == "map":
            return self._map(node, shape)
        if isinstance(node, dict):
            node = node.get("", "")
        return _scalar(node, shape)

    def _structure(self, node: Any, shape: Shape) -> dict[str, Any]:
        if not isinstance(node, dict):
            return {}
        out: dict[str, Any] = {}
        for member_name, member_shape in shape.members.items():
            key = self._member_key(member_shape, member_name)
            if key in node:
                out[member_name] = self._value(node[key], member_shape)
        return out

    def _list(self, node: Any, shape: Shape) -> list[Any]:
        if not isinstance(node, dict):
            return []  # "Name=" is how the query protocol sends an empty list
        if not self.ec2 and not shape.serialization.get("flattened"):
            node = node.get(shape.member.serialization.get("name", "member"), {})
        return [self._value(item, shape.member) for item in _indexed(node)]

    def _map(self, node: Any, shape: Shape) -> dict[Any, Any]:
        if not isinstance(node, dict):
            return {}
        if not shape.serialization.get("flattened"):
            node = node.get("entry", {})
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out: dict[Any, Any] = {}
        for entry in _indexed(node):
            if isinstance(entry, dict) and key_name in entry:
                key = self._value(entry[key_name], shape.key)
                out[key] = self._value(entry.get(value_name, ""), shape.value)
        return out


def _scalar(text: Any, shape: Shape) -> Any:
    return parse_scalar(str(text), shape.type_name)
