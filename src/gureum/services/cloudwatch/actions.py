"""Alarm actions: a registry of handlers by ARN prefix.

Other services connect here: Auto Scaling registers ``arn:aws:autoscaling:``
(its policies), EC2 ``arn:aws:automate:`` (stop/terminate/reboot). An action
with no handler is recorded in the alarm's history as not delivered.

    registry(env).register("arn:aws:autoscaling:", run_policy)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..base import Env

EXTRA_KEY = "cloudwatch.actions"


@dataclass(frozen=True)
class ActionContext:
    """What a handler is told: which action, for which alarm and transition."""

    action: str
    account: str
    region: str
    alarm: dict[str, Any]
    old_state: str
    new_state: str
    timestamp: float


# A handler returns a short message for the history, or raises to report failure.
ActionHandler = Callable[[ActionContext], Awaitable[str | None]]


@dataclass(frozen=True)
class Delivery:
    action: str
    delivered: bool
    message: str


class ActionRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, ActionHandler] = {}

    def register(self, prefix: str, handler: ActionHandler) -> None:
        """Handle every action ARN starting with ``prefix`` (the longest prefix wins)."""
        self._handlers[prefix] = handler

    def unregister(self, prefix: str) -> None:
        self._handlers.pop(prefix, None)

    def handler_for(self, action: str) -> ActionHandler | None:
        matches = [p for p in self._handlers if action.startswith(p)]
        return self._handlers[max(matches, key=len)] if matches else None

    async def deliver(self, ctx: ActionContext) -> Delivery:
        handler = self.handler_for(ctx.action)
        if handler is None:
            return Delivery(ctx.action, False,
                            f"Action {ctx.action} was not delivered: no handler for it")
        try:
            message = await handler(ctx)
        except Exception as exc:  # a failing handler is recorded, never fatal
            return Delivery(ctx.action, False,
                            f"Failed to execute action {ctx.action}. Received error: {exc}")
        return Delivery(ctx.action, True,
                        message or f"Successfully executed action {ctx.action}")


def registry(env: Env) -> ActionRegistry:
    """The registry of this gureum (one per ``Env``)."""
    found = env.extras.get(EXTRA_KEY)
    if not isinstance(found, ActionRegistry):
        found = env.extras[EXTRA_KEY] = ActionRegistry()
    return found
