"""Fixtures shared by every test: a real gureum per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gureum.testing.server import RunningGureum, running_gureum


@pytest.fixture(scope="session")
def gureum() -> Iterator[RunningGureum]:
    """One real gureum process for the session (tests must not depend on each
    other's state: use unique names, or the ``fresh`` fixture)."""
    with running_gureum() as server:
        yield server


@pytest.fixture
def fresh(gureum: RunningGureum) -> RunningGureum:
    """The session's gureum, wiped before the test."""
    gureum.reset()
    return gureum
