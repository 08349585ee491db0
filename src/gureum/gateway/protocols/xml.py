"""XML both ways, walking botocore shapes: the writer used by the query, ec2 and
rest-xml serializers, and the reader used for rest-xml request bodies.

Element names follow the rules botocore's XML parsers/serializers apply:
``locationName`` renames a member, flattened lists repeat their element, maps
are ``entry``/``key``/``value`` unless renamed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from botocore.model import Shape

from gureum.errors import AWSError

from .values import b64encode, format_float, iso8601, parse_scalar

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#xD;"})


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def member_element_name(shape: Shape, member_name: str) -> str:
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        name = shape.member.serialization.get("name")
        if name is not None:
            return str(name)
    return str(shape.serialization.get("name", member_name))


def scalar_text(shape: Shape, value: Any, timestamp_format: str = "iso8601") -> str:
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "timestamp":
        fmt = shape.serialization.get("timestampFormat", timestamp_format)
        if fmt == "iso8601":
            return iso8601(value)
        from .values import format_timestamp

        return format_timestamp(value, fmt)
    if t == "blob":
        return b64encode(value)
    if t in ("float", "double"):
        return format_float(value)
    if t in ("integer", "long"):
        return str(int(value))
    return escape(str(value))


def write_members(out: list[str], shape: Shape, value: Mapping[str, Any]) -> None:
    """Append the members of structure ``value`` (in model order) to ``out``."""
    for member_name, member_shape in shape.members.items():
        v = value.get(member_name)
        if v is None:
            continue
        ser = member_shape.serialization
        if ser.get("location") or ser.get("xmlAttribute"):
            continue
        write_value(out, member_element_name(member_shape, member_name), v, member_shape)


def write_value(out: list[str], name: str, value: Any, shape: Shape) -> None:
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
        write_members(out, shape, value)
        out.append(f"</{name}>")
    elif t == "list":
        member = shape.member
        if shape.serialization.get("flattened"):
            for item in value:
                write_value(out, name, item, member)
        else:
            item_name = member.serialization.get("name", "member")
            out.append(f"<{name}>")
            for item in value:
                write_value(out, item_name, item, member)
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
            write_value(out, key_name, k, shape.key)
            write_value(out, value_name, v, shape.value)
            out.append(f"</{entry}>")
        if not flat:
            out.append(f"</{name}>")
    else:
        out.append(f"<{name}>{scalar_text(shape, value)}</{name}>")


# -- reading ---------------------------------------------------------------


def _tag(node: ET.Element) -> str:
    tag = node.tag
    return tag.rsplit("}", 1)[1] if tag.startswith("{") else tag


def parse_document(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise AWSError(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our "
            "published schema",
        ) from exc


def read_value(node: ET.Element | list[ET.Element], shape: Shape) -> Any:
    t = shape.type_name
    if t == "list":
        member = shape.member
        nodes = node if isinstance(node, list) else [node]
        if shape.serialization.get("flattened"):
            return [read_value(n, member) for n in nodes]
        return [read_value(child, member) for child in nodes[0]]
    if isinstance(node, list):
        node = node[0]
    if t == "structure":
        children: dict[str, list[ET.Element]] = {}
        for child in node:
            children.setdefault(_tag(child), []).append(child)
        result: dict[str, Any] = {}
        for mname, mshape in shape.members.items():
            if mshape.serialization.get("xmlAttribute"):
                attr = mshape.serialization["name"]
                for key, val in node.attrib.items():
                    if key == attr or key.endswith("}" + attr.split(":")[-1]):
                        result[mname] = val
                continue
            found = children.get(member_element_name(mshape, mname))
            if found:
                flat_list = mshape.type_name == "list" and mshape.serialization.get("flattened")
                result[mname] = read_value(found if flat_list else found[0], mshape)
        return result
    if t == "map":
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        entries = list(node) if not shape.serialization.get("flattened") else [node]
        out: dict[Any, Any] = {}
        for entry in entries:
            k = v = None
            for part in entry:
                if _tag(part) == key_name:
                    k = read_value(part, shape.key)
                elif _tag(part) == value_name:
                    v = read_value(part, shape.value)
            out[k] = v
        return out
    return read_scalar(node.text or "", shape)


def read_scalar(text: str, shape: Shape) -> Any:
    return parse_scalar(text, shape.type_name)
