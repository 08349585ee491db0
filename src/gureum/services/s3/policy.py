"""Bucket policy documents: validation (``MalformedPolicy``) and evaluation.

A policy is checked once, when it is put, and kept as its parsed JSON.
``evaluate`` answers ``"Deny"`` when a statement explicitly denies the
request, ``"Allow"`` when one allows it and none denies, and ``None`` (the
implicit deny) otherwise: explicit deny > allow > implicit deny.

Conditions understood: the String* family (with ``IgnoreCase``, ``Like``
wildcards and negations), ``IpAddress``/``NotIpAddress`` (CIDRs), ``Bool``,
``Null`` and the ``Numeric*`` comparisons, each with ``IfExists``. Keys are
matched case-insensitively; the request context supplies ``aws:SourceIp``,
``aws:SecureTransport``, ``aws:PrincipalAccount``, ``s3:prefix`` and friends.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from gureum.errors import AWSError

PUBLIC = "*"
# Condition keys whose value no anonymous stranger controls: a statement
# restricted by one is not "public" (as S3's Block Public Access judges it).
_RESTRICTING = {
    "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceaccount",
    "aws:sourcearn", "aws:principalaccount", "aws:principalarn", "aws:principalorgid",
    "aws:userid", "aws:sourceowner",
}


def malformed(message: str) -> AWSError:
    return AWSError("MalformedPolicy", message, 400)


@dataclass(frozen=True)
class Principal:
    """The caller as a policy sees it; anonymous callers match only ``*``."""

    account: str
    arn: str
    canonical_id: str
    anonymous: bool

    def matches(self, value: str) -> bool:
        if value == PUBLIC:
            return True
        if self.anonymous:
            return False
        return value in (self.account, self.arn, f"arn:aws:iam::{self.account}:root")


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if pattern == "*":
        return True
    return _glob(pattern, ignore_case).match(value) is not None


def _listify(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value]


# -- conditions ---------------------------------------------------------------

def _string(op: Callable[[str, str], bool]) -> Callable[[list[str], list[str]], bool]:
    return lambda have, want: any(op(h, w) for h in have for w in want)


def _ip(have: list[str], want: list[str]) -> bool:
    for h in have:
        try:
            addr = ipaddress.ip_address(h)
        except ValueError:
            continue
        for w in want:
            net = ipaddress.ip_network(w, strict=False)
            if addr.version == net.version and addr in net:
                return True
    return False


def _numeric(op: Callable[[float, float], bool]) -> Callable[[list[str], list[str]], bool]:
    def check(have: list[str], want: list[str]) -> bool:
        try:
            return any(op(float(h), float(w)) for h in have for w in want)
        except ValueError:
            return False
    return check


_POSITIVE: dict[str, Callable[[list[str], list[str]], bool]] = {
    "stringequals": _string(lambda h, w: h == w),
    "stringequalsignorecase": _string(lambda h, w: h.lower() == w.lower()),
    "stringlike": _string(lambda h, w: glob_match(w, h)),
    "ipaddress": _ip,
    "bool": _string(lambda h, w: h.lower() == w.lower()),
    "numericequals": _numeric(lambda h, w: h == w),
    "numericlessthan": _numeric(lambda h, w: h < w),
    "numericlessthanequals": _numeric(lambda h, w: h <= w),
    "numericgreaterthan": _numeric(lambda h, w: h > w),
    "numericgreaterthanequals": _numeric(lambda h, w: h >= w),
    "arnequals": _string(lambda h, w: glob_match(w, h)),
    "arnlike": _string(lambda h, w: glob_match(w, h)),
}
_NEGATED = {
    "stringnotequals": "stringequals",
    "stringnotequalsignorecase": "stringequalsignorecase",
    "stringnotlike": "stringlike",
    "notipaddress": "ipaddress",
    "numericnotequals": "numericequals",
    "arnnotequals": "arnequals",
    "arnnotlike": "arnlike",
}


def _split_operator(name: str) -> tuple[str, bool]:
    op = name.lower()
    if_exists = op.endswith("ifexists")
    if if_exists:
        op = op[: -len("ifexists")]
    if op.startswith(("forallvalues:", "foranyvalue:")):
        op = op.split(":", 1)[1]
    return op, if_exists


def _check_condition_block(block: Any) -> None:
    if not isinstance(block, dict):
        raise malformed("Policy has an invalid condition block")
    for name, entries in block.items():
        op, _ = _split_operator(str(name))
        if op not in _POSITIVE and op not in _NEGATED and op != "null":
            raise malformed(f"Policy has an invalid condition operator: {name}")
        if not isinstance(entries, dict) or not entries:
            raise malformed(f"Policy has an invalid condition block for {name}")
        if op in ("ipaddress", "notipaddress"):
            for value in entries.values():
                for cidr in _listify(value):
                    try:
                        ipaddress.ip_network(str(cidr), strict=False)
                    except ValueError as exc:
                        raise malformed(f"Invalid IP address or CIDR: {cidr}") from exc


def _condition_holds(block: dict[str, Any], context: Mapping[str, list[str]]) -> bool:
    for name, entries in block.items():
        op, if_exists = _split_operator(name)
        for key, wanted in entries.items():
            want = [str(w).lower() if isinstance(w, bool) else str(w) for w in _listify(wanted)]
            have = context.get(key.lower())
            if op == "null":
                absent = have is None
                if not any((w.lower() == "true") == absent for w in want):
                    return False
                continue
            if have is None:
                if if_exists or op in _NEGATED:
                    continue
                return False
            if op in _NEGATED:
                if _POSITIVE[_NEGATED[op]](have, want):
                    return False
            elif not _POSITIVE[op](have, want):
                return False
    return True


# -- documents ----------------------------------------------------------------

def _principals(value: Any) -> list[str]:
    if value == PUBLIC:
        return [PUBLIC]
    if not isinstance(value, dict) or not value:
        raise malformed("Invalid principal in policy")
    out: list[str] = []
    for kind, ids in value.items():
        if kind not in ("AWS", "CanonicalUser", "Service", "Federated"):
            raise malformed("Invalid principal in policy")
        out.extend(str(i) for i in _listify(ids))
    return out


def parse_policy(text: str, bucket: str) -> dict[str, Any]:
    """Validate a bucket policy; return it parsed. Raises ``MalformedPolicy``."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise malformed("Policies must be valid JSON and the first byte must be '{'") from exc
    if not isinstance(doc, dict):
        raise malformed("Policies must be valid JSON and the first byte must be '{'")
    statements = doc.get("Statement")
    if statements is None or statements == []:
        raise malformed("Missing required field Statement")
    for st in _listify(statements):
        if not isinstance(st, dict):
            raise malformed("Statement is not an object")
        if st.get("Effect") not in ("Allow", "Deny"):
            raise malformed("Invalid effect: " + str(st.get("Effect")))
        if ("Principal" in st) == ("NotPrincipal" in st):
            raise malformed("Missing required field Principal")
        _principals(st.get("Principal", st.get("NotPrincipal")))
        if ("Action" in st) == ("NotAction" in st):
            raise malformed("Missing required field Action")
        for action in _listify(st.get("Action", st.get("NotAction"))):
            if not isinstance(action, str) or not (action == "*" or action.startswith("s3:")):
                raise malformed(f"Policy has invalid action: {action}")
        if ("Resource" in st) == ("NotResource" in st):
            raise malformed("Missing required field Resource")
        for resource in _listify(st.get("Resource", st.get("NotResource"))):
            arn = f"arn:aws:s3:::{bucket}"
            if not isinstance(resource, str) or not (
                resource == arn or resource.startswith(arn + "/")
                or glob_match(resource, arn) or glob_match(resource, arn + "/x")
            ):
                raise malformed("Policy has invalid resource")
        if "Condition" in st:
            _check_condition_block(st["Condition"])
    return doc


