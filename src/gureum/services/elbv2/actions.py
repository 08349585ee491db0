"""Listener and rule actions and rule conditions: validated and normalized to
the shapes DescribeListeners/DescribeRules answer."""

from __future__ import annotations

import ipaddress
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from .core import TG, Doc, ELBv2Core, check_arn, default_vpc_id, validation
from .limits import CONDITION_VALUES_PER_RULE, TARGET_GROUPS_PER_ACTION
from .targetgroups import HTTP_PROTOCOLS

CONDITION_CONFIGS = {
    "path-pattern": "PathPatternConfig",
    "host-header": "HostHeaderConfig",
    "http-header": "HttpHeaderConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "query-string": "QueryStringConfig",
    "source-ip": "SourceIpConfig",
}


class ActionSupport(ELBv2Core):
    def normalize_actions(self, call: Call, lb: Doc, actions: Any) -> list[Doc]:
        if not actions:
            raise validation("At least one action must be specified")
        out: list[Doc] = []
        for n, action in enumerate(actions, start=1):
            kind = action.get("Type")
            norm: Doc = {"Type": kind, "Order": action.get("Order") or n}
            if kind == "forward":
                groups = list((action.get("ForwardConfig") or {}).get("TargetGroups") or [])
                if action.get("TargetGroupArn"):
                    if groups and [g["TargetGroupArn"] for g in groups] != [
                            action["TargetGroupArn"]]:
                        raise validation("You cannot specify both a target group ARN and "
                                         "a different forward configuration")
                    groups = groups or [{"TargetGroupArn": action["TargetGroupArn"]}]
                if not groups:
                    raise validation("A forward action needs a target group")
                if len(groups) > TARGET_GROUPS_PER_ACTION:
                    raise validation("A forward action can have at most "
                                     f"{TARGET_GROUPS_PER_ACTION} target groups")
                config = []
                for g in groups:
                    tg = self.get(call, TG, check_arn(call, g.get("TargetGroupArn"),
                                                      "targetgroup"))
                    if tg is None:
                        raise AWSError("TargetGroupNotFound",
                                       f"Target groups '{g.get('TargetGroupArn')}' not found")
                    if any(a != lb["arn"] for a in self.lbs_of_tg(call, tg["arn"])):
                        raise AWSError("TargetGroupAssociationLimit",
                                       "The following target groups cannot be associated with "
                                       f"more than one load balancer: {tg['arn']}")
                    lb_vpc = lb["subnets"][0].get("VpcId") or default_vpc_id(
                        lb["account"], lb["region"])
                    if tg["vpc"] != lb_vpc:
                        raise AWSError("InvalidConfigurationRequest",
                                       f"Target group '{tg['arn']}' is in a different VPC "
                                       f"than load balancer '{lb['arn']}'")
                    http = tg["protocol"] in HTTP_PROTOCOLS
                    if http != (lb["type"] == "application"):
                        raise AWSError("IncompatibleProtocols",
                                       f"Target group protocol '{tg['protocol']}' is not "
                                       f"compatible with a {lb['type']} load balancer")
                    weight = g.get("Weight", 1)
                    if not 0 <= int(weight) <= 999:
                        raise validation("Target group weights must be between 0 and 999")
                    config.append({"TargetGroupArn": tg["arn"], "Weight": int(weight)})
                sticky = (action.get("ForwardConfig") or {}).get("TargetGroupStickinessConfig")
                duration = (sticky or {}).get("DurationSeconds")
                if duration is not None and not 1 <= int(duration) <= 604800:
                    raise validation("Target group stickiness duration must be between 1 and "
                                     "604800 seconds")
                norm["ForwardConfig"] = {"TargetGroups": config,
                                         "TargetGroupStickinessConfig":
                                             sticky or {"Enabled": False}}
                if len(config) == 1:
                    norm["TargetGroupArn"] = config[0]["TargetGroupArn"]
            elif kind in ("redirect", "fixed-response"):
                if lb["type"] != "application":
                    raise AWSError("InvalidLoadBalancerAction",
                                   f"Action type '{kind}' is only for application load "
                                   "balancers")
                if kind == "redirect":
                    norm["RedirectConfig"] = self._redirect(action.get("RedirectConfig"))
                else:
                    norm["FixedResponseConfig"] = self._fixed(action.get("FixedResponseConfig"))
            else:
                raise validation(f"Action type '{kind}' is not supported")
            out.append(norm)
        out.sort(key=lambda a: int(a["Order"]))
        terminal = [a for a in out if a["Type"] in ("forward", "redirect", "fixed-response")]
        if len(terminal) != 1 or terminal[0] is not out[-1]:
            raise AWSError("InvalidLoadBalancerAction",
                           "Exactly one forward, redirect or fixed-response action must be "
                           "last")
        return out

    @staticmethod
    def _redirect(cfg: Any) -> Doc:
        if not cfg or cfg.get("StatusCode") not in ("HTTP_301", "HTTP_302"):
            raise validation("A redirect needs a StatusCode of HTTP_301 or HTTP_302")
        out = {"Protocol": cfg.get("Protocol", "#{protocol}"), "Port": cfg.get("Port", "#{port}"),
               "Host": cfg.get("Host", "#{host}"), "Path": cfg.get("Path", "/#{path}"),
               "Query": cfg.get("Query", "#{query}"), "StatusCode": cfg["StatusCode"]}
        if out["Protocol"] not in ("HTTP", "HTTPS", "#{protocol}"):
            raise validation("Redirect protocol must be HTTP, HTTPS or #{protocol}")
        port = str(out["Port"])
        if port != "#{port}" and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise validation("Redirect port must be #{port} or between 1 and 65535")
        if out["Path"] and not out["Path"].startswith("/"):
            raise validation("Redirect path must start with '/'")
        return out

    @staticmethod
    def _fixed(cfg: Any) -> Doc:
        code = str((cfg or {}).get("StatusCode", ""))
        if not (len(code) == 3 and code[0] in "245" and code.isdigit()):
            raise validation("A fixed response needs a 2XX, 4XX or 5XX status code")
        out = {"StatusCode": code, "ContentType": cfg.get("ContentType", "text/plain")}
        if cfg.get("MessageBody") is not None:
            if len(cfg["MessageBody"]) > 1024:
                raise validation("A fixed response body is at most 1024 characters")
            out["MessageBody"] = cfg["MessageBody"]
        if out["ContentType"] not in ("text/plain", "text/css", "text/html",
                                      "application/javascript", "application/json"):
            raise validation(f"Content type '{out['ContentType']}' is not valid")
        return out

    @staticmethod
    def normalize_conditions(conditions: Any) -> list[Doc]:
        if not conditions:
            raise validation("A rule must have at least one condition")
        out: list[Doc] = []
        fields: set[str] = set()
        total = 0
        for cond in conditions:
            field = cond.get("Field")
            if field not in CONDITION_CONFIGS:
                raise validation(f"Condition field '{field}' is not supported")
            key = CONDITION_CONFIGS[field]
            config = dict(cond.get(key) or {})
            values = list(cond.get("Values") or [])
            norm: Doc = {"Field": field}
            if field in ("path-pattern", "host-header"):
                if values and config.get("Values") and values != list(config["Values"]):
                    # (the same in both is what DescribeRules shows: sent back, it is taken)
                    raise validation(f"A {field} condition takes Values or {key}, not both")
                values = values or list(config.get("Values") or [])
                if field == "host-header" and field in fields:
                    raise validation("A rule can have only one host-header condition")
                norm["Values"] = values
                norm[key] = {"Values": values}
            elif field == "http-header":
                name = config.get("HttpHeaderName")
                values = list(config.get("Values") or [])
                if not name:
                    raise validation("An http-header condition needs HttpHeaderName")
                norm[key] = {"HttpHeaderName": name, "Values": values}
            elif field == "http-request-method":
                values = list(config.get("Values") or [])
                for v in values:
                    if not v or not all(c.isupper() or c in "-_" for c in v):
                        raise validation(f"'{v}' is not a valid HTTP request method")
                norm[key] = {"Values": values}
            elif field == "query-string":
                pairs = list(config.get("Values") or [])
                values = [f"{p.get('Key', '')}={p.get('Value', '')}" for p in pairs]
                if any(not p.get("Value") for p in pairs):
                    raise validation("Each query-string condition needs a Value")
                norm[key] = {"Values": pairs}
            else:  # source-ip
                values = list(config.get("Values") or [])
                for v in values:
                    try:
                        ipaddress.ip_network(v, strict=False)
                    except ValueError as exc:
                        raise validation(f"'{v}' is not a valid CIDR block") from exc
                norm[key] = {"Values": values}
            if not values:
                raise validation(f"A {field} condition needs at least one value")
            total += len(values)
            fields.add(field)
            out.append(norm)
        if total > CONDITION_VALUES_PER_RULE:
            raise validation("A rule can have at most "
                             f"{CONDITION_VALUES_PER_RULE} condition values")
        return out
