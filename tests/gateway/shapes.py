"""Hypothesis strategies that draw valid values for botocore shapes, and the
``normalise`` that maps a value to what a wire protocol can carry.

Values are small on purpose: recursion is cut at ``MAX_DEPTH`` (only required
members go deeper), lists hold at most 3 items, maps 2 entries, strings a few
characters from a printable alphabet with spaces and non-ASCII letters.
Timestamps are UTC at whole milliseconds; floats are finite.

What a protocol cannot carry is not drawn (event streams; documents outside
json/cbor; structures or maps with nothing in them as list items or map values,
which no protocol tells apart from "nothing"). What a protocol carries in a
lossy but well-defined way is folded by ``normalise`` on both sides of a
comparison, so the assertions stay exact equality.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase

# One in-memory example database for the round-trip tests: nothing is written
# to the tree, and (unlike ``database=None``) hypothesis 6.155 does not recurse
# in its settings after ~1000 parametrized tests in one process.
EXAMPLES = InMemoryExampleDatabase()

MAX_DEPTH = 3
HARD_DEPTH = 6  # required members past MAX_DEPTH stop here (recursive shapes)
XML_PROTOCOLS = ("query", "ec2", "rest-xml")
JSON_PROTOCOLS = ("json", "smithy-rpc-v2-cbor")

# Printable, with spaces and some non-ASCII; no control characters (XML 1.0
# cannot carry most of them and no AWS string means them).
TEXT_ALPHABET = st.sampled_from(
    [*"abcXYZ019 -_.:/+=&?%#<>\"'*~,;", "é", "ü", "ß", "한", "글", "☃", "€"]
)
# HTTP header values: visible ASCII; inner spaces only (HTTP trims the ends).
HEADER_ALPHABET = st.sampled_from(list("abcXYZ019-_.:/+=&?%#<>\"'*~,;()"))
# Header names (``x-amz-meta-<key>``): token characters.
TOKEN_ALPHABET = st.sampled_from(list("abcxyz0189-_"))

TIMESTAMPS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def _bounds(shape: Shape, default_min: int, default_max: int) -> tuple[int, int]:
    lo = shape.metadata.get("min")
    hi = shape.metadata.get("max")
    lo_i = default_min if lo is None else max(int(lo), default_min)
    hi_i = default_max if hi is None else min(int(hi), default_max)
    return lo_i, max(lo_i, hi_i)


def _text(shape: Shape, location: str | None) -> st.SearchStrategy[str]:
    enum = [e for e in shape.enum if e] if shape.enum else []
    if enum:
        return st.sampled_from(enum)
    lo = int(shape.metadata.get("min", 0) or 0)
    if location == "uri":
        lo = max(lo, 1)
    hi = lo + 6
    if shape.metadata.get("max") is not None:
        hi = max(lo, min(hi, int(shape.metadata["max"])))
    if location in ("header", "headers"):
        inner = st.text(HEADER_ALPHABET | st.just(" "), max_size=max(hi - 2, 0))
        edge = st.text(HEADER_ALPHABET, min_size=1, max_size=1)
        word = st.builds(lambda a, b, c: a + b + c, edge, inner, edge)
        return word.filter(lambda s: len(s) >= lo) if lo > 2 else (st.just("") | word)
    return st.text(TEXT_ALPHABET, min_size=lo, max_size=hi)


def _number(shape: Shape, lo: int, hi: int) -> st.SearchStrategy[int]:
    if shape.metadata.get("min") is not None:
        lo = max(lo, int(shape.metadata["min"]))
    if shape.metadata.get("max") is not None:
        hi = min(hi, int(shape.metadata["max"]))
    return st.integers(min_value=lo, max_value=max(lo, hi))


def carried(shape: Shape, protocol: str) -> bool:
    """Whether values of ``shape`` can travel in ``protocol`` at all."""
    if shape.type_name == "structure":
        if shape.metadata.get("eventstream") or shape.serialization.get("eventstream"):
            return False
        if getattr(shape, "is_document_type", False):
            return protocol in JSON_PROTOCOLS
    return True


def _document() -> st.SearchStrategy[Any]:
    text = st.text(TEXT_ALPHABET, max_size=4)
    scalar = st.none() | st.booleans() | st.integers(-1000, 1000) | text
    return st.recursive(
        scalar,
        lambda inner: st.lists(inner, max_size=2)
        | st.dictionaries(st.text(TEXT_ALPHABET, max_size=3), inner, max_size=2),
        max_leaves=4,
    )


def values(
    shape: Shape, protocol: str, depth: int = 0, location: str | None = None,
    non_empty: bool = False,
) -> st.SearchStrategy[Any]:
    """A strategy for a valid value of ``shape`` as sent in ``protocol``.

    ``location`` is the member's ``location`` (uri/header/headers/querystring)
    and restricts what a string may hold; ``non_empty`` asks for a structure or
    map with at least one entry (list items and map values).
    """
    t = shape.type_name
    if t == "structure":
        if getattr(shape, "is_document_type", False):
            return _document()
        return _structure(shape, protocol, depth, non_empty)
    if t == "list":
        lo, hi = _bounds(shape, 0, 3)
        if depth >= MAX_DEPTH:
            hi = lo
        loc = location if location in ("header", "querystring") else None
        item = values(shape.member, protocol, depth + 1, loc, non_empty=True)
        return st.lists(item, min_size=lo, max_size=hi)
    if t == "map":
        lo, hi = _bounds(shape, 1 if non_empty else 0, 2)
        if depth >= MAX_DEPTH:
            hi = lo
        if location == "headers":
            keys: st.SearchStrategy[Any] = st.text(TOKEN_ALPHABET, min_size=1, max_size=5)
            vals = _text(shape.value, "header")
        else:
            keys = values(shape.key, protocol, depth + 1, location)
            vals = values(shape.value, protocol, depth + 1, location, non_empty=True)
        return st.dictionaries(keys, vals, min_size=lo, max_size=hi)
    if t == "string":
        return _text(shape, location)
    if t == "integer":
        return _number(shape, -(2**31), 2**31 - 1)
    if t == "long":
        return _number(shape, -(2**53), 2**53)
    if t == "boolean":
        return st.booleans()
    if t in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
    if t == "timestamp":
        return TIMESTAMPS
    if t == "blob":
        return st.binary(max_size=24)
    raise AssertionError(f"no strategy for {t} ({shape.name})")


def _element_name(member: Shape, name: str) -> str:
    if member.type_name == "list" and member.serialization.get("flattened"):
        return str(member.member.serialization.get("name", member.serialization.get("name", name)))
    return str(member.serialization.get("name", name))


def _structure(shape: Shape, protocol: str, depth: int, non_empty: bool) -> st.SearchStrategy[Any]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    required_names = set(shape.required_members)
    elements: dict[str, list[str]] = {}
    if protocol in XML_PROTOCOLS:
        for name, member in shape.members.items():
            if not member.serialization.get("location"):
                elements.setdefault(_element_name(member, name), []).append(name)
    for name, member in shape.members.items():
        if not carried(member, protocol):
            continue
        clash = elements.get(_element_name(member, name), [name]) if elements else [name]
        if len(clash) > 1 and name not in required_names and name != clash[0]:
            # Two members written as the same element (S3's deprecated
            # ``Event`` and the flattened ``Events`` list of ``<Event>``): XML
            # cannot say which one it was, so only the first is drawn.
            continue
        ser = member.serialization
        location = ser.get("location")
        if location == "statusCode":
            continue
        # A union must have one member set, whatever the depth.
        is_required = name in required_names or bool(getattr(shape, "is_tagged_union", False))
        if not is_required and depth >= MAX_DEPTH and member.type_name in (
            "structure", "list", "map"
        ):
            continue
        if depth >= HARD_DEPTH and member.type_name in ("structure", "list", "map"):
            continue
        strategy = values(member, protocol, depth + 1, location)
        if ser.get("hostLabel"):
            strategy = st.text(st.sampled_from("abcxyz019"), min_size=1, max_size=8)
        if location == "header" and member.type_name == "list":
            # An empty list is no header at all.
            strategy = strategy.filter(bool)
        if ser.get("streaming") or (member.type_name == "blob" and ser.get("requiresLength")):
            strategy = st.binary(max_size=64)
        (required if is_required else optional)[name] = strategy
    if getattr(shape, "is_tagged_union", False):
        choices = [st.fixed_dictionaries({k: v}) for k, v in {**required, **optional}.items()]
        return st.one_of(choices) if choices else st.just({})
    result = st.fixed_dictionaries(required, optional=optional)
    if non_empty and not required and optional:
        result = result.filter(bool)
    return result


# -- normalise -------------------------------------------------------------


def _ts_seconds(value: datetime) -> datetime:
    return value.replace(microsecond=0)


def normalise(value: Any, shape: Shape, protocol: str, direction: str = "request") -> Any:
    """``value`` as ``protocol`` can carry it; ``None`` for "absent".

    The folds, each a limit of the wire format rather than of gureum:

    * every protocol: ``None`` members are absent.
    * query requests: empty maps and structures write nothing (botocore's
      query serializer emits no key for them), so they are absent; an empty
      list is sent as ``Name=`` and survives.
    * ec2 requests: empty lists, maps and structures write nothing.
    * XML responses (query, ec2, rest-xml): an empty flattened list writes no
      element, so it is absent.
    * rest-xml: an empty flattened list or an empty query-string list writes
      nothing; an empty header map (``x-amz-meta-*``) sends no header; an empty
      payload body is no body.
    * XML: of members written as the same element (S3's ``Event`` and
      ``Events``) only the first is compared; a reader fills both from it.
    * rest-xml requests: user metadata (``x-amz-meta-*``) keys come back lower
      case, as S3 stores them (HTTP header names are case-insensitive).
    * timestamps that travel as epoch seconds (json and cbor requests with
      botocore's default precision), as RFC 822 (rest-xml headers) or in any
      request header (botocore cuts them to seconds first) lose the
      milliseconds; they are truncated to whole seconds.
    """
    return _norm(value, shape, protocol, direction, None, top=True)


def _norm(
    value: Any, shape: Shape, protocol: str, direction: str, location: str | None,
    top: bool = False,
) -> Any:
    if value is None:
        return None
    t = shape.type_name
    if t == "structure":
        if getattr(shape, "is_document_type", False):
            return value
        out: dict[str, Any] = {}
        payload = shape.serialization.get("payload") if top else None
        seen: set[str] = set()
        for name, member in shape.members.items():
            if protocol in XML_PROTOCOLS and not member.serialization.get("location"):
                element = _element_name(member, name)
                if element in seen:
                    continue  # read from the same element as an earlier member
                seen.add(element)
            if name not in value or not carried(member, protocol):
                continue
            loc = member.serialization.get("location") or location
            v = _norm(value[name], member, protocol, direction, loc)
            if name == payload and (v in (b"", "") or (v == {} and protocol == "rest-xml")):
                v = None  # an empty body is no body (botocore reads {} from none)
            if v is not None:
                out[name] = v
        if not out and not top and direction == "request" and protocol in ("query", "ec2"):
            return None
        return out
    if t == "list":
        items = [_norm(v, shape.member, protocol, direction, location) for v in value]
        items = [v for v in items if v is not None]  # items that write nothing
        if value and not items and direction == "request" and protocol in ("query", "ec2"):
            return None  # only items that wrote nothing: no key at all
        if not items:
            if direction == "request" and protocol == "ec2":
                return None
            if shape.serialization.get("flattened") and (
                protocol == "rest-xml" or (direction == "response" and protocol in XML_PROTOCOLS)
            ):
                return None
            if protocol == "rest-xml" and location == "querystring":
                return None
        return items
    if t == "map":
        if location == "headers" and protocol == "rest-xml":
            if not value:
                return None  # no header at all
            if direction == "request":
                return {str(k).lower(): v for k, v in value.items()}
            return dict(value)
        m = {
            _norm(k, shape.key, protocol, direction, location): _norm(
                v, shape.value, protocol, direction, location
            )
            for k, v in value.items()
        }
        if not m and direction == "request" and protocol in ("query", "ec2"):
            return None
        return m
    if t == "timestamp":
        if not isinstance(value, datetime):
            return value
        fmt = shape.serialization.get("timestampFormat")
        if fmt is None:
            if protocol in JSON_PROTOCOLS:
                fmt = "unixtimestamp"
            elif protocol == "rest-xml" and location == "header":
                fmt = "rfc822"
            else:
                fmt = "iso8601"
        if fmt == "rfc822" or (fmt == "unixtimestamp" and direction == "request"):
            return _ts_seconds(value)
        if protocol == "rest-xml" and location == "header" and direction == "request":
            # botocore cuts header timestamps to whole seconds in every format.
            return _ts_seconds(value)
        return value
    return value


class _NaN:
    """Stands for a float NaN in ``comparable``: NaN is unequal to itself, so two
    readers that both read ``"NaN"`` as a float would otherwise compare unequal."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NaN)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "NaN"


def comparable(value: Any) -> Any:
    """``value`` with every float NaN in it (in dicts, lists and tuples) made
    equal to any other, for comparing what two readers made of the same text."""
    if isinstance(value, float) and value != value:
        return _NaN()
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(comparable(v) for v in value)
    return value

