"""The identity an access key names is kept per the key's fields: the same
key gives an equal (and the same) Identity, and any change of its account,
user or user id gives the new one."""

from __future__ import annotations

from dataclasses import dataclass

from gureum.gateway.auth import _identity
from gureum.services.base import Identity


@dataclass
class Key:
    access_key_id: str
    account_id: str
    user_name: str | None = None
    user_id: str | None = None


def test_a_root_key_names_its_account_root() -> None:
    key = Key("AKIAROOT0000000001", "123456789012")
    assert _identity(key) == Identity.root("123456789012", "AKIAROOT0000000001")
    assert _identity(key) is _identity(key)


def test_a_user_key_names_its_user_and_follows_changes() -> None:
    key = Key("AKIAUSER0000000001", "123456789012", "alice", "AIDAALICE")
    first = _identity(key)
    assert first == Identity("123456789012", "arn:aws:iam::123456789012:user/alice",
                             "AIDAALICE", "AKIAUSER0000000001", "user", "alice")
    key.user_name = "bob"
    assert _identity(key).arn == "arn:aws:iam::123456789012:user/bob"
    key.user_id = None
    assert _identity(key).user_id == "AKIAUSER0000000001"  # no user id: the key's
    key.account_id = "210987654321"
    assert _identity(key).account_id == "210987654321"
    key.user_name, key.user_id, key.account_id = "alice", "AIDAALICE", "123456789012"
    assert _identity(key) == first
