"""The DB parameters gureum knows per engine family, as RDS lists them:
name, data type, allowed values, whether a change is applied live
(``dynamic``) or at the next reboot (``static``), and the default RDS shows
(a formula over ``DBInstanceClassMemory`` where RDS uses one).

Values are in the engine's own units, as in RDS (``work_mem`` in kB,
``shared_buffers`` in 8 kB pages): they go to the server's configuration
unchanged. The families are ``postgres<major>`` and ``<engine><major.minor>``
for MariaDB (``mariadb10.11``, and ``mysql10.11`` for the ``mysql`` engine
that MariaDB serves here).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

INT_MAX = 2147483647


def _integer(low: int, high: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return bool(re.fullmatch(r"-?\d+", value)) and low <= int(value) <= high
    return check


def _real(low: float, high: float) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            return low <= float(value) <= high
        except ValueError:
            return False
    return check


def _choice(*values: str) -> Callable[[str], bool]:
    return lambda value: value in values


def _text(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_,./:+\- \"$]{0,200}", value))


@dataclass(frozen=True)
class Parameter:
    name: str
    data_type: str  # integer, boolean, string, float, list
    allowed: str
    apply_type: str  # dynamic or static
    description: str
    valid: Callable[[str], bool]
    default: str | None = None  # what DescribeDBParameters shows when unset
    source: str = "engine-default"  # or "system": RDS sets it (a formula)
    modifiable: bool = True

    def render(self, value: str | None, user: bool, method: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ParameterName": self.name, "Description": self.description,
            "Source": "user" if user else self.source, "ApplyType": self.apply_type,
            "DataType": self.data_type, "AllowedValues": self.allowed,
            "IsModifiable": self.modifiable,
            "ApplyMethod": method or "pending-reboot",
        }
        shown = value if user else self.default
        if shown is not None:
            out["ParameterValue"] = shown
        return out


def _boolean(name: str, apply: str, description: str) -> Parameter:
    return Parameter(name, "boolean", "0,1", apply, description, _choice("0", "1", "on", "off"))


POSTGRES: dict[str, Parameter] = {p.name: p for p in (
    Parameter("work_mem", "integer", "64-2147483647", "dynamic", "(kB) Sets the maximum "
              "memory to be used for query workspaces.", _integer(64, INT_MAX)),
    Parameter("maintenance_work_mem", "integer", "1024-2147483647", "dynamic",
              "(kB) Sets the maximum memory to be used for maintenance operations.",
              _integer(1024, INT_MAX), "GREATEST({DBInstanceClassMemory*1024/63963136},65536)",
              "system"),
    Parameter("effective_cache_size", "integer", "1-2147483647", "dynamic",
              "(8kB) Sets the planner's assumption about the size of the disk cache.",
              _integer(1, INT_MAX), "{DBInstanceClassMemory/16384}", "system"),
    Parameter("statement_timeout", "integer", "0-2147483647", "dynamic",
              "(ms) Sets the maximum allowed duration of any statement.",
              _integer(0, INT_MAX)),
    Parameter("lock_timeout", "integer", "0-2147483647", "dynamic",
              "(ms) Sets the maximum allowed duration of any wait for a lock.",
              _integer(0, INT_MAX)),
    Parameter("idle_in_transaction_session_timeout", "integer", "0-2147483647", "dynamic",
              "(ms) Sets the maximum allowed duration of any idling transaction.",
              _integer(0, INT_MAX)),
    Parameter("deadlock_timeout", "integer", "1-2147483647", "dynamic",
              "(ms) Sets the time to wait on a lock before checking for deadlock.",
              _integer(1, INT_MAX)),
    Parameter("log_min_duration_statement", "integer", "-1-2147483647", "dynamic",
              "(ms) Sets the minimum execution time above which statements will be logged.",
              _integer(-1, INT_MAX)),
    Parameter("log_statement", "string", "none,ddl,mod,all", "dynamic",
              "Sets the type of statements logged.", _choice("none", "ddl", "mod", "all")),
    _boolean("log_connections", "dynamic", "Logs each successful connection."),
    _boolean("log_disconnections", "dynamic", "Logs end of a session, including duration."),
    _boolean("autovacuum", "dynamic", "Starts the autovacuum subprocess."),
    Parameter("random_page_cost", "float", "0-2147483647", "dynamic",
              "Sets the planner's estimate of the cost of a nonsequentially fetched disk "
              "page.", _real(0, INT_MAX)),
    Parameter("checkpoint_timeout", "integer", "30-86400", "dynamic",
              "(s) Sets the maximum time between automatic WAL checkpoints.",
              _integer(30, 86400)),
    Parameter("timezone", "string", "", "dynamic",
              "Sets the time zone for displaying and interpreting time stamps.", _text,
              "UTC", "system"),
    Parameter("search_path", "string", "", "dynamic",
              "Sets the schema search order for names that are not schema-qualified.", _text),
    Parameter("max_connections", "integer", "6-8388607", "static",
              "Sets the maximum number of concurrent connections.", _integer(6, 8388607),
              "LEAST({DBInstanceClassMemory/9531392},5000)", "system"),
    Parameter("shared_buffers", "integer", "16-1073741823", "static",
              "(8kB) Sets the number of shared memory buffers used by the server.",
              _integer(16, 1073741823), "{DBInstanceClassMemory/32768}", "system"),
    Parameter("max_locks_per_transaction", "integer", "10-2147483647", "static",
              "Sets the maximum number of locks per transaction.", _integer(10, INT_MAX)),
    Parameter("max_prepared_transactions", "integer", "0-8388607", "static",
              "Sets the maximum number of simultaneously prepared transactions.",
              _integer(0, 8388607)),
    Parameter("track_activity_query_size", "integer", "100-1048576", "static",
              "Sets the size reserved for pg_stat_activity.query, in bytes.",
              _integer(100, 1048576)),
    Parameter("listen_addresses", "string", "*", "static",
              "Sets the host name or IP address(es) to listen to.", _choice("*"),
              "*", "system", modifiable=False),
)}

MARIADB: dict[str, Parameter] = {p.name: p for p in (
    Parameter("max_connections", "integer", "1-100000", "dynamic",
              "The number of simultaneous client connections allowed.",
              _integer(1, 100000), "{DBInstanceClassMemory/12582880}", "system"),
    Parameter("wait_timeout", "integer", "1-31536000", "dynamic",
              "The number of seconds the server waits for activity on a connection before "
              "closing it.", _integer(1, 31536000)),
    Parameter("interactive_timeout", "integer", "1-31536000", "dynamic",
              "The number of seconds the server waits for activity on an interactive "
              "connection before closing it.", _integer(1, 31536000)),
    Parameter("long_query_time", "float", "0-31536000", "dynamic",
              "Defines what MySQL considers long queries.", _real(0, 31536000)),
    _boolean("slow_query_log", "dynamic", "Enable or disable the slow query log."),
    Parameter("sql_mode", "list", "", "dynamic", "Current SQL Server Mode.",
              lambda v: bool(re.fullmatch(r"[A-Z_]*(,[A-Z_]+)*", v))),
    Parameter("max_allowed_packet", "integer", "1024-1073741824", "dynamic",
              "The maximum size of one packet or any generated or intermediate string.",
              _integer(1024, 1073741824)),
    Parameter("innodb_lock_wait_timeout", "integer", "1-1073741824", "dynamic",
              "Timeout in seconds an innodb transaction may wait for a row lock before "
              "giving up.", _integer(1, 1073741824)),
    Parameter("table_open_cache", "integer", "1-524288", "dynamic",
              "The number of open tables for all threads.", _integer(1, 524288)),
    Parameter("tmp_table_size", "integer", "1024-18446744073709551615", "dynamic",
              "If an in-memory temporary table exceeds the limit, MySQL automatically converts"
              " it to an on-disk MyISAM table.", _integer(1024, 2**64 - 1)),
    Parameter("innodb_log_buffer_size", "integer", "262144-4294967295", "static",
              "The size in bytes of the buffer that InnoDB uses to write to the log files on "
              "disk.", _integer(262144, 4294967295)),
    _boolean("performance_schema", "static", "Enables or disables the Performance Schema."),
    Parameter("lower_case_table_names", "integer", "0,1", "static",
              "If set to 1, table names are stored in lowercase on disk.", _choice("0", "1"),
              modifiable=False),
)}


def family_of(engine: str, version: str) -> str:
    if engine == "postgres":
        return f"postgres{version.split('.')[0]}"
    return f"{engine}{'.'.join(version.split('.')[:2])}"


def catalog(family: str) -> dict[str, Parameter]:
    return POSTGRES if family.startswith("postgres") else MARIADB


def static_values(family: str, values: dict[str, str]) -> dict[str, str]:
    """The static parameters among a group's user values."""
    params = catalog(family)
    return {k: v for k, v in values.items() if k in params and
            params[k].apply_type == "static"}


def dynamic_names(family: str) -> list[str]:
    return sorted(n for n, p in catalog(family).items() if p.apply_type == "dynamic"
                  and p.modifiable)
