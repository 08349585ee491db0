"""The quick path of header-signed requests (``sigv4.quick_parse`` and
``quick_check``, used by ``Authenticator.authenticate``) gives exactly what the
full parse and verify give: the same identity, parsed request and secret when
a request passes, and, when it does not, the very error of the full path (the
quick path then steps aside). Each request below is authenticated twice,
quick path on and off, and the outcomes compared."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from gureum.config import Settings
from gureum.errors import AWSError
from gureum.gateway import catalog, sigv4
from gureum.gateway.auth import Authenticator
from gureum.gateway.protocols.base import HttpRequest
from gureum.store.keys import AccessKey

from .test_sigv4 import AKID, CASES, SECRET, Wire, _case, _sign, presigned

SERVICE_OF = {"query": "sts", "ec2": "ec2", "json": "secretsmanager", "s3": "s3"}


@dataclass
class Clock:
    at: float

    def now(self) -> float:
        return self.at


class Keys:
    def __init__(self, *keys: AccessKey) -> None:
        self.keys = {k.access_key_id: k for k in keys}

    def get_access_key(self, akid: str) -> AccessKey | None:
        return self.keys.get(akid)


def _authenticator(strict: bool = False, status: str = "Active", now: float | None = None
                   ) -> Authenticator:
    key = AccessKey(AKID, SECRET, "123456789012", status=status)
    settings = Settings(strict_credentials=strict)
    return Authenticator(settings, Keys(key), Clock(time.time() if now is None else now))


def _http(wire: Wire) -> HttpRequest:
    return HttpRequest(
        method=wire.method,
        path=wire.raw_path,
        raw_path=wire.raw_path,
        raw_query=wire.raw_query,
        query=MultiDictProxy(MultiDict(wire.query)),
        headers=CIMultiDictProxy(CIMultiDict(wire.headers)),
        host=wire.headers.get("Host", ""),
        body=wire.body,
    )


def _outcome(auth: Authenticator, wire: Wire, style: str, quick: bool) -> Any:
    spec = catalog.SERVICES[SERVICE_OF[style]]
    if not quick:
        auth._quick = lambda *_: None  # type: ignore[method-assign]
    try:
        return auth.authenticate(_http(wire), spec)
    except AWSError as error:
        return ("error", error.code, error.status, error.message, error.fields)


def _same(wire: Wire, style: str, *, taken: bool | None = None, **kwargs: Any) -> Any:
    """Both outcomes, asserted equal; ``taken``: whether the quick path must
    have answered (True) or stepped aside (False)."""
    quick = _outcome(_authenticator(**kwargs), wire, style, True)
    full = _outcome(_authenticator(**kwargs), wire, style, False)
    assert quick == full
    if taken is not None:
        headers = CIMultiDictProxy(CIMultiDict(wire.headers))
        parsed = sigv4.quick_parse(wire.headers.get("Authorization", ""), headers, style)
        answered = parsed is not None and sigv4.quick_check(
            parsed, secret_key=SECRET, method=wire.method, raw_path=wire.raw_path,
            raw_query=wire.raw_query, headers=headers,
            payload_hash=_authenticator()._payload_hash(
                _http(wire), parsed[0], catalog.SERVICES[SERVICE_OF[style]]),
            now=kwargs.get("now") or time.time(), style=style)
        assert answered is taken
    return quick


@pytest.mark.parametrize("name", sorted(CASES))
def test_sdk_requests_take_the_quick_path_with_the_full_paths_outcome(name: str) -> None:
    wire, style = _case(name)
    identity, signed, secret = _same(wire, style, taken=True)
    assert signed.credential.access_key == AKID and secret == SECRET
    assert identity.account_id == "123456789012"


@pytest.mark.parametrize("query", ["b=2&a=1", "x=%20space%20&y=%2B&z=a%2Fb", "empty=&flag",
                                   "unknown-param=1"])
def test_query_strings(query: str) -> None:
    _same(_sign(f"https://api.gureum.test/v1/items?{query}"), "json", taken=True)
    _same(_sign(f"https://s3.gureum.test/b/k?{query}", service="s3", s3=True), "s3", taken=True)


@pytest.mark.parametrize("query", ["a=b=c", "plus=a+b", "lower=%2f%3a"])
def test_query_strings_signed_in_another_spelling(query: str) -> None:
    # botocore signs these pairs as they are in the URL, not re-encoded: the
    # full path's second spelling verifies them.
    _same(_sign(f"https://api.gureum.test/v1/items?{query}"), "json", taken=False)
    _same(_sign(f"https://s3.gureum.test/b/k?{query}", service="s3", s3=True), "s3", taken=False)


@pytest.mark.parametrize("path", ["/", "", "/a/b/../c/./d", "//double//slashes/",
                                  "/items/a%20b/%E2%82%AC", "/items/a%2Fb"])
def test_paths(path: str) -> None:
    wire = _sign(f"https://api.gureum.test{path}", method="POST", data=b"{}")
    _same(wire, "json", taken=True)


def test_odd_header_values_and_repeats() -> None:
    wire = _sign("https://api.gureum.test/",
                 headers={"X-Gureum-Spaced": "  a   b\t c  ", "Content-Type": "application/json"})
    _same(wire, "json", taken=True)
    wire.headers["X-Gureum-Spaced"] = "a b c"  # trimall-equivalent value still verifies
    _same(wire, "json", taken=True)
    wire.headers.add("X-Gureum-Spaced", "again")  # a repeat of a signed header: fails both ways
    _same(wire, "json", taken=False)


@pytest.mark.parametrize("name", ["x-amz-copy-source", "X-AMZ-META-A"])
def test_an_unsigned_amz_header_is_answered_by_the_full_path(name: str) -> None:
    wire, _ = _case("s3-get-object")
    wire.headers[name] = "other/key"
    assert _same(wire, "s3", taken=False)[1] == "AccessDenied"


def test_an_unsigned_other_header_is_allowed() -> None:
    wire, _ = _case("s3-get-object")
    wire.headers["X-Forwarded-For"] = "10.0.0.1"
    _same(wire, "s3", taken=True)


def test_failures_are_the_full_paths() -> None:
    wire, _ = _case("s3-get-object")
    auth = wire.headers["Authorization"]
    wire.headers["Authorization"] = auth[:-1] + ("0" if auth[-1] != "0" else "1")
    assert _same(wire, "s3", taken=False)[1] == "SignatureDoesNotMatch"
    wire.headers["Authorization"] = auth + "é"
    _same(wire, "s3", taken=False)
    wire.headers["Authorization"] = auth.replace(", SignedHeaders", ",SignedHeaders")
    _same(wire, "s3")
    wire.headers["Authorization"] = auth
    for skew in (-16 * 60, 16 * 60):
        assert _same(wire, "s3", now=time.time() + skew)[1] == "RequestTimeTooSkewed"
    date = wire.headers["X-Amz-Date"]
    wire.headers["X-Amz-Date"] = "19991231T000000Z"
    _same(wire, "s3", taken=False)
    wire.headers["X-Amz-Date"] = date[:8] + "T256000Z"
    _same(wire, "s3", taken=False)
    del wire.headers["X-Amz-Date"]
    _same(wire, "s3", taken=False)


@pytest.mark.parametrize("style", ["query", "json", "s3"])
def test_unknown_inactive_and_strict_keys(style: str) -> None:
    name = {"query": "sts-get-caller-identity", "json": "logs-describe-log-groups",
            "s3": "s3-get-object"}[style]
    wire, _ = _case(name)
    _same(wire, style, status="Inactive")
    _same(wire, style, strict=True)
    other = Authenticator(Settings(), Keys(), Clock(time.time()))
    spec = catalog.SERVICES[SERVICE_OF[style]]
    _, signed, secret = other.authenticate(_http(wire), spec)
    assert secret is None and signed is not None  # an unknown key: not verified


def test_other_signatures_step_aside() -> None:
    wire, _ = _case("s3-get-object")
    wire.raw_query = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    _same(wire, "s3")
    wire.raw_query = "AWSAccessKeyId=x&Signature=y&Expires=1"
    _same(wire, "s3")
    presign = presigned("s3", "get_object", {"Bucket": "b", "Key": "a b"})
    _same(presign, "s3")
    wire, _ = _case("s3-get-object")
    wire.headers["Authorization"] = "AWS " + AKID + ":c2lnbmF0dXJl"
    _same(wire, "s3")
    del wire.headers["Authorization"]
    _same(wire, "s3")  # anonymous


def test_a_plain_mapping_of_headers_is_left_to_the_full_path() -> None:
    wire, _ = _case("s3-get-object")
    plain = dict(wire.headers)
    assert sigv4.quick_parse(plain["Authorization"], plain, "s3") is None
