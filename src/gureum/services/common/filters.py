"""EC2-style filters: ``Filter.N.Name`` / ``Filter.N.Value.M`` with ``*``/``?``
wildcards and ``tag:Key``, ``tag-key``, ``tag-value``.

A service describes how a filter name reads a resource with a dict of getters;
each getter returns a value or a list of values. Filters AND together; the
values of one filter OR together.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from gureum.errors import AWSError

Getter = Callable[[dict[str, Any]], Any]


@lru_cache(maxsize=1024)
def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.DOTALL)


def _as_strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set):
        out: list[str] = []
        for v in value:
            out.extend(_as_strings(v))
        return out
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def _tags(resource: Mapping[str, Any]) -> list[dict[str, str]]:
    tags = resource.get("Tags") or resource.get("TagSet") or []
    if isinstance(tags, dict):
        return [{"Key": k, "Value": v} for k, v in tags.items()]
    return list(tags)


def matches(
    resource: dict[str, Any], filters: Sequence[Mapping[str, Any]], getters: Mapping[str, Getter]
) -> bool:
    for f in filters:
        name = f.get("Name", "")
        wanted = f.get("Values") or []
        if name.startswith("tag:"):
            key = name[4:]
            values = [t.get("Value", "") for t in _tags(resource) if t.get("Key") == key]
        elif name == "tag-key":
            values = [t.get("Key", "") for t in _tags(resource)]
        elif name == "tag-value":
            values = [t.get("Value", "") for t in _tags(resource)]
        elif name in getters:
            values = _as_strings(getters[name](resource))
        else:
            raise AWSError("InvalidParameterValue", f"The filter '{name}' is invalid")
        if not any(_wildcard(w).match(v) for w in wanted for v in values):
            return False
    return True


def apply(
    resources: Iterable[dict[str, Any]],
    filters: Sequence[Mapping[str, Any]] | None,
    getters: Mapping[str, Getter],
) -> list[dict[str, Any]]:
    if not filters:
        return list(resources)
    return [r for r in resources if matches(r, filters, getters)]


def field(name: str) -> Getter:
    """A getter reading a dotted path: ``field("State.Name")``."""
    parts = name.split(".")

    def get(resource: dict[str, Any]) -> Any:
        value: Any = resource
        for part in parts:
            if isinstance(value, list):
                value = [v.get(part) if isinstance(v, dict) else None for v in value]
            elif isinstance(value, dict):
                value = value.get(part)
            else:
                return None
        return value

    return get
