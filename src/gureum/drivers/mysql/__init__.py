"""MySQL-compatible engines (MariaDB): the real server driver and the
password hash its master users are created with. The contract is the one
``gureum.drivers.postgres.PostgresDriver`` states."""

from .server import MariaDBServers, find_mariadbd, native_hash

__all__ = ["MariaDBServers", "find_mariadbd", "native_hash"]
