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


_OPTIMISTIC: dict[int, tuple[Shape, Writer]] = {}


def write_answer(out: list[str], shape: Shape, value: Mapping[str, Any]) -> None:
    """``write_members`` for a whole answer (the query and ec2 protocols'):
    its text is scanned once for characters to escape, not value by value
    (see ``_members``' ``optimistic``)."""
    found = _OPTIMISTIC.get(id(shape))
    if found is None:
        found = (shape, _members(shape, (), optimistic=True))
        _OPTIMISTIC[id(shape)] = found
    found[1](out, value)


def element_writer(shape: Shape, name: str) -> Writer:
    key = (id(shape), name)
    found = _ELEMENTS.get(key)
    if found is None:
        found = (shape, _element(shape, name, ()))
        _ELEMENTS[key] = found
    return found[1]


def _members(
    shape: Shape, stack: tuple[str, ...], opening: str = "", close: str = "",
    repeated: bool = False, optimistic: bool = False,
) -> Writer:
    """The writer of a structure's members (wrapped in ``opening``/``close`` when
    given), generated as one function: each member is a straight-line
    ``get``/test/append, with text, number and timestamp members written in
    place rather than through a call per member, and the members of nested
    plain structures, and the items of non-flattened lists of them or of
    scalars, written in place too (an EC2 instance's description is one
    function, not a call per nested element). ``repeated``: the writer of a
    flattened list of such structures, one loop with no call per item (listing
    pages write a thousand of them).

    ``optimistic``: text values are written as they are and kept aside, and
    their join is scanned once at the end for characters to escape (one scan
    instead of one per value: most answers have none); when it has some, what
    was written is taken back and the careful writer writes the value again."""
    names: dict[str, Any] = {"escape": escape, "special": _special, "stamps": _STAMPS,
                             "stamp": _stamp, "special_but_quote": _special_but_quote,
                             "quote": '"', "QUOT": "&quot;"}
    lines = ["def write(out, value):", "    append = out.append"]
    if optimistic:
        names["careful"] = _members(shape, stack, opening, close, repeated)
        lines += ["    start = len(out)", "    seen = []", "    texts = seen.append",
                  "    whole = value"]
    pad = "    "
    if repeated:
        lines.append("    for value in value:")
        pad = "        "
    if opening:
        names["opening"], names["close"] = opening, close
        lines.append(f"{pad}append(opening)")
    _emit_members(lines, names, shape, "value", 0, pad, stack, optimistic)
    if opening:
        lines.append(f"{pad}append(close)")
    lines.append(f"{pad}pass")
    if optimistic:
        lines += ["    if seen and special(''.join(seen)) is not None:",
                  "        del out[start:]",
                  "        careful(out, whole)"]
    exec("\n".join(lines), names)  # source built from model names, quoted by repr
    return names["write"]  # type: ignore[no-any-return]


# How deep nested structures and lists are written in place, and how many
# lines one generated writer may have before members are written by calls
# again (a model's largest shapes stay a few thousand lines).
_INLINE_DEPTH = 8
_INLINE_LINES = 4000


