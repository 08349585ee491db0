"""Lifecycle hooks: PutLifecycleHook, DescribeLifecycleHooks,
DeleteLifecycleHook, CompleteLifecycleAction, RecordLifecycleActionHeartbeat,
and the helpers the group loop uses to hold instances in ``Pending:Wait`` and
``Terminating:Wait``.

Hooks live in the group record (``hooks``: name → hook). When the group loop
sees a new instance running, or decides to terminate one, and the group has
hooks for that transition, ``begin`` records one pending action per hook on
the member (``actions``: name → deadline and default result) with a token.
The API completes actions; the loop asks ``waiting`` on each pass, which also
applies the default result of actions whose heartbeat or global timeout has
passed. An ABANDON ends every other action of the instance: a launching
instance is then terminated, a terminating one terminates at once.
"""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call, Env
from .core import need_group, new_uid, save_group, validation, wake

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
TRANSITIONS = (LAUNCHING, TERMINATING)
RESULTS = ("CONTINUE", "ABANDON")
DEFAULT_HEARTBEAT = 3600
MAX_GLOBAL = 172800  # 48 hours, or 100 heartbeats if less
MAX_HOOKS = 50
WAITS = {LAUNCHING: "Pending:Wait", TERMINATING: "Terminating:Wait"}
NOTIFICATION_TARGETS = ("arn:aws:sqs:", "arn:aws:sns:")


def begin(group: dict[str, Any], member: dict[str, Any], transition: str, now: float) -> bool:
    """Start the group's ``transition`` hooks on ``member``; False when it has none."""
    hooks = [h for h in (group.get("hooks") or {}).values()
             if h["LifecycleTransition"] == transition]
    if not hooks:
        return False
    member["actions"] = {
        h["LifecycleHookName"]: {"deadline": now + int(h["HeartbeatTimeout"]),
                                 "timeout": int(h["HeartbeatTimeout"]),
                                 "default": h["DefaultResult"]} for h in hooks}
    member["global_until"] = now + min(max(int(h["GlobalTimeout"]) for h in hooks), MAX_GLOBAL)
    member["token"] = new_uid()
    member["result"] = "CONTINUE"
    member["lifecycle"] = WAITS[transition]
    return True


def undelivered(group: dict[str, Any], transition: str) -> str:
    """What AWS would have notified when ``transition``'s hooks began, and gureum
    did not: it has no SQS, SNS or EventBridge to deliver to."""
    parts = []
    for h in sorted((group.get("hooks") or {}).values(),
                    key=lambda h: str(h["LifecycleHookName"])):
        if h["LifecycleTransition"] != transition:
            continue
        target = h.get("NotificationTargetARN")
        where = (f"to {target} (gureum has no Amazon SQS or SNS)" if target
                 else "to EventBridge (gureum has no EventBridge)")
        parts.append(f"Lifecycle hook {h['LifecycleHookName']}: the notification was not "
                     f"delivered {where}")
    if not parts:
        return ""
    return ("; ".join(parts) + ". Complete the action with CompleteLifecycleAction, or it "
            "ends with the hook's default result when its heartbeat timeout passes.")


def conclude(member: dict[str, Any], name: str, result: str) -> None:
    actions = member.get("actions") or {}
    actions.pop(name, None)
    if result == "ABANDON":
        member["result"] = "ABANDON"
        actions.clear()


def waiting(member: dict[str, Any], now: float) -> bool:
    """True while the member still waits for an action; applies timeouts first."""
    actions = member.get("actions") or {}
    past_global = now >= float(member.get("global_until") or 0.0)
    for name, action in sorted(actions.items()):
        if name in actions and (past_global or now >= float(action["deadline"])):
            conclude(member, name, action["default"])
    return bool(actions)


def make_hook(name: str, params: dict[str, Any],
              old: dict[str, Any] | None = None) -> dict[str, Any]:
    """A hook from PutLifecycleHook's parameters (or one entry of
    CreateAutoScalingGroup's ``LifecycleHookSpecificationList``) over ``old``."""
    if not 1 <= len(name) <= 255:
        raise validation("LifecycleHookName must be 1 to 255 characters")
    hook: dict[str, Any] = dict(old or {"LifecycleHookName": name,
                                        "HeartbeatTimeout": DEFAULT_HEARTBEAT,
                                        "DefaultResult": "ABANDON"})
    for key in ("LifecycleTransition", "RoleARN", "NotificationTargetARN",
                "NotificationMetadata", "HeartbeatTimeout", "DefaultResult"):
        if params.get(key) is not None:
            hook[key] = params[key]
    if hook.get("LifecycleTransition") not in TRANSITIONS:
        raise validation("LifecycleTransition must be one of " + ", ".join(TRANSITIONS))
    if hook["DefaultResult"] not in RESULTS:
        raise validation("DefaultResult must be CONTINUE or ABANDON")
    if not 30 <= int(hook["HeartbeatTimeout"]) <= 7200:
        raise validation("HeartbeatTimeout must be between 30 and 7200 seconds")
    target = str(hook.get("NotificationTargetARN") or "")
    if target and not target.startswith(NOTIFICATION_TARGETS):
        raise validation(f"Invalid notification target ARN {target}: use an Amazon SQS "
                         "queue or Amazon SNS topic")
    hook["GlobalTimeout"] = min(100 * int(hook["HeartbeatTimeout"]), MAX_GLOBAL)
    return hook


