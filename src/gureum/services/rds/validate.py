"""Input checks shared by the operations, with RDS's error codes and wording."""

from __future__ import annotations

import re
import time
from typing import Any

from gureum.errors import AWSError

RESERVED_USERS = {"postgres", "rdsadmin", "rdsrepladmin", "rds_superuser", "admin_user",
                  "public", "pg_monitor", "all", "user", "select", "table"}
RESERVED_DBNAMES = {"postgres", "template0", "template1", "rdsadmin", "select", "table",
                    "user", "all"}
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_BAD_PASSWORD = re.compile(r"[/\"@ ]|[^\x21-\x7e]")


def invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterValue", message)


def combination(message: str) -> AWSError:
    return AWSError("InvalidParameterCombination", message)


def master_username(value: Any) -> str:
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise invalid("The parameter MasterUsername is not a valid identifier. MasterUsername "
                      "must be 1 to 63 letters or numbers and begin with a letter.")
    if value.lower() in RESERVED_USERS:
        raise invalid(f"MasterUsername {value} cannot be used as it is a reserved word used "
                      f"by the engine")
    return value


def password(value: Any, name: str = "MasterUserPassword") -> str:
    if not isinstance(value, str) or not 8 <= len(value) <= 128:
        raise invalid(f"The parameter {name} is not a valid password because it is shorter "
                      f"than 8 characters.")
    if _BAD_PASSWORD.search(value):
        raise invalid(f"The parameter {name} is not a valid password. Only printable ASCII "
                      f"characters besides '/', '@', '\"', ' ' may be used.")
    return value


def db_name(value: Any) -> str:
    if not isinstance(value, str) or not _WORD.fullmatch(value):
        raise invalid("DBName must begin with a letter and contain only alphanumeric "
                      "characters and underscores, up to 63 characters.")
    if value.lower() in RESERVED_DBNAMES:
        raise invalid(f"DatabaseName {value} cannot be used as it is a reserved word used "
                      f"by the engine")
    return value


def port(value: Any, default: int = 5432) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or not 1150 <= value <= 65535:
        raise invalid(f"Invalid port {value}: it must be between 1150 and 65535")
    return value


def retention(value: Any, default: int = 1) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or not 0 <= value <= 35:
        raise invalid("Invalid backup retention period: it must be a value from 0 to 35")
    return value


def storage(value: Any, engine: str = "postgres") -> int:
    if not isinstance(value, int):
        raise invalid("Invalid storage size for engine name postgres and storage type gp2: "
                      f"{value}")
    if not 20 <= value <= 65536:
        raise invalid(f"Invalid storage size for engine name {engine} and storage type gp2: "
                      f"{value}")
    return value


def engine_version(value: Any, installed: str, engine: str = "postgres") -> str:
    if value is None or value == "":
        return installed
    if not isinstance(value, str):
        raise invalid("EngineVersion must be a string")
    major = installed.split(".")[0]
    if value in (major, installed) or value.startswith(major + "."):
        return installed
    raise combination(f"Cannot find version {value} for {engine}")


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def in_window(window: str, now: float) -> bool:
    """Whether ``now`` (epoch seconds) falls in a weekly UTC window
    ``ddd:hh:mm-ddd:hh:mm`` (a window may wrap past Sunday midnight)."""

    def minute(text: str) -> int:
        day, hh, mm = text.split(":")
        return DAYS.index(day) * 24 * 60 + int(hh) * 60 + int(mm)

    try:
        start, end = (minute(part) for part in window.split("-"))
    except ValueError:
        return False
    t = time.gmtime(now)
    current = t.tm_wday * 24 * 60 + t.tm_hour * 60 + t.tm_min
    if start <= end:
        return start <= current < end
    return current >= start or current < end


def in_daily_window(window: str, now: float) -> bool:
    """Whether ``now`` falls in a daily UTC window ``hh:mm-hh:mm`` (it may
    wrap past midnight)."""
    try:
        start, end = (int(p[:2]) * 60 + int(p[3:5]) for p in window.split("-"))
    except ValueError:
        return False
    t = time.gmtime(now)
    current = t.tm_hour * 60 + t.tm_min
    if start <= end:
        return start <= current < end
    return current >= start or current < end


def window(value: Any, name: str, default: str) -> str:
    if value is None:
        return default
    pattern = r"\d\d:\d\d-\d\d:\d\d" if name == "PreferredBackupWindow" else \
        r"[a-z]{3}:\d\d:\d\d-[a-z]{3}:\d\d:\d\d"
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise invalid(f"Invalid {name} format: {value}")
    return value