def _statement_applies(
    st: dict[str, Any], who: Principal, action: str, resource: str,
    context: Mapping[str, list[str]],
) -> bool:
    if "Principal" in st:
        if not any(who.matches(p) for p in _principals(st["Principal"])):
            return False
    elif any(who.matches(p) for p in _principals(st["NotPrincipal"])):
        return False
    if "Action" in st:
        if not any(glob_match(a, action, True) for a in _listify(st["Action"])):
            return False
    elif any(glob_match(a, action, True) for a in _listify(st["NotAction"])):
        return False
    if "Resource" in st:
        if not any(glob_match(r, resource) for r in _listify(st["Resource"])):
            return False
    elif any(glob_match(r, resource) for r in _listify(st["NotResource"])):
        return False
    return _condition_holds(st.get("Condition") or {}, context)


def evaluate(
    policy: dict[str, Any] | None, who: Principal, action: str, resource: str,
    context: Mapping[str, list[str]], *, public_ok: bool = True,
) -> str | None:
    """``"Deny"``, ``"Allow"`` or ``None``. With ``public_ok=False`` an allowing
    statement open to everyone counts for nothing (RestrictPublicBuckets)."""
    if not policy:
        return None
    allowed = False
    for st in _listify(policy.get("Statement")):
        if not _statement_applies(st, who, action, resource, context):
            continue
        if st["Effect"] == "Deny":
            return "Deny"
        if public_ok or not statement_is_public(st):
            allowed = True
    return "Allow" if allowed else None


def statement_is_public(st: dict[str, Any]) -> bool:
    if st.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in st:
        return True
    if PUBLIC not in _principals(st.get("Principal")):
        return False
    for entries in (st.get("Condition") or {}).values():
        if any(key.lower() in _RESTRICTING for key in entries):
            return False
    return True


def policy_is_public(policy: dict[str, Any] | None) -> bool:
    return bool(policy) and any(
        statement_is_public(st) for st in _listify((policy or {}).get("Statement"))
    )
