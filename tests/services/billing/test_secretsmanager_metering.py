"""Secrets Manager on the meter with the fake clock: $0.40 per secret-month
prorated by the hour (each hour or partial hour stored bills 1/hours of the
month), nothing while the secret is marked for deletion, and $0.05 per 10,000
successful API calls."""

from __future__ import annotations

import pytest

from gureum.errors import AWSError
from gureum.services.secretsmanager import SecretsManager

from .conftest import Harness, price

SECRETS = "AWSSecretsManager-Secrets"
CALLS = "AWSSecretsManager-APIRequest"
MARCH_HOURS = 31 * 24


def test_secret_hours_and_api_calls(h: Harness) -> None:
    sm = SecretsManager(h.env)
    h.advance(1800, tick_every=600)  # 00:30
    h.run(sm, "create_secret", Name="db", SecretString="s3cret")
    h.advance(7200, tick_every=600)  # 02:30: hours 00, 01 and 02 begun
    for _ in range(3):
        assert h.run(sm, "get_secret_value", SecretId="db")["SecretString"] == "s3cret"
    h.run(sm, "delete_secret", SecretId="db", RecoveryWindowInDays=7)
    with pytest.raises(AWSError):  # a call that fails is not billed
        h.run(sm, "get_secret_value", SecretId="db")
    h.advance(5 * 3600, tick_every=600)  # 07:30: marked for deletion, not charged
    assert h.totals(SECRETS)[SECRETS][0] == pytest.approx(3 / MARCH_HOURS)
    h.run(sm, "restore_secret", SecretId="db")
    h.advance(3600, tick_every=600)  # 08:30: hours 07 and 08 again
    qty, cost = h.totals(SECRETS)[SECRETS]
    assert qty == pytest.approx(5 / MARCH_HOURS)
    assert cost == pytest.approx(5 / MARCH_HOURS * 0.40)
    assert price("AWSSecretsManager", SECRETS) == 0.40
    qty, cost = h.totals(CALLS)[CALLS]
    assert qty == 6  # create, 3 gets, delete, restore
    assert cost == pytest.approx(6 * 0.05 / 10000)


def test_a_secret_deleted_for_good_stops_costing(h: Harness) -> None:
    sm = SecretsManager(h.env)
    h.run(sm, "create_secret", Name="tmp", SecretString="x")
    h.advance(600, tick_every=60)
    h.run(sm, "delete_secret", SecretId="tmp", ForceDeleteWithoutRecovery=True)
    h.advance(10 * 3600, tick_every=600)
    assert h.totals(SECRETS)[SECRETS][0] == pytest.approx(1 / MARCH_HOURS)
