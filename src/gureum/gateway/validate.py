"""Input validation from the model: required members, enums, length and value
ranges, and patterns. The first violation becomes the service's own error code
(``ValidationError``, ``MissingParameter``, ``InvalidParameterValue``…).

Each input shape is compiled once into a checker: a closure per shape that
only visits what has a constraint (a subtree with none is skipped whole), and
the member path of an error (``metricData.3.member.unit``) is assembled only
while a violation unwinds, not for every value checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from botocore.model import Shape

from gureum.errors import AWSError

Checker = Callable[[Any], None]


class Violation(Exception):
    """A broken constraint; ``parts`` is its member path, innermost first."""

    def __init__(self, message: str, missing: bool = False, parts: list[str] | None = None
                 ) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing
        self.parts: list[str] = parts if parts is not None else []

    @property
    def path(self) -> str:
        return ".".join(reversed(self.parts))


@lru_cache(maxsize=4096)
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:
        return None


# S3 answers a value outside an enum of its XML request body (a versioning
# Status, an SSEAlgorithm, an ObjectOwnership…) as a body that does not
# validate against its schema, not as InvalidArgument: the code by payload.
_MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our " \
    "published schema"
_BODY_CODES = {"AccessControlPolicy": "MalformedACLError"}


def validate(params: dict[str, Any], shape: Shape | None, missing_code: str, invalid_code: str,
             json_style: bool = False, xml_body: bool = False) -> None:
    """``xml_body``: the request's payload member is an XML document (rest-xml),
    whose enum violations are ``MalformedXML`` as S3 answers them."""
    if shape is None:
        return
    check = checker(shape)
    if check is None:
        return
    try:
        check(params)
    except Violation as v:
        if xml_body and not v.missing and v.message.startswith("Member must satisfy enum"):
            payload = shape.serialization.get("payload")
            if payload and len(v.parts) > 1 and v.parts[-1] == _lower_first(payload) \
                    and shape.members[payload].type_name == "structure":
                raise AWSError(_BODY_CODES.get(payload, "MalformedXML"), _MALFORMED_XML,
                               400) from None
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


# Compiled checkers by shape object (botocore keeps an operation's input shape
# tree alive and unchanged; the shape is held so that its id is never reused).
_CHECKERS: dict[int, tuple[Shape, Checker | None]] = {}


def checker(shape: Shape) -> Checker | None:
    """The compiled checker of ``shape``; None when nothing in it is constrained."""
    found = _CHECKERS.get(id(shape))
    if found is None:
        found = (shape, _compile(shape, ()))
        _CHECKERS[id(shape)] = found
    return found[1]


def scalar_checker(shape: Shape) -> Checker | None:
    """The checker of a string, number or blob shape's own constraints."""
    if shape.type_name in ("structure", "list", "map"):
        raise ValueError(f"{shape.name} is not a scalar shape")
    return _compile(shape, ())


def length_checker(shape: Shape) -> Callable[[int], None] | None:
    """The check of a list's or map's ``min``/``max`` size."""
    return _length_check(shape.metadata)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _compile(shape: Shape, stack: tuple[str, ...]) -> Checker | None:
    t = shape.type_name
    if t == "structure":
        if shape.name in stack:
            return _deferred(shape)
        return _structure(shape, (*stack, shape.name))
    if t == "list":
        return _list(shape, stack)
    if t == "map":
        return _map(shape, stack)
    if t == "string":
        return _string(shape.metadata)
    if t in ("integer", "long", "float", "double"):
        return _number(shape.metadata)
    if t == "blob":
        return _blob(shape.metadata)
    return None


def _deferred(shape: Shape) -> Checker:
    """A recursive shape: compiled when a value first reaches that deep."""
    compiled: list[Checker | None] = []

    def check(value: Any) -> None:
        if not compiled:
            compiled.append(_compile(shape, ()))
        inner = compiled[0]
        if inner is not None:
            inner(value)

    return check


