"""Who is calling: SigV4 verification against the access keys in the store.

Keys gureum issued are always verified. Unknown keys are, by default, the root
of an account (a 12-digit key names that account; any other key the default
account) — the convention of other local clouds; ``strict_credentials`` rejects
them with AWS's error instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from gureum.config import Settings
from gureum.services.base import Identity

from . import sigv2, sigv4
from .catalog import ServiceSpec
from .protocols.base import HttpRequest

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_V4 = sigv4.ALGORITHM + " "


class Authenticator:
    def __init__(self, settings: Settings, store: Any, clock: Any) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock

    def authenticate(
        self, request: HttpRequest, spec: ServiceSpec
    ) -> tuple[Identity, sigv4.SignedRequest | None, str | None]:
        """The caller's identity, the parsed signature and the secret it was checked
        with (S3 streaming bodies verify their chunks with them later)."""
        style = spec.error_style
        auth = request.headers.get("Authorization")
        if auth is not None and auth.startswith(_V4):
            found = self._quick(request, auth, spec)
            if found is not None:
                return found
        if style == "s3":
            v2 = sigv2.parse(request.headers, request.query)
            if v2 is not None:
                return self._authenticate_v2(request, v2), None, None
        signed = sigv4.parse(request.method, request.headers, request.query, style=style)
        if signed is None:
            if spec.name == "s3":
                return Identity.nobody(), None, None
            raise sigv4.missing_auth_error(style)
        akid = signed.credential.access_key
        key = self.store.get_access_key(akid)
        if key is None or getattr(key, "status", "Active") != "Active":
            if self.settings.strict_credentials or key is not None:
                raise sigv4.unknown_key_error(style, akid)
            return self._unknown_key_identity(akid), signed, None
        payload_hash = self._payload_hash(request, signed, spec)
        sigv4.verify(
            signed,
            secret_key=key.secret_access_key,
            method=request.method,
            raw_path=request.raw_path,
            raw_query=request.raw_query,
            headers=request.headers,
            payload_hash=payload_hash,
            now=self.clock.now(),
            style=style,
        )
        return _identity(key), signed, key.secret_access_key

    def _quick(
        self, request: HttpRequest, auth: str, spec: ServiceSpec
    ) -> tuple[Identity, sigv4.SignedRequest, str] | None:
        """A request signed in its header as every SDK signs it, checked in two
        calls (``sigv4.quick_parse`` and ``quick_check``); None for anything
        else, which the full parse and verify then answer (errors included)."""
        query = request.query
        if query and (
            "X-Amz-Algorithm" in query or ("AWSAccessKeyId" in query and "Signature" in query)
        ):
            return None
        style = spec.error_style
        parsed = sigv4.quick_parse(auth, request.headers, style)
        if parsed is None:
            return None
        signed = parsed[0]
        key = self.store.get_access_key(signed.credential.access_key)
        if key is None or getattr(key, "status", "Active") != "Active":
            return None
        secret: str = key.secret_access_key
        if not sigv4.quick_check(
            parsed,
            secret_key=secret,
            method=request.method,
            raw_path=request.raw_path,
            raw_query=request.raw_query,
            headers=request.headers,
            payload_hash=self._payload_hash(request, signed, spec),
            now=self.clock.now(),
            style=style,
        ):
            return None
        return _identity(key), signed, secret

    def _authenticate_v2(self, request: HttpRequest, signed: sigv2.SignedV2) -> Identity:
        key = self.store.get_access_key(signed.access_key)
        if key is None or getattr(key, "status", "Active") != "Active":
            if self.settings.strict_credentials or key is not None:
                raise sigv4.unknown_key_error("s3", signed.access_key)
            return self._unknown_key_identity(signed.access_key)
        path = request.raw_path
        if request.virtual_bucket:
            path = f"/{request.virtual_bucket}{path}"
        sigv2.verify(
            signed,
            secret_key=key.secret_access_key,
            method=request.method,
            resource_path=path,
            raw_query=request.raw_query,
            headers=request.headers,
            now=self.clock.now(),
        )
        return _identity(key)

    def _unknown_key_identity(self, akid: str) -> Identity:
        account = akid if len(akid) == 12 and akid.isdigit() else self.settings.default_account
        return _identity_of(account, akid, None, None)  # (Identity.root, kept)

    @staticmethod
    def _payload_hash(
        request: HttpRequest, signed: sigv4.SignedRequest, spec: ServiceSpec
    ) -> str:
        if signed.payload_hash is not None:
            return signed.payload_hash
        declared = request.headers.get("x-amz-content-sha256")
        if declared:
            return declared
        if not request.body:
            return EMPTY_SHA256
        return hashlib.sha256(request.body).hexdigest()


def _identity(key: Any) -> Identity:
    """The caller an access key names (kept per key's fields: an Identity is
    frozen, and building one costs more than the dict lookup)."""
    user = getattr(key, "user_name", None)
    return _identity_of(key.account_id, key.access_key_id, user,
                        getattr(key, "user_id", None) if user else None)


@lru_cache(maxsize=4096)
def _identity_of(account: str, access_key_id: str, user: str | None,
                 user_id: str | None) -> Identity:
    if user:
        return Identity(
            account,
            f"arn:aws:iam::{account}:user/{user}",
            user_id or access_key_id,
            access_key_id,
            "user",
            user,
        )
    return Identity.root(account, access_key_id)


def header_map(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
