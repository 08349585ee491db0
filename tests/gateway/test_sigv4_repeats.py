"""What the signature check keeps from one request to the next (credential
scopes, date stamps) never lets a later request through that alone would be
refused: the same malformed credential or stamp is refused every time, in each
error style."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gureum.errors import AWSError
from gureum.gateway import sigv4

SIG = "a" * 64


def claim(credential: str, amz_date: str = "20261127T050000Z") -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({
        "Host": "127.0.0.1:4566",
        "X-Amz-Date": amz_date,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, "
                         f"SignedHeaders=host;x-amz-date, Signature={SIG}",
    }))


@pytest.mark.parametrize(("style", "code"), [("s3", "AuthorizationHeaderMalformed"),
                                             ("query", "IncompleteSignature")])
def test_a_malformed_credential_is_refused_every_time(style: str, code: str) -> None:
    good = "AKID/20261127/us-east-1/s3/aws4_request"
    for _ in range(3):
        found = sigv4.parse("GET", claim(good), {}, style=style)
        assert found is not None and found.credential.region == "us-east-1"
        for bad in ("AKID/20261127/us-east-1/s3/aws5_request", "AKID/2026112/us-east-1/s3/"
                    "aws4_request", "/20261127/us-east-1/s3/aws4_request"):
            with pytest.raises(AWSError) as caught:
                sigv4.parse("GET", claim(bad), {}, style=style)
            assert caught.value.code == code


def test_a_good_credential_with_another_day_is_refused() -> None:
    good = "AKID/20261127/us-east-1/s3/aws4_request"
    assert sigv4.parse("GET", claim(good), {}, style="s3") is not None
    with pytest.raises(AWSError) as caught:
        sigv4.parse("GET", claim(good, "20261128T000000Z"), {}, style="s3")
    assert caught.value.code == "AuthorizationHeaderMalformed"


def test_a_bad_stamp_is_refused_every_time() -> None:
    good = "AKID/20261127/us-east-1/s3/aws4_request"
    for _ in range(3):
        for stamp in ("20261127T250000Z", "20261327T050000Z", "2026-11-27T05:00"):
            with pytest.raises(AWSError) as caught:
                sigv4.parse("GET", claim(good, stamp), {}, style="s3")
            assert caught.value.code == "AccessDenied"