def specified_hooks(specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The hooks of CreateAutoScalingGroup's ``LifecycleHookSpecificationList``."""
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name = str(spec.get("LifecycleHookName") or "")
        if name in out:
            raise validation(f"Lifecycle hook {name} is specified more than once")
        if not spec.get("LifecycleTransition"):
            raise validation(f"LifecycleTransition is required for lifecycle hook {name}")
        out[name] = make_hook(name, spec)
    if len(out) > MAX_HOOKS:
        raise AWSError("LimitExceeded", f"Maximum number of lifecycle hooks ({MAX_HOOKS}) "
                       "reached for the group")
    return out


def render(group: dict[str, Any], hook: dict[str, Any]) -> dict[str, Any]:
    return {**hook, "AutoScalingGroupName": group["name"]}


class HookOperations:
    env: Env

    def put_lifecycle_hook(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("LifecycleHookName") or ""
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            hooks = group.setdefault("hooks", {})
            old = hooks.get(name)
            if old is None and len(hooks) >= MAX_HOOKS:
                raise AWSError("LimitExceeded", f"Maximum number of lifecycle hooks "
                               f"({MAX_HOOKS}) reached for the group")
            hooks[name] = make_hook(name, params, old)
            save_group(self.env, group)
        return {}

    def describe_lifecycle_hooks(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        group = need_group(self.env, call, params.get("AutoScalingGroupName"))
        names = params.get("LifecycleHookNames") or []
        hooks = (group.get("hooks") or {}).values()
        return {"LifecycleHooks": [render(group, h) for h in sorted(
            hooks, key=lambda h: str(h["LifecycleHookName"]))
            if not names or h["LifecycleHookName"] in names]}

    def describe_lifecycle_hook_types(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return {"LifecycleHookTypes": list(TRANSITIONS)}

    def delete_lifecycle_hook(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("LifecycleHookName") or ""
        with self.env.store.tx():
            group = need_group(self.env, call, params.get("AutoScalingGroupName"))
            hook = (group.get("hooks") or {}).pop(name, None)
            if hook is None:
                raise validation(f"No Lifecycle Hook found with name {name} for group "
                                 f"{group['name']}")
            # Outstanding actions end as AWS ends them: ABANDON when launching,
            # CONTINUE when terminating.
            result = "ABANDON" if hook["LifecycleTransition"] == LAUNCHING else "CONTINUE"
            for member in group["instances"].values():
                if name in (member.get("actions") or {}):
                    conclude(member, name, result)
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def _action(self, call: Call, params: dict[str, Any]) -> tuple[dict[str, Any],
                                                                   dict[str, Any], str]:
        name = params.get("LifecycleHookName") or ""
        group = need_group(self.env, call, params.get("AutoScalingGroupName"))
        if name not in (group.get("hooks") or {}):
            raise validation(f"No Lifecycle Hook found with name {name} for group "
                             f"{group['name']}")
        token, iid = params.get("LifecycleActionToken"), params.get("InstanceId")
        if not token and not iid:
            raise validation("Either LifecycleActionToken or InstanceId must be specified")
        for member in group["instances"].values():
            if (token and member.get("token") != token) or (iid and member["id"] != iid):
                continue
            if name in (member.get("actions") or {}):
                return group, member, name
        what = f"token {token}" if token else f"instance ID {iid}"
        raise validation(f"No active Lifecycle Action found with {what}")

    def complete_lifecycle_action(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        result = params.get("LifecycleActionResult")
        if result not in RESULTS:
            raise validation("LifecycleActionResult must be CONTINUE or ABANDON")
        with self.env.store.tx():
            group, member, name = self._action(call, params)
            conclude(member, name, result)
            save_group(self.env, group)
        wake(self.env, call.account, call.region, group["name"])
        return {}

    def record_lifecycle_action_heartbeat(self, call: Call,
                                          params: dict[str, Any]) -> dict[str, Any]:
        with self.env.store.tx():
            group, member, name = self._action(call, params)
            action = member["actions"][name]
            action["deadline"] = min(self.env.clock.now() + int(action["timeout"]),
                                     float(member["global_until"]))
            save_group(self.env, group)
        return {}
