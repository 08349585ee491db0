"""Fixtures shared by every test: a real gureum per test session; and the
groups that keep tests of one kind of host resource on one worker when the
suite runs on several (``pytest -n 3 --dist loadgroup``, as ``make pytest``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.testing.server import RunningGureum, running_gureum


@pytest.fixture(scope="session")
def gureum() -> Iterator[RunningGureum]:
    """One real gureum process for the session (tests must not depend on each
    other's state: use unique names, or the ``fresh`` fixture)."""
    with running_gureum() as server:
        yield server


@pytest.fixture(autouse=True)
def _release_network_claims(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test, its gureums' claims on instance networks are released if
    their data directory was in the test's tmp_path: pytest keeps those
    directories (its last three runs), and a claim stays while its directory
    exists, so each such test would hold one of the host's 16 ranges until
    then. (Runs last: every gureum of the test has stopped.)"""
    if "tmp_path" not in request.fixturenames:
        yield
        return
    tmp = str(request.getfixturevalue("tmp_path"))  # (now: it outlives this fixture)
    yield
    claims = Path("/run/gureum/networks")
    for claim in claims.glob("*") if claims.is_dir() else ():
        with contextlib.suppress(OSError):
            owner = claim.read_text().strip()
            if owner == tmp or owner.startswith(tmp + "/"):
                claim.unlink()


@pytest.fixture
def fresh(gureum: RunningGureum) -> RunningGureum:
    """The session's gureum, wiped before the test."""
    gureum.reset()
    return gureum


# Tests that drive the same kind of real resource run one after another on one
# worker; the groups run side by side (their gureums claim separate networks,
# hosts-file blocks and cgroups), and the unit tests fill the other workers.
GROUPS = {
    "instances": ("e2e/test_ec2", "e2e/test_instance_names", "e2e/test_cli_ec2",
                  "e2e/test_cloudwatch_ec2", "e2e/test_console", "e2e/test_reset_cleanup",
                  "drivers/compute"),
    "scaling": ("e2e/test_autoscaling",),
    # Their backends listen on fixed loopback addresses: one at a time.
    "balancers": ("e2e/test_elb", "e2e/test_billing_elb", "drivers/proxy"),
    "engines": ("e2e/test_rds", "e2e/test_elasticache", "e2e/test_billing_rds",
                "e2e/test_data_tier", "drivers/postgres", "drivers/mysql", "drivers/redis"),
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups from the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.nodeid.removeprefix("tests/")
        for group, prefixes in GROUPS.items():
            if path.startswith(prefixes):
                item.add_marker(pytest.mark.xdist_group(group))
                break
        else:
            if path.startswith("e2e/"):
                # One worker per end-to-end module: its tests may share a gureum
                # (a module fixture) and build on what the earlier ones made.
                item.add_marker(pytest.mark.xdist_group(path.split("::", 1)[0]))
