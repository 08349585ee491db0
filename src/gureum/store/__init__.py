"""The store: gureum's source of truth for desired state and records.

SQLite (WAL) in the data dir, versioned migrations, transactions, and the
repositories services use: generic resources, meta key-values, access keys.

    store = Store.open(settings.data_dir / "gureum.db")
    with store.tx():
        store.resources.put("ec2:instance", account, region, instance_id, doc)
"""

from gureum.store.db import Store
from gureum.store.errors import StoreError
from gureum.store.keys import AccessKey
from gureum.store.migrations import MIGRATIONS, Migration, register_migration
from gureum.store.repo import Document, Resources

DB_FILENAME = "gureum.db"

__all__ = [
    "DB_FILENAME",
    "MIGRATIONS",
    "AccessKey",
    "Document",
    "Migration",
    "Resources",
    "Store",
    "StoreError",
    "register_migration",
]
