"""What Secrets Manager bills, as AWS prices it (the bundled price list's
``AWSSecretsManager`` products):

- secrets, ``AWSSecretsManager-Secrets``: $0.40 per secret per month,
  prorated by the hour (each hour or partial hour a secret is stored bills
  ``1 / hours in the month`` secret-months). A secret marked for deletion is
  not charged (AWS: "There is no charge for secrets that you have marked for
  deletion"): it is billed up to the hour it was deleted in, and again from
  the hour it is restored. Secrets other services own (RDS's managed master
  passwords) are secrets like any other.
- API calls, ``AWSSecretsManager-APIRequest``: $0.05 per 10,000, each
  successful call of an operation counted (calls that fail, and what other
  services do to their own secrets without the API, are not).

The usage source only reads the secrets' records; ``metered`` wraps the
service's operations to count calls. Importing this module registers both.
"""

from __future__ import annotations

import functools
import inspect
import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from ..base import Call, Env
from ..billing import Gauge, count, register_source
from . import SecretsManager
from .records import KIND

SERVICE = "AWSSecretsManager"
SECRETS = "AWSSecretsManager-Secrets"
REQUESTS = "AWSSecretsManager-APIRequest"


class SecretsUsage:
    """The Secrets Manager usage source (see the module docstring)."""

    name = "secretsmanager"

    def gauges(self, conn: sqlite3.Connection, since: float, now: float) -> Iterable[Gauge]:
        rows = conn.execute("SELECT account, region, data FROM resources WHERE kind = ?",
                            (KIND,)).fetchall()
        for account, region, data in rows:
            doc: dict[str, Any] = json.loads(data)
            created = doc.get("created")
            deleted = doc.get("deleted")
            yield Gauge(account=account, region=region, service=SERVICE, usage_type=SECRETS,
                        resource=str(doc.get("arn", "")), amount=1.0, unit="Secrets",
                        operation="", hourly=True,
                        since=float(created) if isinstance(created, int | float) else None,
                        until=float(deleted) if isinstance(deleted, int | float) else None,
                        attrs={"tags": doc.get("tags") or {}})


def bill_request(env: Env, call: Call, operation: str) -> None:
    """Count one successful Secrets Manager API call."""
    if call.identity.anonymous:
        return
    count(env, call.account, call.region, SERVICE, REQUESTS, 1.0, operation=operation)


def _operation(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _wrap(fn: Callable[..., Any], operation: str) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(self: Any, call: Call, params: dict[str, Any]) -> Any:
            out = await fn(self, call, params)
            bill_request(self.env, call, operation)
            return out

        return run_async

    @functools.wraps(fn)
    def run(self: Any, call: Call, params: dict[str, Any]) -> Any:
        out = fn(self, call, params)
        bill_request(self.env, call, operation)
        return out

    return run


def metered(cls: type[SecretsManager]) -> type[SecretsManager]:
    """Wrap each operation of the service (a public method taking a call and
    its parameters) so that each successful call is counted."""
    for name, fn in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(fn) or getattr(fn, "__metered__",
                                                                          False):
            continue
        if list(inspect.signature(fn).parameters) != ["self", "call", "params"]:
            continue
        wrapped = _wrap(fn, _operation(name))
        wrapped.__metered__ = True  # type: ignore[attr-defined]
        setattr(cls, name, wrapped)
    return cls


register_source(SecretsUsage.name, SecretsUsage)
metered(SecretsManager)
