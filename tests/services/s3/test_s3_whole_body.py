"""A small PUT whose body offers its bytes whole (the gateway's ``whole()``)
is stored from them without iterating it, with the same answers, checksums
and errors as when the same bytes are streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gureum.errors import AWSError

from .conftest import Harness


class Whole:
    """A body whose bytes are all here (``whole()``), or, after ``refuse``,
    one that raises when taken; iterating it is a failure of the test."""

    def __init__(self, data: bytes, error: AWSError | None = None) -> None:
        self.data = data
        self.error = error
        self.taken = 0

    def whole(self) -> bytes | None:
        self.taken += 1
        if self.error is not None:
            raise self.error
        return self.data

    def __aiter__(self) -> AsyncIterator[bytes]:
        raise AssertionError("a body offered whole was iterated")


class Streamed:
    """The same bytes as a stream that is not all here (``whole()`` -> None)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def whole(self) -> bytes | None:
        return None

    async def _chunks(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), 1000):
            yield self.data[i:i + 1000]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()


def _put(h: Harness, key: str, body: Any, length: int, **params: Any) -> Any:
    return h.run("put_object", Bucket="bkt", Key=key, Body=body, ContentLength=length,
                 **params)


@pytest.mark.parametrize("params", [
    {}, {"ChecksumAlgorithm": "CRC32"}, {"ChecksumAlgorithm": "SHA256"},
    {"ContentMD5": "1B2M2Y8AsgTpgAmY7PhCfg=="},
])
def test_a_whole_body_is_stored_as_a_streamed_one_is(h: Harness, params: dict[str, Any]) -> None:
    data = bytes(range(256)) * 16 if "ContentMD5" not in params else b""
    body = Whole(data)
    taken = _put(h, "whole", body, len(data), **params)
    streamed = _put(h, "streamed", Streamed(data), len(data), **params)
    assert body.taken == 1 and taken == streamed
    assert h.run("get_object", Bucket="bkt", Key="whole")["Body"] == data
    one = h.s3.records.get("bkt", "whole")
    two = h.s3.records.get("bkt", "streamed")
    assert one is not None and two is not None
    assert (one.size, one.etag, one.meta["checksums"]) \
        == (two.size, two.etag, two.meta["checksums"])


def test_a_whole_body_of_another_length_is_incomplete(h: Harness) -> None:
    for length in (4095, 4097):
        body = Whole(b"x" * 4096)
        with pytest.raises(AWSError) as refused:
            _put(h, "k", body, length)
        assert refused.value.code == "IncompleteBody" and body.taken == 1
    assert h.s3.records.get("bkt", "k") is None


def test_errors_before_the_body_win_and_its_own_error_stores_nothing(h: Harness) -> None:
    _put(h, "k", b"kept", 4)
    body = Whole(b"new", AWSError("XAmzContentSHA256Mismatch", "no", 400))
    with pytest.raises(AWSError) as refused:
        _put(h, "k", body, 3, IfNoneMatch="*")
    assert refused.value.code == "PreconditionFailed" and body.taken == 0
    with pytest.raises(AWSError) as refused:
        h.run("put_object", Bucket="absent", Key="k", Body=body, ContentLength=3)
    assert refused.value.code == "NoSuchBucket" and body.taken == 0
    with pytest.raises(AWSError) as refused:
        _put(h, "k", body, 3)
    assert refused.value.code == "XAmzContentSHA256Mismatch" and body.taken == 1
    assert h.run("get_object", Bucket="bkt", Key="k")["Body"] == b"kept"


def test_a_large_body_is_never_taken_whole(h: Harness) -> None:
    data = b"y" * (h.s3.inline_max + 1)
    body = Streamed(data)
    body.whole = lambda: pytest.fail("a large body was taken whole")  # type: ignore[method-assign]
    _put(h, "big", body, len(data))
    assert h.run("get_object", Bucket="bkt", Key="big")["Body"] is not None
