"""What every ELBv2 operation module shares: store kinds, ARNs, lookups with
AWS's errors, validation helpers and waking the data-plane loop."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from gureum.drivers.proxy import ProxyDriver
from gureum.errors import AWSError

from ..base import Call, Env, Service
from ..common import tags as tagutil
from ..common.pagination import paginate

LB = "elbv2:loadbalancer"
TG = "elbv2:targetgroup"
LISTENER = "elbv2:listener"
RULE = "elbv2:rule"
ADDRESS = "elbv2:address"  # a load balancer's address in one of its subnets
LOOP = "elbv2-loadbalancers"
DRIVER_KEY = "elbv2.proxy"  # Env.extras: a ProxyDriver to use instead of the host's
SERVICE = "elasticloadbalancing"
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?")

Doc = dict[str, Any]


def validation(message: str) -> AWSError:
    return AWSError("ValidationError", message)


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise validation(
            f"{what} name '{name}' must be 1-32 alphanumeric characters or hyphens, "
            "and must not begin or end with a hyphen")
    return name


def check_port(port: Any) -> int:
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise validation(f"Port '{port}' must be between 1 and 65535")
    return port


def check_tags(given: Any) -> dict[str, str]:
    """Tags given to a create or AddTags, with ELB's errors: a key twice is
    DuplicateTagKeys, more than 50 TooManyTags."""
    keys = [t.get("Key") for t in given or [] if isinstance(t, dict)]
    twice = sorted({str(k) for k in keys if keys.count(k) > 1})
    if twice:
        raise AWSError("DuplicateTagKeys", f"Tag key '{twice[0]}' was specified more than once")
    if len(keys) > tagutil.MAX_TAGS:
        raise AWSError("TooManyTags", f"A resource can have at most {tagutil.MAX_TAGS} tags")
    return tagutil.to_dict(given, "ValidationError")


def new_hex() -> str:
    return secrets.token_hex(8)


def arn(call: Call, resource: str) -> str:
    return f"arn:aws:{SERVICE}:{call.region}:{call.account}:{resource}"


def arn_scope(text: str) -> tuple[str, str] | None:
    """(account, region) of an ELB ARN, or None when it is not one."""
    parts = text.split(":", 5) if isinstance(text, str) else []
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != SERVICE:
        return None
    return parts[4], parts[3]


# What each kind of ELB ARN names after ``arn:aws:elasticloadbalancing:<region>:<account>:``
# (the ids after the name are checked by lookup, not by shape).
_ARN_SHAPES = {
    "loadbalancer": ("load balancer", re.compile(r"loadbalancer/(app|net|gwy)/[^/]+/[^/]+")),
    "targetgroup": ("target group", re.compile(r"targetgroup/[^/]+/[^/]+")),
    "listener": ("listener", re.compile(r"listener/(app|net|gwy)/[^/]+/[^/]+/[^/]+")),
    "listener-rule": ("listener rule",
                      re.compile(r"listener-rule/(app|net|gwy)/[^/]+/[^/]+/[^/]+/[^/]+")),
}


def check_arn(call: Call, value: Any, kind: str) -> str:
    """``value`` if it is an ARN of ``kind`` (a key of ``_ARN_SHAPES``) in the
    caller's account and region. Else AWS's ValidationError ("'...' is not a
    valid load balancer ARN"), which AWS also answers for an ARN of another
    region or account; a well-formed ARN of nothing is the caller's NotFound."""
    what, shape = _ARN_SHAPES[kind]
    text = value if isinstance(value, str) else ""
    if arn_scope(text) != (call.account, call.region) \
            or not shape.fullmatch(text.split(":", 5)[5]):
        raise validation(f"'{'' if value is None else value}' is not a valid {what} ARN")
    return text


def proxy_name(lb: Doc) -> str:
    """The data plane's name for a load balancer (no AWS words in the driver)."""
    return "lb-" + hashlib.sha256(lb["arn"].encode()).hexdigest()[:16]


def backend_name(tg_arn: str) -> str:
    return hashlib.sha256(tg_arn.encode()).hexdigest()[:16]


def default_vpc_id(account: str, region: str) -> str:
    # The same derivation as EC2's default VPC (services/ec2/vpc.py).
    return "vpc-" + hashlib.sha256(f"{account}|{region}|default".encode()).hexdigest()[:17]


def default_subnet_id(account: str, region: str, zone: str) -> str:
    return "subnet-" + hashlib.sha256(f"{account}|{region}|{zone}".encode()).hexdigest()[:17]


def page(items: list[Doc], params: dict[str, Any], key: str = "arn"
         ) -> tuple[list[Doc], str | None]:
    size = params.get("PageSize")
    return paginate(items, params.get("Marker"), size, key=lambda d: str(d[key]),
                    default_limit=400, max_limit=400, error_code="ValidationError")


def name_page(names: list[str], params: dict[str, Any]) -> tuple[int, int, str | None]:
    """The page ``[start, end)`` of ``names`` that ``params``' PageSize and
    Marker ask for, and the marker of the next page (None after the last).
    For short fixed listings, whose marker is the next page's first name."""
    size = params.get("PageSize")
    if size is not None and (not isinstance(size, int) or not 1 <= size <= 400):
        raise validation(f"Page size '{size}' must be between 1 and 400")
    marker = params.get("Marker")
    start = 0
    if marker not in (None, ""):
        if not (isinstance(marker, str) and marker in names):
            raise validation(f"Invalid pagination token: {marker}")
        start = names.index(marker)
    end = start + (size or 400)
    return start, end, names[end] if end < len(names) else None


def make_driver(env: Env) -> ProxyDriver:
    given = env.extras.get(DRIVER_KEY)
    if given is not None:
        driver: ProxyDriver = given
        return driver
    from gureum.drivers.proxy import BuiltinDriver, HAProxyDriver, available

    choice = env.settings.proxy_driver
    if choice == "haproxy" or (choice == "auto" and available()):
        if not available():
            raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
        return HAProxyDriver(env.settings.data_dir / "elbv2")
    if choice not in ("auto", "builtin"):
        raise RuntimeError(f"unknown proxy driver {choice!r}: haproxy, builtin or auto")
    return BuiltinDriver(env.settings.data_dir / "elbv2")


class ELBv2Core(Service):
    """State and helpers of the ELBv2 service; operations live in mixins."""

    kinds = (LB, TG, LISTENER, RULE, ADDRESS)

    def __init__(self, env: Env) -> None:
        super().__init__(env)
        self._driver: ProxyDriver | None = None

    @property
    def driver(self) -> ProxyDriver:
        if self._driver is None:
            self._driver = make_driver(self.env)
        return self._driver

    @property
    def store(self) -> Any:
        return self.env.store

    def now(self) -> float:
        now: float = self.env.clock.now()
        return now

    def wake(self, lb_arn: str, after: float = 0.0) -> None:
        if LOOP in self.env.loops:
            self.env.loops.wake(LOOP, lb_arn, after=after)

    def put(self, kind: str, doc: Doc) -> None:
        self.store.resources.put(kind, doc["account"], doc["region"], doc["arn"], doc)

    def all(self, call: Call, kind: str) -> list[Doc]:
        docs: list[Doc] = self.store.resources.list(kind, call.account, call.region)
        return docs

    def get(self, call: Call, kind: str, arn_: str) -> Doc | None:
        if not isinstance(arn_, str):
            return None
        doc: Doc | None = self.store.resources.get(kind, call.account, call.region, arn_)
        return doc

    def lb(self, call: Call, lb_arn: str) -> Doc:
        doc = self.get(call, LB, check_arn(call, lb_arn, "loadbalancer"))
        if doc is None:
            raise AWSError("LoadBalancerNotFound", f"Load balancer '{lb_arn}' not found")
        return doc

    def tg(self, call: Call, tg_arn: str) -> Doc:
        doc = self.get(call, TG, check_arn(call, tg_arn, "targetgroup"))
        if doc is None:
            raise AWSError("TargetGroupNotFound", f"Target groups '{tg_arn}' not found")
        return doc

    def listener(self, call: Call, listener_arn: str) -> Doc:
        doc = self.get(call, LISTENER, check_arn(call, listener_arn, "listener"))
        if doc is None:
            raise AWSError("ListenerNotFound", f"Listener '{listener_arn}' not found")
        return doc

    def listeners_of(self, call: Call, lb_arn: str) -> list[Doc]:
        return [d for d in self.all(call, LISTENER) if d["lb"] == lb_arn]

    def rules_of(self, call: Call, listener_arn: str) -> list[Doc]:
        return sorted((d for d in self.all(call, RULE) if d["listener"] == listener_arn),
                      key=lambda d: int(d["priority"]))

    def actions_tgs(self, actions: list[Doc]) -> list[str]:
        """Target group ARNs an action list forwards to."""
        out: list[str] = []
        for a in actions:
            if a.get("Type") != "forward":
                continue
            if a.get("TargetGroupArn"):
                out.append(a["TargetGroupArn"])
            for t in (a.get("ForwardConfig") or {}).get("TargetGroups") or []:
                out.append(t["TargetGroupArn"])
        return list(dict.fromkeys(out))

    def lbs_of_tg(self, call: Call, tg_arn: str) -> list[str]:
        """ARNs of the load balancers whose listeners or rules forward to a group."""
        lbs: list[str] = []
        listeners = {d["arn"]: d for d in self.all(call, LISTENER)}
        for lst in listeners.values():
            if tg_arn in self.actions_tgs(lst["default_actions"]):
                lbs.append(lst["lb"])
        for rule in self.all(call, RULE):
            if tg_arn in self.actions_tgs(rule["actions"]) and rule["listener"] in listeners:
                lbs.append(listeners[rule["listener"]]["lb"])
        return list(dict.fromkeys(lbs))
