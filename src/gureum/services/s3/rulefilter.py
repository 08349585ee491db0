"""What a lifecycle or replication rule selects: its V1 ``Prefix`` or its V2
``Filter`` (a ``Prefix``, a ``Tag``, object sizes, or an ``And`` of them)."""

from __future__ import annotations

from typing import Any


def rule_filter(rule: dict[str, Any]) -> tuple[str, dict[str, str], int | None, int | None]:
    """(prefix, tags, size greater than, size less than) of a rule."""
    if "Filter" not in rule:
        return str(rule.get("Prefix") or ""), {}, None, None
    flt = rule.get("Filter") or {}
    both = flt.get("And") or {}
    prefix = str(flt.get("Prefix") or both.get("Prefix") or "")
    tags = {t["Key"]: t.get("Value", "") for t in both.get("Tags") or []}
    if flt.get("Tag"):
        tags[flt["Tag"]["Key"]] = flt["Tag"].get("Value", "")
    above = flt.get("ObjectSizeGreaterThan", both.get("ObjectSizeGreaterThan"))
    below = flt.get("ObjectSizeLessThan", both.get("ObjectSizeLessThan"))
    return prefix, tags, above, below
