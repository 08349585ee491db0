"""SigV4's per-request shortcuts give what the plain computations give: the
HMAC from a key's kept pad states against ``hmac.digest``, the unsigned
``X-Amz-*`` check whatever the names' case, and header lookups through a
multidict or a plain mapping alike."""

from __future__ import annotations

import hashlib
import hmac
import os
import random

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gureum.errors import AWSError
from gureum.gateway import sigv4

from .test_sigv4 import _case, check, expect_error


def test_signatures_match_hmac_digest_for_any_key_and_message() -> None:
    rng = random.Random(7)
    for _ in range(300):
        key = os.urandom(rng.choice([0, 1, 31, 32, 33, 63, 64, 65, 100]))
        text = "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(0, 400)))
        expected = hmac.digest(key, text.encode("utf-8"), "sha256").hex()
        assert sigv4._signature(key, text) == expected
        assert sigv4._signature(key, text) == expected  # the kept states are not consumed


def test_a_signing_key_signs_as_botocore_computes() -> None:
    key = sigv4.signing_key("secret", "20261127", "us-east-1", "s3")
    text = "AWS4-HMAC-SHA256\n20261127T000000Z\n20261127/us-east-1/s3/aws4_request\n" + (
        hashlib.sha256(b"x").hexdigest())
    assert sigv4._signature(key, text) == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("name", ["x-amz-copy-source", "X-Amz-Copy-Source", "X-AMZ-COPY-SOURCE"])
def test_unsigned_amz_headers_are_found_in_any_case(name: str) -> None:
    wire, _ = _case("s3-get-object")
    wire.headers[name] = "other/key"
    err = expect_error("AccessDenied", 403, wire, "s3")
    assert err.fields["HeadersNotSigned"] == "x-amz-copy-source"


def test_only_x_amz_names_are_refused_unsigned() -> None:
    wire, _ = _case("s3-get-object")
    wire.headers["X-Forwarded-For"] = "10.0.0.1"
    wire.headers["Xamz-Not-Amz"] = "1"
    wire.headers["amz-sdk-request"] = "attempt=2"
    check(wire, "s3")


def _parsed(headers: object) -> sigv4.SignedRequest | None:
    return sigv4.parse("GET", headers, {}, style="s3")  # type: ignore[arg-type]


def test_header_lookups_agree_for_multidicts_and_plain_mappings() -> None:
    wire, _ = _case("s3-get-object")
    plain = {k.upper(): v for k, v in wire.headers.items()}
    multi = CIMultiDictProxy(CIMultiDict(plain))
    assert _parsed(plain) == _parsed(multi) == _parsed(dict(wire.headers))
    names = ("host", "x-amz-date", "x-amz-content-sha256", "missing")
    assert sigv4._canonical_headers(names, plain) == sigv4._canonical_headers(names, multi)
    assert sigv4._canonical_headers(("missing",), multi) == "missing:\n"


def test_repeated_headers_keep_their_first_value_and_join_all_when_signed() -> None:
    headers = CIMultiDict([("X-Amz-Meta-A", " one  two "), ("x-amz-meta-a", "three")])
    plain_first = sigv4._first_getter({"X-Amz-Meta-A": "one", "x-amz-meta-a": "two"})
    assert sigv4._first_getter(headers)("x-amz-meta-a") == " one  two "
    assert plain_first("x-amz-meta-a") == "one"
    assert sigv4._canonical_headers(("x-amz-meta-a",), headers) == "x-amz-meta-a:one two,three\n"


def test_a_tampered_signature_still_fails() -> None:
    wire, _ = _case("s3-get-object")
    auth = wire.headers["Authorization"]
    last = auth[-1]
    wire.headers["Authorization"] = auth[:-1] + ("0" if last != "0" else "1")
    with pytest.raises(AWSError) as info:
        check(wire, "s3")
    assert info.value.code == "SignatureDoesNotMatch"


def test_a_parsed_request_is_immutable_and_hashable() -> None:
    wire, _ = _case("s3-get-object")
    req = _parsed(dict(wire.headers))
    assert req is not None and req == _parsed(dict(wire.headers))
    assert hash(req) == hash(_parsed(dict(wire.headers)))
    with pytest.raises(AttributeError):
        req.signature = "0" * 64  # type: ignore[misc]
    assert req.credential.service == "s3" and "host" in req.signed_headers


_GOOD = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/s3/aws4_request, "
         "SignedHeaders=host;x-amz-content-sha256;x-amz-date")


@pytest.mark.parametrize("auth", [
    _GOOD + ", Signature=" + "a" * 64,
    _GOOD + ", Signature=" + "b" * 64 + "  ",
    "  " + _GOOD + ", Signature=" + "c" * 64,
    _GOOD + ", Signature=",
    _GOOD + ", Signature=ab cd",
    _GOOD + ", Signature=a,b",
    _GOOD + ",Signature=" + "d" * 64,
    _GOOD + ", Signature=x, Signature=" + "e" * 64,
    _GOOD + ", Signature=" + "é" * 64,
    _GOOD.replace("host;", "") + ", Signature=" + "f" * 64,
    _GOOD.replace("aws4_request", "aws5_request") + ", Signature=" + "f" * 64,
    _GOOD.replace("Credential=", "Cred=") + ", Signature=" + "f" * 64,
    _GOOD.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1") + ", Signature=" + "f" * 64,
    "AWS4-HMAC-SHA256 Signature=" + "f" * 64,
])
@pytest.mark.parametrize("style", ["s3", "query", "json", "ec2"])
def test_an_authorization_parsed_through_its_kept_prefix_parses_as_in_full(
        auth: str, style: str) -> None:
    first = sigv4._first_getter({"x-amz-date": "20261127T000000Z",
                                 "x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    for _ in range(2):  # the second time from the kept prefix
        try:
            found = sigv4._parse_header(auth, first, style)
        except AWSError as error:
            found_error = (error.code, error.message, error.status)
        else:
            found_error = None
        try:
            cred, names, signature = sigv4._header_claims(auth, style)
            if not signature.isascii():
                raise sigv4._mismatch(style)
        except AWSError as error:
            assert found_error == (error.code, error.message, error.status)
            continue
        assert found_error is None
        assert (found.credential, found.signed_headers, found.signature) == (
            cred, names, signature)
