"""The aws-chunked decoder against real boto3 uploads and the AWS documented examples."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import zlib
from typing import Any

import pytest
from botocore.config import Config

from gureum.errors import AWSError
from gureum.gateway import chunked, sigv4
from gureum.gateway.chunked import ChunkedDecoder

from .test_sigv4 import SECRET, Wire, capture, check

# The example of "Signature Calculations for the Authorization Header: Transferring
# Payload in Multiple Chunks" and its trailing-headers sibling in the S3 API reference.
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_KEY = sigv4.signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_BODY = (
    b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
    + b"a" * 65536
    + b"\r\n"
    + b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
    + b"a" * 1024
    + b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n"
    + b"\r\n"
)
DOC_TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
DOC_TRAILER_BODY = (
    b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n"
    + b"a" * 65536
    + b"\r\n"
    + b"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n"
    + b"a" * 1024
    + b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
    + b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    + b"x-amz-trailer-signature:"
    + b"d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n"
    + b"\r\n"
)


def _reader(body: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(body)
    reader.feed_eof()
    return reader


def decode(body: bytes, **kwargs: Any) -> tuple[bytes, ChunkedDecoder]:
    async def run() -> tuple[bytes, ChunkedDecoder]:
        decoder = ChunkedDecoder(_reader(body), **kwargs)
        pieces = [piece async for piece in decoder.chunks()]
        assert all(pieces), "no empty pieces are yielded"
        return b"".join(pieces), decoder

    return asyncio.run(run())


def decode_error(body: bytes, **kwargs: Any) -> AWSError:
    with pytest.raises(AWSError) as info:
        decode(body, **kwargs)
    return info.value


def doc_signed(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "signed": True,
        "seed_signature": DOC_SEED,
        "signing_key": DOC_KEY,
        "amz_date": DOC_DATE,
        "scope": DOC_SCOPE,
        "decoded_length": 66560,
    }
    kwargs.update(overrides)
    return kwargs


# --------------------------------------------------------------------------- AWS examples


def test_documented_seed_signature_verifies() -> None:
    headers = {
        "Host": "s3.amazonaws.com",
        "x-amz-date": DOC_DATE,
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
        "aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;"
        "x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=" + DOC_SEED,
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "Content-Length": "66824",
    }
    assert len(DOC_BODY) == 66824
    req = sigv4.parse("PUT", headers, {}, style="s3")
    assert req is not None and req.payload_hash == chunked.SIGNED_PAYLOAD
    sigv4.verify(
        req,
        secret_key=DOC_SECRET,
        method="PUT",
        raw_path="/examplebucket/chunkObject.txt",
        raw_query="",
        headers=headers,
        payload_hash=req.payload_hash,
        now=1369353600.0,
        style="s3",
    )


def test_documented_signed_chunks_decode() -> None:
    data, decoder = decode(DOC_BODY, **doc_signed())
    assert data == b"a" * 66560
    assert decoder.length == 66560 and decoder.trailers == {}


def test_documented_signed_chunks_decode_in_small_pieces() -> None:
    data, _ = decode(DOC_BODY, **doc_signed(piece_size=1000))
    assert data == b"a" * 66560


def test_documented_signed_trailer_decodes() -> None:
    data, decoder = decode(
        DOC_TRAILER_BODY,
        **doc_signed(
            seed_signature=DOC_TRAILER_SEED,
            trailer=True,
            trailer_header="x-amz-checksum-crc32c",
        ),
    )
    assert data == b"a" * 66560
    assert decoder.trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    # CRC32C needs an optional library; without it the value is taken on trust.
    assert decoder.unverified == ["x-amz-checksum-crc32c"] or decoder.checksums == {
        "x-amz-checksum-crc32c": "sOO8/Q=="
    }


def test_tampered_signed_chunk_fails() -> None:
    body = DOC_BODY.replace(b"a" * 1024, b"a" * 1023 + b"b")
    err = decode_error(body, **doc_signed())
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)


def test_reordered_or_wrong_seed_fails() -> None:
    err = decode_error(DOC_BODY, **doc_signed(seed_signature="0" * 64))
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)


def test_signed_chunk_without_signature_fails() -> None:
    err = decode_error(b"3\r\nabc\r\n0\r\n\r\n", **doc_signed(decoded_length=3))
    assert err.code == "SignatureDoesNotMatch"


def test_tampered_trailer_fails() -> None:
    body = DOC_TRAILER_BODY.replace(b"sOO8/Q==", b"AAAAAA==")
    err = decode_error(
        body,
        **doc_signed(
            seed_signature=DOC_TRAILER_SEED, trailer=True, trailer_header="x-amz-checksum-crc32c"
        ),
    )
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)


# --------------------------------------------------------------------------- signed, built here


def _sign_chunks(chunks: list[bytes], trailers: list[tuple[str, str]] | None) -> bytes:
    """A signed aws-chunked body, chained from DOC_SEED (for the trailer variant)."""
    prev = DOC_SEED
    out = b""
    for data in [*chunks, b""]:
        sts = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{DOC_DATE}\n{DOC_SCOPE}\n{prev}\n{sigv4.EMPTY_SHA256}\n"
            + hashlib.sha256(data).hexdigest()
        )
        prev = hmac.new(DOC_KEY, sts.encode(), hashlib.sha256).hexdigest()
        out += b"%x;chunk-signature=%s\r\n" % (len(data), prev.encode())
        if data:
            out += data + b"\r\n"
    if trailers is None:
        return out + b"\r\n"
    canonical = "".join(f"{k}:{v}\n" for k, v in trailers)
    sts = (
        f"AWS4-HMAC-SHA256-TRAILER\n{DOC_DATE}\n{DOC_SCOPE}\n{prev}\n"
        + hashlib.sha256(canonical.encode()).hexdigest()
    )
    sig = hmac.new(DOC_KEY, sts.encode(), hashlib.sha256).hexdigest()
    for k, v in trailers:
        out += f"{k}:{v}\r\n".encode()
    return out + f"x-amz-trailer-signature:{sig}\r\n\r\n".encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-amz-checksum-crc32", _b64(zlib.crc32(b"hello gureum!" * 5).to_bytes(4, "big"))),
        ("x-amz-checksum-sha1", _b64(hashlib.sha1(b"hello gureum!" * 5).digest())),
        ("x-amz-checksum-sha256", _b64(hashlib.sha256(b"hello gureum!" * 5).digest())),
    ],
)
def test_signed_trailer_checksums(name: str, value: str) -> None:
    payload = b"hello gureum!" * 5
    body = _sign_chunks([payload[:40], payload[40:]], [(name, value)])
    kwargs = doc_signed(decoded_length=len(payload), trailer=True, trailer_header=name)
    data, decoder = decode(body, **kwargs)
    assert data == payload and decoder.checksums == {name: value}
    wrong = _sign_chunks([payload], [(name, _b64(b"\0" * len(base64.b64decode(value))))])
    err = decode_error(wrong, **kwargs)
    algorithm = name.rsplit("-", 1)[1].upper()
    assert (err.code, err.status) == ("BadDigest", 400)
    assert err.message == f"The {algorithm} you specified did not match the calculated checksum."


# --------------------------------------------------------------------------- boto3 uploads


def _boto3_upload(body: bytes, **params: Any) -> Wire:
    wire = capture("s3", "put_object", {"Bucket": "b", "Key": "k", "Body": body, **params})
    assert wire.headers["X-Amz-Content-SHA256"] == chunked.UNSIGNED_PAYLOAD_TRAILER
    return wire


def _decode_wire(wire: Wire, body: bytes | None = None) -> tuple[bytes, ChunkedDecoder]:
    async def run() -> tuple[bytes, ChunkedDecoder]:
        decoder = ChunkedDecoder.from_headers(
            _reader(wire.body if body is None else body), wire.header_view()
        )
        return b"".join([piece async for piece in decoder.chunks()]), decoder

    return asyncio.run(run())


def test_boto3_default_put_object_decodes_and_checks_crc32() -> None:
    payload = bytes(range(256)) * 40
    wire = _boto3_upload(payload)
    assert wire.headers["X-Amz-Trailer"] == "x-amz-checksum-crc32"
    check(wire, "s3")  # the request itself verifies, payload hash being the streaming marker
    data, decoder = _decode_wire(wire)
    assert data == payload
    assert decoder.trailers == {"x-amz-checksum-crc32": decoder.checksums["x-amz-checksum-crc32"]}
    assert decoder.length == len(payload)


def test_boto3_upload_of_several_chunks() -> None:
    payload = b"g" * (3 * 1024 * 1024 + 17)  # boto3 frames 1 MiB chunks
    data, decoder = _decode_wire(_boto3_upload(payload))
    assert data == payload and decoder.length == len(payload)


def test_boto3_empty_upload() -> None:
    data, decoder = _decode_wire(_boto3_upload(b""))
    assert data == b"" and "x-amz-checksum-crc32" in decoder.checksums


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA1"])
def test_boto3_other_checksum_trailers(algorithm: str) -> None:
    payload = b"checksum me" * 100
    wire = _boto3_upload(payload, ChecksumAlgorithm=algorithm)
    data, decoder = _decode_wire(wire)
    assert data == payload
    name = f"x-amz-checksum-{algorithm.lower()}"
    expected = _b64(hashlib.new(algorithm.lower(), payload).digest())
    assert decoder.checksums == {name: expected}


def test_boto3_upload_with_wrong_checksum_fails() -> None:
    wire = _boto3_upload(b"hello gureum")
    good = wire.headers.get("X-Amz-Trailer")
    assert good == "x-amz-checksum-crc32"
    prefix, _, _ = wire.body.partition(b"x-amz-checksum-crc32:")
    with pytest.raises(AWSError) as info:
        _decode_wire(wire, prefix + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n")
    assert (info.value.code, info.value.status) == ("BadDigest", 400)
    assert info.value.message == "The CRC32 you specified did not match the calculated checksum."


def test_boto3_upload_with_tampered_data_fails() -> None:
    wire = _boto3_upload(b"hello gureum")
    with pytest.raises(AWSError) as info:
        _decode_wire(wire, wire.body.replace(b"hello", b"jello"))
    assert info.value.code == "BadDigest"


@pytest.mark.parametrize("cut", [1, 5, 20, 30, 40])
def test_truncated_body_fails(cut: int) -> None:
    wire = _boto3_upload(b"hello gureum, a body of some length")
    with pytest.raises(AWSError) as info:
        _decode_wire(wire, wire.body[:-cut])
    assert info.value.code in ("IncompleteBody", "MalformedTrailerError")
    assert info.value.status == 400


def test_truncated_signed_body_fails() -> None:
    for cut in (10, 1000, 66000):
        err = decode_error(DOC_BODY[:-cut], **doc_signed())
        assert (err.code, err.status) == ("IncompleteBody", 400)


def test_missing_announced_trailer_fails() -> None:
    wire = _boto3_upload(b"hello gureum")
    prefix, _, _ = wire.body.partition(b"x-amz-checksum-crc32:")
    with pytest.raises(AWSError) as info:
        _decode_wire(wire, prefix + b"\r\n")
    assert (info.value.code, info.value.status) == ("MalformedTrailerError", 400)


def test_decoded_length_mismatch_fails() -> None:
    body = b"5\r\nhello\r\n0\r\n\r\n"
    for length in (4, 6):
        err = decode_error(body, signed=False, decoded_length=length)
        assert (err.code, err.status) == ("IncompleteBody", 400)
    data, _ = decode(body, signed=False, decoded_length=5)
    assert data == b"hello"


@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"\r\n",
        b"5\r\nhello\r\n0\r\ngarbage\r\n",
    ],
)
def test_malformed_framing_fails(body: bytes) -> None:
    err = decode_error(body, signed=False)
    assert err.status == 400
    assert err.code in ("InvalidRequest", "IncompleteBody")


def test_unsigned_streaming_request_headers_verify_with_boto3_config() -> None:
    # payload_signing_enabled has no effect on the trailer framing: boto3 still streams.
    wire = capture(
        "s3",
        "put_object",
        {"Bucket": "b", "Key": "k", "Body": b"abc"},
        config=Config(s3={"payload_signing_enabled": True}),
    )
    check(wire, "s3")
    data, _ = _decode_wire(wire)
    assert data == b"abc"
    assert SECRET  # the shared test secret signs these uploads


def test_is_streaming() -> None:
    assert chunked.is_streaming("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert chunked.is_streaming("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    assert not chunked.is_streaming("UNSIGNED-PAYLOAD")
    assert not chunked.is_streaming(None)
