"""Tags as AWS carries them (lists of Key/Value) and as gureum stores them (a
dict), with AWS's limits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gureum.errors import AWSError

MAX_TAGS = 50


def to_dict(tags: Iterable[Mapping[str, Any]] | None, code: str = "InvalidParameterValue",
            ) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags or []:
        key = tag.get("Key")
        if key is None or key == "":
            raise AWSError(code, "Tag keys must not be empty")
        if len(key) > 128 or len(str(tag.get("Value", ""))) > 256:
            raise AWSError(code, "Tag key or value is too long")
        if key.lower().startswith("aws:"):
            raise AWSError(code, "Tag keys starting with 'aws:' are reserved for internal use")
        out[key] = str(tag.get("Value", ""))
    if len(out) > MAX_TAGS:
        raise AWSError(code, f"The number of tags must not exceed {MAX_TAGS}")
    return out


def to_list(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


def merge(current: Mapping[str, str], added: Mapping[str, str]) -> dict[str, str]:
    out = dict(current)
    out.update(added)
    if len(out) > MAX_TAGS:
        raise AWSError("TagLimitExceeded", f"The number of tags must not exceed {MAX_TAGS}")
    return out