def _emit_members(lines: list[str], names: dict[str, Any], shape: Shape, var: str, depth: int,
                  pad: str, stack: tuple[str, ...], optimistic: bool) -> None:
    """Append the code writing the members of the structure held in ``var``."""
    get, v = f"get{depth}", f"v{depth}"
    lines.append(f"{pad}{get} = {var}.get")
    for member_name, member_shape in shape.members.items():
        ser = member_shape.serialization
        if ser.get("location") or ser.get("xmlAttribute"):
            continue
        name = member_element_name(member_shape, member_name)
        lines += [f"{pad}{v} = {get}({member_name!r})", f"{pad}if {v} is not None:"]
        inner = pad + "    "
        if depth < _INLINE_DEPTH and len(lines) < _INLINE_LINES:
            if _plain_structure(member_shape, stack):
                o = _constant(names, f"<{name}>")
                c = _constant(names, f"</{name}>")
                lines.append(f"{inner}append({o})")
                _emit_members(lines, names, member_shape, v, depth + 1, inner,
                              (*stack, member_shape.name), optimistic)
                lines.append(f"{inner}append({c})")
                continue
            if member_shape.type_name == "list" and not ser.get("flattened"):
                item = member_shape.member
                item_name = item.serialization.get("name", "member")
                item_writer = None if _plain_structure(item, stack) else _element(
                    item, item_name, stack)
                if item_writer is None or item_writer in _SCALARS:
                    x = f"x{depth}"
                    lines += [f"{inner}append({_constant(names, f'<{name}>')})",
                              f"{inner}for {x} in {v}:"]
                    if item_writer is None:
                        lines.append(f"{inner}    append({_constant(names, f'<{item_name}>')})")
                        _emit_members(lines, names, item, x, depth + 1, inner + "    ",
                                      (*stack, item.name), optimistic)
                        lines.append(f"{inner}    append({_constant(names, f'</{item_name}>')})")
                    else:
                        _emit_scalar(lines, names, item_writer, None, x, inner + "    ",
                                     optimistic)
                    lines.append(f"{inner}append({_constant(names, f'</{name}>')})")
                    continue
        writer = _element(member_shape, name, stack)
        _emit_scalar(lines, names, writer, getattr(member_shape, "enum", None), v, inner,
                     optimistic)


def _constant(names: dict[str, Any], value: Any) -> str:
    """The name a generated writer reads ``value`` by (registered in ``names``)."""
    key = f"k{len(names)}"
    names[key] = value
    return key


def _emit_scalar(lines: list[str], names: dict[str, Any], writer: Writer,
                 member_enum: Any, v: str, pad: str, optimistic: bool) -> None:
    """Append the code writing ``v`` with ``writer``: in place when it is a
    text, number or timestamp writer, else a call of it (``optimistic``: see
    ``_members``)."""
    w = _constant(names, writer)
    scalar = _SCALARS.get(writer)
    if scalar is None:
        lines.append(f"{pad}{w}(out, {v})")
        return
    kind = scalar[0]
    o, c = _constant(names, scalar[1]), _constant(names, scalar[2])
    if kind == "text" and member_enum:
        # An enum's few values are spelled once, tags and all.
        e = _constant(names, {x: f"{scalar[1]}{escape(x)}{scalar[2]}" for x in member_enum})
        body = [f"t = {e}.get({v}) if type({v}) is str else None",
                f"append(t if t is not None else"
                f" f'{{{o}}}{{escape({v} if type({v}) is str else str({v}))}}{{{c}}}')"]
    elif kind == "text" and optimistic:
        body = [f"if type({v}) is str:",
                f"    append(f'{{{o}}}{{{v}}}{{{c}}}')",
                f"    texts({v})",
                f"else: append(f'{{{o}}}{{escape(str({v}))}}{{{c}}}')"]
    elif kind == "text":
        body = [f"if type({v}) is str and special({v}) is None:",
                f"    append(f'{{{o}}}{{{v}}}{{{c}}}')",
                f"elif type({v}) is str and special_but_quote({v}) is None:",
                f"    append(f'{{{o}}}{{{v}.replace(quote, QUOT)}}{{{c}}}')",
                f"else: append(f'{{{o}}}{{escape({v} if type({v}) is str else str({v}))}}"
                f"{{{c}}}')"]
    elif kind == "float":
        body = [f"if type({v}) is float and {v} - {v} == 0.0:",
                f"    append(f'{{{o}}}{{{v}!r}}{{{c}}}')",
                f"else: {w}(out, {v})"]
    elif kind == "timestamp":
        body = [f"t = stamps.get({v}) if type({v}) is float else None",
                f"append(f'{{{o}}}{{t if t is not None else stamp({v})}}{{{c}}}')"]
    elif kind == "integer":
        body = [f"if type({v}) is int:",
                f"    append(f'{{{o}}}{{{v}}}{{{c}}}')",
                f"else: {w}(out, {v})"]
    else:
        body = [f"{w}(out, {v})"]
    lines += [pad + line for line in body]


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