def _structure(shape: Shape, stack: tuple[str, ...]) -> Checker | None:
    required = tuple((name, _lower_first(name)) for name in shape.required_members)
    checks: dict[str, Checker] = {}
    lowered: dict[str, str] = {}
    for name, member in shape.members.items():
        lowered[name] = _lower_first(name)
        c = _compile(member, stack)
        if c is not None:
            checks[name] = c
    if not required and not checks:
        return None
    get = checks.get

    def check(value: Any) -> None:
        if not isinstance(value, dict):
            return
        for name, lname in required:
            if value.get(name) is None:
                raise Violation("Member must not be null", True, [lname])
        if not checks:
            return
        name = ""
        try:
            for name, v in value.items():
                c = get(name)
                if c is not None and v is not None:
                    c(v)
        except Violation as v:
            v.parts.append(lowered[name])
            raise

    return check


def _length_check(meta: dict[str, Any]) -> Callable[[int], None] | None:
    lo = meta.get("min") if "min" in meta else None
    hi = meta.get("max") if "max" in meta else None
    if lo is None and hi is None:
        return None

    def length(n: int) -> None:
        if lo is not None and n < lo:
            raise Violation(f"Member must have length greater than or equal to {lo}")
        if hi is not None and n > hi:
            raise Violation(f"Member must have length less than or equal to {hi}")

    return length


def _list(shape: Shape, stack: tuple[str, ...]) -> Checker | None:
    length = _length_check(shape.metadata)
    item_check = _compile(shape.member, stack)
    if length is None and item_check is None:
        return None

    def check(value: Any) -> None:
        if not isinstance(value, list):
            return
        if length is not None:
            length(len(value))
        if item_check is None:
            return
        i = 0
        try:
            for i, item in enumerate(value, 1):  # noqa: B007 - read in the handler
                if item is not None:
                    item_check(item)
        except Violation as v:
            v.parts += ["member", str(i)]
            raise

    return check


def _map(shape: Shape, stack: tuple[str, ...]) -> Checker | None:
    length = _length_check(shape.metadata)
    key_check = _compile(shape.key, stack)
    value_check = _compile(shape.value, stack)
    if length is None and key_check is None and value_check is None:
        return None

    def check(value: Any) -> None:
        if not isinstance(value, dict):
            return
        if length is not None:
            length(len(value))
        for k, item in value.items():
            if key_check is not None:
                try:
                    key_check(k)
                except Violation as v:
                    v.parts.append("key")
                    raise
            if item is not None and value_check is not None:
                try:
                    value_check(item)
                except Violation as v:
                    v.parts += ["member", str(k)]
                    raise

    return check


def _string(meta: dict[str, Any]) -> Checker | None:
    enum_list = meta.get("enum")
    enum = frozenset(enum_list) if enum_list else None
    length = _length_check(meta)
    pattern_text = meta.get("pattern")
    compiled = _pattern(pattern_text) if pattern_text else None
    if enum is None and length is None and compiled is None:
        return None
    enum_message = (
        f"Member must satisfy enum value set: [{', '.join(enum_list)}]" if enum_list else ""
    )

    def check(value: Any) -> None:
        if not isinstance(value, str):
            return
        if enum is not None and value not in enum:
            raise Violation(enum_message)
        if length is not None:
            length(len(value))
        if compiled is not None and compiled.search(value) is None:
            raise Violation(f"Member must satisfy regular expression pattern: {pattern_text}")

    return check


def _number(meta: dict[str, Any]) -> Checker | None:
    has_lo, has_hi = "min" in meta, "max" in meta
    if not has_lo and not has_hi:
        return None
    lo: Any = meta.get("min")
    hi: Any = meta.get("max")

    def check(value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if has_lo and value < lo:
                raise Violation(f"Member must have value greater than or equal to {lo}")
            if has_hi and value > hi:
                raise Violation(f"Member must have value less than or equal to {hi}")

    return check


def _blob(meta: dict[str, Any]) -> Checker | None:
    length = _length_check(meta)
    if length is None:
        return None

    def check(value: Any) -> None:
        if isinstance(value, bytes | bytearray):
            length(len(value))

    return check
