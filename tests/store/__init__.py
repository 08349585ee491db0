"""Helpers the store's tests (and the store's users' tests) share."""

from __future__ import annotations

import os

import pytest

from gureum.store import db as store_db


def counting_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The descriptors the store fdatasyncs from now on, in order (the syncs
    still happen)."""
    syncs: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(store_db.os, "fdatasync", fdatasync)
    return syncs
