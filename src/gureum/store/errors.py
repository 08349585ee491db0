"""``StoreError``: the store cannot be opened, migrated or used as asked."""

from __future__ import annotations


class StoreError(Exception):
    """A store failure with a one-line, human-readable message."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
