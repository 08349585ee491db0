"""What S3 bills as it happens: one request of its tier per operation, and the
bytes a GET sends. ``metered`` wraps every operation of the service class once,
so no operation has to remember to count itself; the same wrapper hands
each operation on a bucket to the service's ``note_access`` (server access
logging).

The bucket owner pays (as in AWS): ``owned`` notes the bucket it resolved in a
context variable that the wrapper reads after the operation; a call that never
reached a bucket is billed to the caller, and an anonymous one to nobody.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..base import Call, Env
from ..billing import meter_for, s3_request_usage_type
from ..billing.meter import SERVICE_CODES

GB = float(1 << 30)
TRANSFER_OUT = "DataTransfer-Out-Bytes"

# The bucket an operation resolved: [owner, region, name, its document] (one
# per request task).
_payer: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "s3_payer", default=None
)
SERVICE = SERVICE_CODES["s3"]
# Each operation's usage type (None: free), looked up once.
_usage_types: dict[str, str | None] = {}
# Operations that never change their bucket's document: the one they resolved
# tells whether the bucket logs its accesses (no second lookup).
_DATA_OPERATIONS = frozenset(("GetObject", "HeadObject", "PutObject"))

T = TypeVar("T")


def note_bucket(bucket: dict[str, Any]) -> None:
    """Record the bucket the current operation acts on (its owner pays)."""
    holder = _payer.get()
    if holder is not None and not holder:
        holder += (bucket["Owner"], bucket.get("Region") or "", bucket["Name"], bucket)


def bill(env: Env, call: Call, operation: str, holder: list[Any], out: Any) -> None:
    """Count ``operation`` (and the bytes a GET sends) for whoever pays."""
    if holder:
        account, region, resource = holder[0], holder[1] or call.region, holder[2]
    elif not call.identity.anonymous:
        account, region, resource = call.account, call.region, ""
    else:
        return
    try:
        usage = _usage_types[operation]
    except KeyError:
        usage = _usage_types[operation] = s3_request_usage_type(operation)
    meter = meter_for(env)
    if usage is not None:
        meter.count(account, region, SERVICE, usage, 1, resource=resource, operation=operation)
    if operation == "GetObject" and isinstance(out, dict) and out.get("Body") is not None:
        sent = int(out.get("ContentLength") or 0)
        if sent:
            meter.count(account, region, SERVICE, TRANSFER_OUT, sent / GB, resource=resource,
                        operation=operation, unit="GB")


def _is_operation(fn: Any) -> bool:
    if not callable(fn):
        return False
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return False
    return names == ["self", "call", "params"]


def _wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(self: Any, call: Call, params: dict[str, Any]) -> Any:
            if _payer.get() is not None:  # called by another operation: billed there
                return await fn(self, call, params)
            holder: list[Any] = []
            token = _payer.set(holder)
            out: Any = None
            failed: BaseException | None = None
            started = time.monotonic()
            try:
                out = await fn(self, call, params)
                return out
            except BaseException as exc:
                failed = exc
                raise
            finally:
                _payer.reset(token)
                bill(self.env, call, call.operation, holder, out)
                if holder and (call.operation not in _DATA_OPERATIONS or "Logging" in holder[3]):
                    self.note_access(call, params, holder[2], out, failed, started)

        return run_async

    @functools.wraps(fn)
    def run(self: Any, call: Call, params: dict[str, Any]) -> Any:
        if _payer.get() is not None:
            return fn(self, call, params)
        holder: list[Any] = []
        token = _payer.set(holder)
        out: Any = None
        failed: BaseException | None = None
        started = time.monotonic()
        try:
            out = fn(self, call, params)
            return out
        except BaseException as exc:
            failed = exc
            raise
        finally:
            _payer.reset(token)
            bill(self.env, call, call.operation, holder, out)
            if holder and (call.operation not in _DATA_OPERATIONS or "Logging" in holder[3]):
                self.note_access(call, params, holder[2], out, failed, started)

    return run


def metered(cls: type[T]) -> type[T]:
    """Wrap every operation (a method taking ``(call, params)``) of ``cls``."""
    for name in dir(cls):
        if name.startswith("_"):
            continue
        fn = getattr(cls, name)
        if _is_operation(fn) and not getattr(fn, "__metered__", False):
            wrapped = _wrap(fn)
            wrapped.__metered__ = True  # type: ignore[attr-defined]
            setattr(cls, name, wrapped)
    return cls
