"""Shapes compiled into readers and writers of JSON/CBOR documents.

A reader turns a decoded request document into operation input (member names,
checked scalar types, timestamps as aware datetimes, blobs as bytes); a writer
turns operation output into the document to encode. Each is built once per
shape: a structure becomes a closure over its members' (wire key, name,
reader) triples, so a request walks only its own values, not the model.
Recursive shapes are compiled lazily, one level at a time, when a value
reaches that deep.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.model import Shape

from gureum.errors import ValidationError

from ..validate import length_checker, scalar_checker
from .values import EPOCH_RANGE, b64decode, epoch, parse_timestamp, to_datetime

Convert = Callable[[Any], Any]

_READERS: dict[int, tuple[Shape, Convert]] = {}


def reader(shape: Shape) -> Convert:
    """The compiled reader of ``shape`` (values are never None)."""
    found = _READERS.get(id(shape))
    if found is None:
        found = (shape, _reader(shape, ()))
        _READERS[id(shape)] = found
    return found[1]


def _identity(value: Any) -> Any:
    return value


def _deferred(shape: Shape, compile_: Callable[[Shape], Convert]) -> Convert:
    compiled: list[Convert] = []

    def convert(value: Any) -> Any:
        if not compiled:
            compiled.append(compile_(shape))
        return compiled[0](value)

    return convert


class Unchecked(Exception):
    """Raised by a checking reader at the first value that may break a
    constraint; the caller reads again without checks and validates apart,
    which names the violation exactly as the validator does."""


_UNCHECKED = Unchecked()
_CHECKING: dict[int, tuple[Shape, Convert]] = {}


def checking_reader(shape: Shape) -> Convert:
    """A reader that also checks the model's constraints (required members,
    lengths, ranges, enums, patterns) in the same walk. It raises ``Unchecked``
    or ``Violation`` where a constraint may be broken (never missing one), and
    the type errors the plain reader raises; a value it returns is valid."""
    found = _CHECKING.get(id(shape))
    if found is None:
        found = (shape, _reader(shape, (), checking=True))
        _CHECKING[id(shape)] = found
    return found[1]


def _reader(shape: Shape, stack: tuple[str, ...], checking: bool = False) -> Convert:
    t = shape.type_name
    if t == "structure":
        if getattr(shape, "is_document_type", False):
            return _identity
        if shape.name in stack:
            return _deferred(shape, lambda s: _reader(s, (), checking))
        inner = (*stack, shape.name)
        fields = tuple(
            (mshape.serialization.get("name", mname), mname, _reader(mshape, inner, checking))
            for mname, mshape in shape.members.items()
        )
        not_object = f"Expected an object for {shape.name}"
        members = shape.members
        required = tuple(
            members[name].serialization.get("name", name) if name in members else None
            for name in (shape.required_members if checking else ())
        )
        if required:
            def read_required(value: Any) -> Any:
                if not isinstance(value, dict):
                    raise ValidationError(message=not_object)
                get = value.get
                for key in required:
                    if key is None or get(key) is None:
                        raise _UNCHECKED
                out: dict[str, Any] = {}
                for key, mname, read in fields:
                    v = get(key)
                    if v is not None:
                        out[mname] = read(v)
                return out

            return read_required

        def read_structure(value: Any) -> Any:
            if not isinstance(value, dict):
                raise ValidationError(message=not_object)
            out: dict[str, Any] = {}
            get = value.get
            for key, mname, read in fields:
                v = get(key)
                if v is not None:
                    out[mname] = read(v)
            return out

        return read_structure
    if t == "list":
        read_item = _reader(shape.member, stack, checking)
        not_list = f"Expected a list for {shape.name}"
        list_length = length_checker(shape) if checking else None
        if list_length is not None:
            def read_sized_list(value: Any) -> Any:
                if not isinstance(value, list):
                    raise ValidationError(message=not_list)
                out = [None if v is None else read_item(v) for v in value]
                list_length(len(out))
                return out

            return read_sized_list

        def read_list(value: Any) -> Any:
            if not isinstance(value, list):
                raise ValidationError(message=not_list)
            return [None if v is None else read_item(v) for v in value]

        return read_list
    if t == "map":
        read_value = _reader(shape.value, stack, checking)
        not_map = f"Expected a map for {shape.name}"
        map_length = length_checker(shape) if checking else None
        key_check = scalar_checker(shape.key) if checking else None
        if map_length is not None or key_check is not None:
            def read_checked_map(value: Any) -> Any:
                if not isinstance(value, dict):
                    raise ValidationError(message=not_map)
                out = {k: None if v is None else read_value(v) for k, v in value.items()}
                if map_length is not None:
                    map_length(len(out))
                if key_check is not None:
                    for k in out:
                        key_check(k)
                return out

            return read_checked_map

        def read_map(value: Any) -> Any:
            if not isinstance(value, dict):
                raise ValidationError(message=not_map)
            return {k: None if v is None else read_value(v) for k, v in value.items()}

        return read_map
    read = _scalar_reader(shape)
    check = scalar_checker(shape) if checking else None
    if check is None:
        return read

    def read_checked(value: Any) -> Any:
        out = read(value)
        check(out)
        return out

    return read_checked


def _scalar_reader(shape: Shape) -> Convert:
    t = shape.type_name
    name = shape.name
    if t == "timestamp":
        def read_timestamp(value: Any) -> Any:
            if isinstance(value, datetime):
                return to_datetime(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return to_datetime(value)
            if isinstance(value, str):
                return parse_timestamp(value)
            raise ValidationError(message=f"Invalid timestamp for {name}")

        return read_timestamp
    if t == "blob":
        def read_blob(value: Any) -> Any:
            if isinstance(value, bytes | bytearray):
                return bytes(value)
            if isinstance(value, str):
                return b64decode(value)
            raise ValidationError(message=f"Invalid blob for {name}")

        return read_blob
    if t == "boolean":
        def read_boolean(value: Any) -> Any:
            if value is True or value is False:
                return value
            raise ValidationError(message=f"Expected a boolean for {name}")

        return read_boolean
    if t in ("integer", "long"):
        def read_integer(value: Any) -> Any:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    return int(value)
                raise ValidationError(message=f"Expected an integer for {name}")
            return value

        return read_integer
    if t in ("float", "double"):
        def read_number(value: Any) -> Any:
            if type(value) is float:
                return value
            if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
                return float(value)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationError(message=f"Expected a number for {name}")
            return float(value)

        return read_number
    if t == "string":
        def read_string(value: Any) -> Any:
            if not isinstance(value, str):
                raise ValidationError(message=f"Expected a string for {name}")
            return value

        return read_string
    return _identity


# -- writing -----------------------------------------------------------------

_WRITERS: dict[tuple[int, str], tuple[Shape, Convert]] = {}


def writer(shape: Shape, flavour: str, timestamp: Convert, blob: Convert) -> Convert:
    """The compiled writer of ``shape`` for one document flavour (json or cbor),
    which differ only in how timestamps and blobs are written."""
    key = (id(shape), flavour)
    found = _WRITERS.get(key)
    if found is None:
        found = (shape, _writer(shape, (), timestamp, blob))
        _WRITERS[key] = found
    return found[1]


def _writer(shape: Shape, stack: tuple[str, ...], timestamp: Convert, blob: Convert) -> Convert:
    t = shape.type_name
    if t == "structure":
        if getattr(shape, "is_document_type", False):
            return _identity
        if shape.name in stack:
            return _deferred(shape, lambda s: _writer(s, (), timestamp, blob))
        inner = (*stack, shape.name)
        fields = tuple(
            (mname, mshape.serialization.get("name", mname),
             _writer(mshape, inner, timestamp, blob))
            for mname, mshape in shape.members.items()
        )
        return _structure_writer(fields)
    if t == "list":
        write_item = _writer(shape.member, stack, timestamp, blob)
        if write_item is _identity:
            return list
        return lambda value: [write_item(v) for v in value]
    if t == "map":
        write_value = _writer(shape.value, stack, timestamp, blob)
        return lambda value: {k: write_value(v) for k, v in value.items()}
    if t == "timestamp":
        return timestamp
    if t == "blob":
        return blob
    if t in ("float", "double"):
        return _write_float
    return _identity


def _structure_writer(fields: tuple[tuple[str, str, Convert], ...]) -> Convert:
    """A structure's writer as one generated function: each member is a
    straight-line ``get``/test/store (in model order, so documents keep their
    key order), with plain values stored as they are and finite floats kept
    without a call, instead of a loop calling a converter per member."""
    names: dict[str, Any] = {"_write_float": _write_float, "epoch": epoch,
                             "EPOCH_RANGE": EPOCH_RANGE}
    lines = ["def write_structure(value):", "    out = {}", "    get = value.get"]
    for i, (mname, key, write) in enumerate(fields):
        lines += [f"    v = get({mname!r})", "    if v is not None:"]
        if write is _identity:
            lines.append(f"        out[{key!r}] = v")
        elif write is epoch:
            lines.append(f"        out[{key!r}] = v if type(v) is int and v in EPOCH_RANGE"
                         " else epoch(v)")
        elif write is _write_float:
            lines.append(f"        out[{key!r}] = v if type(v) is float and v - v == 0.0"
                         " else _write_float(v)")
        else:
            names[f"w{i}"] = write
            lines.append(f"        out[{key!r}] = w{i}(v)")
    lines.append("    return out")
    exec("\n".join(lines), names)  # source built from model names, quoted by repr
    return names["write_structure"]  # type: ignore[no-any-return]


def _write_float(value: Any) -> Any:
    f = value if type(value) is float else float(value)
    if f - f == 0.0:  # finite: inf - inf and NaN - NaN are NaN
        return f
    return "NaN" if f != f else ("Infinity" if f > 0 else "-Infinity")
