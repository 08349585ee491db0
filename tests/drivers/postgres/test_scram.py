"""SCRAM-SHA-256 verifiers in PostgreSQL's stored format (RFC 7677 values)."""

from __future__ import annotations

import base64

from gureum.drivers.postgres import verifier


def test_verifier_format_and_values() -> None:
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    v = verifier("pencil", salt=salt)
    # The StoredKey/ServerKey of RFC 7677's example user "user"/"pencil".
    assert v == ("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                 "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
                 "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")


def test_salts_differ() -> None:
    assert verifier("same-password") != verifier("same-password")
