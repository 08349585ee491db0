"""XML both ways, walking botocore shapes: the writer used by the query, ec2 and
rest-xml serializers, and the reader used for rest-xml request bodies.

Element names follow the rules botocore's XML parsers/serializers apply:
``locationName`` renames a member, flattened lists repeat their element, maps
are ``entry``/``key``/``value`` unless renamed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import Shape

from gureum.errors import AWSError

from .values import b64encode, format_float, iso8601, parse_scalar


def escape(text: str) -> str:
    # A chain of replace calls: each is one C scan that returns the same
    # string when there is nothing to replace (str.translate is per character).
    if "&" in text:
        text = text.replace("&", "&amp;")
    return (
        text.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("\r", "&#xD;")
    )


# What ``escape`` would change: text with none of it is written as it is
# (one C scan instead of a call and five).
_special = re.compile('[&<>"\r]').search
# Text whose only special characters are double quotes (S3's ETags): one
# replace instead of a call and five.
_special_but_quote = re.compile('[&<>\r]').search

# The ISO 8601 text of float epoch seconds written lately: an instance's launch
# time is written three times per description, and at every describe again; a
# bucket of 10,000 objects listed again finds all its LastModified texts (about
# 150 bytes each: at most ~2.5 MB kept).
_STAMPS: dict[float, str] = {}
_STAMPS_KEPT = 16384


def _stamp(value: Any) -> str:
    text = iso8601(value)
    if type(value) is float:
        if len(_STAMPS) >= _STAMPS_KEPT:
            _STAMPS.clear()
        _STAMPS[value] = text
    return text


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
    members_writer(shape)(out, value)


def write_value(out: list[str], name: str, value: Any, shape: Shape) -> None:
    """Append ``value`` as the element ``name`` to ``out``."""
    element_writer(shape, name)(out, value)


# Writers are compiled once per shape (and element name): a structure becomes
# a closure over its members' writers with their tags already spelled, so a
# response walks only its own values. Recursive shapes compile one level at a
# time, when a value reaches that deep.

Writer = Callable[[list[str], Any], None]

_MEMBERS: dict[int, tuple[Shape, Writer]] = {}
_ELEMENTS: dict[tuple[int, str], tuple[Shape, Writer]] = {}


def members_writer(shape: Shape) -> Writer:
    found = _MEMBERS.get(id(shape))
    if found is None:
        found = (shape, _members(shape, ()))
        _MEMBERS[id(shape)] = found
    return found[1]


def element_writer(shape: Shape, name: str) -> Writer:
    key = (id(shape), name)
    found = _ELEMENTS.get(key)
    if found is None:
        found = (shape, _element(shape, name, ()))
        _ELEMENTS[key] = found
    return found[1]


def _members(
    shape: Shape, stack: tuple[str, ...], opening: str = "", close: str = "",
    repeated: bool = False,
) -> Writer:
    """The writer of a structure's members (wrapped in ``opening``/``close`` when
    given), generated as one function: each member is a straight-line
    ``get``/test/append, with text, number and timestamp members written in
    place rather than through a call per member. ``repeated``: the writer of a
    flattened list of such structures, one loop with no call per item (listing
    pages write a thousand of them)."""
    fields: list[tuple[str, Writer]] = []
    for member_name, member_shape in shape.members.items():
        ser = member_shape.serialization
        if ser.get("location") or ser.get("xmlAttribute"):
            continue
        name = member_element_name(member_shape, member_name)
        fields.append((member_name, _element(member_shape, name, stack)))
    names: dict[str, Any] = {"escape": escape, "special": _special, "stamps": _STAMPS,
                             "stamp": _stamp, "special_but_quote": _special_but_quote,
                             "quote": '"', "QUOT": "&quot;"}
    lines = ["def write(out, value):", "    append = out.append"]
    pad = "    "
    if repeated:
        lines.append("    for value in value:")
        pad = "        "
    lines.append(f"{pad}get = value.get")
    if opening:
        names["opening"], names["close"] = opening, close
        lines.append(f"{pad}append(opening)")
    for i, (member_name, writer) in enumerate(fields):
        names[f"w{i}"] = writer
        body: list[str] = [f"v = get({member_name!r})", "if v is not None:"]
        scalar = _SCALARS.get(writer)
        if scalar is None:
            body.append(f"    w{i}(out, v)")
            lines += [pad + line for line in body]
            continue
        kind, names[f"o{i}"], names[f"c{i}"] = scalar
        member_enum = getattr(shape.members[member_name], "enum", None)
        if kind == "text" and member_enum:
            # An enum's few values are spelled once, tags and all.
            names[f"e{i}"] = {e: f"{scalar[1]}{escape(e)}{scalar[2]}" for e in member_enum}
            body += [f"    t = e{i}.get(v) if type(v) is str else None",
                     f"    append(t if t is not None else"
                     f" f'{{o{i}}}{{escape(v if type(v) is str else str(v))}}{{c{i}}}')"]
        elif kind == "text":
            body += ["    if type(v) is str and special(v) is None:",
                     f"        append(f'{{o{i}}}{{v}}{{c{i}}}')",
                     "    elif type(v) is str and special_but_quote(v) is None:",
                     f"        append(f'{{o{i}}}{{v.replace(quote, QUOT)}}{{c{i}}}')",
                     f"    else: append(f'{{o{i}}}{{escape(v if type(v) is str else str(v))}}"
                     f"{{c{i}}}')"]
        elif kind == "float":
            body += ["    if type(v) is float and v - v == 0.0:",
                     f"        append(f'{{o{i}}}{{v!r}}{{c{i}}}')",
                     f"    else: w{i}(out, v)"]
        elif kind == "timestamp":
            body += ["    t = stamps.get(v) if type(v) is float else None",
                     f"    append(f'{{o{i}}}{{t if t is not None else stamp(v)}}{{c{i}}}')"]
        elif kind == "integer":
            body += ["    if type(v) is int:",
                     f"        append(f'{{o{i}}}{{v}}{{c{i}}}')",
                     f"    else: w{i}(out, v)"]
        else:
            body.append(f"    w{i}(out, v)")
        lines += [pad + line for line in body]
    if opening:
        lines.append(f"{pad}append(close)")
    lines.append(f"{pad}pass")
    exec("\n".join(lines), names)  # source built from model names, quoted by repr
    return names["write"]  # type: ignore[no-any-return]


# The scalar writers _members may write in place: writer -> (kind, opening, close).
_SCALARS: dict[Writer, tuple[str, str, str]] = {}


def _deferred(shape: Shape, name: str) -> Writer:
    compiled: list[Writer] = []

    def write(out: list[str], value: Any) -> None:
        if not compiled:
            compiled.append(_element(shape, name, ()))
        compiled[0](out, value)

    return write


def _element(shape: Shape, name: str, stack: tuple[str, ...]) -> Writer:
    t = shape.type_name
    close = f"</{name}>"
    if t == "structure":
        if shape.name in stack:
            return _deferred(shape, name)
        inner = (*stack, shape.name)
        attributes = [
            (mname, mshape.serialization["name"])
            for mname, mshape in shape.members.items()
            if mshape.serialization.get("xmlAttribute")
        ]
        ns = shape.serialization.get("xmlNamespace")
        ns_text = ""
        if ns:
            prefix = ns.get("prefix")
            ns_text = f' xmlns:{prefix}="{ns["uri"]}"' if prefix else f' xmlns="{ns["uri"]}"'
        if not attributes:
            return _members(shape, inner, f"<{name}{ns_text}>", close)
        members = _members(shape, inner)

        def write_with_attributes(out: list[str], value: Any) -> None:
            attrs = ""
            for mname, attr in attributes:
                if value.get(mname) is not None:
                    attrs += f' {attr}="{escape(str(value[mname]))}"'
            out.append(f"<{name}{attrs}{ns_text}>")
            members(out, value)
            out.append(close)

        return write_with_attributes
    if t == "list":
        member = shape.member
        if shape.serialization.get("flattened"):
            if _plain_structure(member, stack):
                return _members(member, (*stack, member.name), f"<{name}>", close, True)
            item = _element(member, name, stack)

            def write_flat(out: list[str], value: Any) -> None:
                for v in value:
                    item(out, v)

            return write_flat
        item = _element(member, member.serialization.get("name", "member"), stack)
        opening = f"<{name}>"

        def write_list(out: list[str], value: Any) -> None:
            out.append(opening)
            for v in value:
                item(out, v)
            out.append(close)

        return write_list
    if t == "map":
        key_writer = _element(shape.key, shape.key.serialization.get("name", "key"), stack)
        value_writer = _element(
            shape.value, shape.value.serialization.get("name", "value"), stack
        )
        flat = bool(shape.serialization.get("flattened"))
        entry = name if flat else "entry"
        entry_open, entry_close = f"<{entry}>", f"</{entry}>"
        opening = f"<{name}>"

        def write_map(out: list[str], value: Any) -> None:
            if not flat:
                out.append(opening)
            for k, v in value.items():
                out.append(entry_open)
                key_writer(out, k)
                value_writer(out, v)
                out.append(entry_close)
            if not flat:
                out.append(close)

        return write_map
    return _scalar(shape, f"<{name}>", close)


def _plain_structure(shape: Shape, stack: tuple[str, ...]) -> bool:
    """A structure written as its members alone: no attributes, no namespace,
    not already being compiled (recursive shapes are compiled lazily)."""
    return (
        shape.type_name == "structure"
        and shape.name not in stack
        and not shape.serialization.get("xmlNamespace")
        and not any(m.serialization.get("xmlAttribute") for m in shape.members.values())
    )


def _scalar(shape: Shape, opening: str, close: str) -> Writer:
    t = shape.type_name
    if t in ("string", "character") or t not in (
        "boolean", "timestamp", "blob", "float", "double", "integer", "long"
    ):
        def write_text(out: list[str], value: Any) -> None:
            if type(value) is str and _special(value) is None:
                out.append(opening + value + close)
            else:
                out.append(opening + escape(value if type(value) is str else str(value)) + close)

        _SCALARS[write_text] = ("text", opening, close)
        return write_text
    if t in ("integer", "long"):
        def write_integer(out: list[str], value: Any) -> None:
            out.append(opening + str(int(value)) + close)

        _SCALARS[write_integer] = ("integer", opening, close)
        return write_integer
    if t == "boolean":
        yes, no = opening + "true" + close, opening + "false" + close

        def write_boolean(out: list[str], value: Any) -> None:
            out.append(yes if value else no)

        return write_boolean

    if t in ("float", "double"):
        def write_float(out: list[str], value: Any) -> None:
            if type(value) is float and value - value == 0.0:  # finite: its repr
                out.append(opening + repr(value) + close)
            else:
                out.append(opening + format_float(value) + close)

        _SCALARS[write_float] = ("float", opening, close)
        return write_float
    if t == "timestamp" and shape.serialization.get("timestampFormat", "iso8601") == "iso8601":
        def write_timestamp(out: list[str], value: Any) -> None:
            out.append(opening + iso8601(value) + close)

        _SCALARS[write_timestamp] = ("timestamp", opening, close)
        return write_timestamp

    def write_scalar(out: list[str], value: Any) -> None:
        out.append(opening + scalar_text(shape, value) + close)

    return write_scalar


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
