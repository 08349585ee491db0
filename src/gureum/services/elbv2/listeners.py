"""Listeners and their rules: create/describe/modify/delete, rule priorities."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from .actions import ActionSupport
from .certs import imported, self_signed
from .core import (
    LISTENER,
    RULE,
    Doc,
    check_arn,
    check_port,
    check_tags,
    new_hex,
    page,
    validation,
)
from .limits import LISTENERS_PER_LB, RULES_PER_ALB
from .policies import DEFAULT_SSL_POLICY, check_policy

ALB_PROTOCOLS = ("HTTP", "HTTPS")
NLB_PROTOCOLS = ("TCP", "TLS", "UDP", "TCP_UDP")


class ListenerOperations(ActionSupport):
    def _protocol(self, lb: Doc, protocol: Any) -> str:
        allowed = ALB_PROTOCOLS if lb["type"] == "application" else NLB_PROTOCOLS
        if protocol is None:
            return allowed[0]
        if protocol not in allowed:
            raise AWSError("UnsupportedProtocol",
                           f"Protocol '{protocol}' is not supported by a {lb['type']} "
                           "load balancer")
        if protocol not in ("HTTP", "HTTPS", "TCP"):
            raise AWSError("UnsupportedProtocol", f"Protocol '{protocol}' is not supported here")
        return str(protocol)

    def create_listener(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        tags = check_tags(params.get("Tags"))
        with self.store.tx():
            lb = self.lb(call, params.get("LoadBalancerArn", ""))
            protocol = self._protocol(lb, params.get("Protocol"))
            port = check_port(params.get("Port"))
            actions = self.normalize_actions(call, lb, params.get("DefaultActions"))
            others = self.listeners_of(call, lb["arn"])
            for other in others:
                if other["port"] == port:
                    if other["protocol"] == protocol and other["default_actions"] == actions:
                        return {"Listeners": [self.render_listener(other)]}
                    raise AWSError("DuplicateListener",
                                   f"A listener already exists on port {port}")
            if len(others) >= LISTENERS_PER_LB:
                raise AWSError("TooManyListeners", "A load balancer can have at most "
                               f"{LISTENERS_PER_LB} listeners")
            lb_path = lb["arn"].split(":loadbalancer/", 1)[1]
            hexid = new_hex()
            doc: Doc = {
                "arn": lb["arn"].replace(":loadbalancer/", ":listener/") + "/" + hexid,
                "default_rule": lb["arn"].split(":loadbalancer/")[0]
                + f":listener-rule/{lb_path}/{hexid}/{new_hex()}",
                "account": call.account, "region": call.region, "lb": lb["arn"],
                "port": port, "protocol": protocol, "default_actions": actions, "tags": tags,
            }
            self._tls(lb, doc, params)
            self.put(LISTENER, doc)
        self.wake(lb["arn"])
        return {"Listeners": [self.render_listener(doc)]}

    def _tls(self, lb: Doc, doc: Doc, params: dict[str, Any]) -> None:
        """An HTTPS listener's certificates and policy. It serves the
        certificate imported into ACM or uploaded to IAM that it names (which
        must exist), or else (another ARN; what is no ARN is not found) a
        self-signed certificate for the load balancer's name (``certs``)."""
        if doc["protocol"] != "HTTPS":
            for key in ("certificates", "ssl_policy", "pem"):
                doc.pop(key, None)
            return
        given = params.get("Certificates")
        if given is not None or not doc.get("certificates"):
            arns = [c.get("CertificateArn") for c in given or [] if isinstance(c, dict)]
            if not arns or not all(isinstance(a, str) and a for a in arns):
                raise validation("A certificate must be specified for HTTPS listeners")
            first = str(arns[0])
            not_arn = not first.startswith("arn:") or len(first.split(":", 5)) != 6
            missing = first.startswith(("arn:aws:acm:", "arn:aws:iam:")) \
                and imported(self.store, first) is None
            if not_arn or missing:
                raise AWSError("CertificateNotFound", f"Certificate '{first}' not found")
            # (the new default; the SNI certificates added to it stay)
            doc["certificates"] = [first, *(a for a in (doc.get("certificates") or [])[1:]
                                            if a != first)]
        policy = params.get("SslPolicy")
        if policy is not None:
            check_policy(policy)
        doc["ssl_policy"] = policy or doc.get("ssl_policy") or DEFAULT_SSL_POLICY
        if not doc.get("pem"):
            doc["pem"] = self_signed(lb["dns"], self.now())

    @staticmethod
    def render_listener(doc: Doc) -> dict[str, Any]:
        out = {"ListenerArn": doc["arn"], "LoadBalancerArn": doc["lb"], "Port": doc["port"],
               "Protocol": doc["protocol"], "DefaultActions": doc["default_actions"]}
        if doc.get("certificates"):
            # (only the default: the others are DescribeListenerCertificates')
            out["Certificates"] = [{"CertificateArn": doc["certificates"][0]}]
            out["SslPolicy"] = doc["ssl_policy"]
        return out

    def describe_listeners(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("ListenerArns"):
            docs = [self.listener(call, a) for a in dict.fromkeys(params["ListenerArns"])]
        elif params.get("LoadBalancerArn"):
            docs = self.listeners_of(call, self.lb(call, params["LoadBalancerArn"])["arn"])
        else:
            raise validation("A load balancer ARN or listener ARNs must be specified")
        items, marker = page(docs, params)
        out: dict[str, Any] = {"Listeners": [self.render_listener(d) for d in items]}
        if marker:
            out["NextMarker"] = marker
        return out

    def modify_listener(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.listener(call, params.get("ListenerArn", ""))
            lb = self.lb(call, doc["lb"])
            if params.get("Protocol"):
                doc["protocol"] = self._protocol(lb, params["Protocol"])
            if params.get("Port") is not None:
                port = check_port(params["Port"])
                if any(o["port"] == port and o["arn"] != doc["arn"]
                       for o in self.listeners_of(call, lb["arn"])):
                    raise AWSError("DuplicateListener",
                                   f"A listener already exists on port {port}")
                doc["port"] = port
            if params.get("DefaultActions"):
                doc["default_actions"] = self.normalize_actions(call, lb,
                                                                params["DefaultActions"])
            self._tls(lb, doc, params)
            self.put(LISTENER, doc)
        self.wake(lb["arn"])
        return {"Listeners": [self.render_listener(doc)]}

    def delete_listener(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self.listener(call, params.get("ListenerArn", ""))
            for rule in self.rules_of(call, doc["arn"]):
                self.store.resources.delete(RULE, call.account, call.region, rule["arn"])
            self.store.resources.delete(LISTENER, call.account, call.region, doc["arn"])
        self.wake(doc["lb"])
        return {}

    # -- rules ------------------------------------------------------------

    def _priority(self, value: Any) -> int:
        if not isinstance(value, int) or not 1 <= value <= 50000:
            raise validation(f"Priority '{value}' must be between 1 and 50000")
        return value

    def create_rule(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        tags = check_tags(params.get("Tags"))
        with self.store.tx():
            lst = self.listener(call, params.get("ListenerArn", ""))
            lb = self.lb(call, lst["lb"])
            if lb["type"] != "application":
                raise validation("Rules are only for application load balancer listeners")
            priority = self._priority(params.get("Priority"))
            conditions = self.normalize_conditions(params.get("Conditions"))
            actions = self.normalize_actions(call, lb, params.get("Actions"))
            rules = self.rules_of(call, lst["arn"])
            if any(r["priority"] == priority for r in rules):
                raise AWSError("PriorityInUse", f"Priority '{priority}' is currently in use")
            of_lb = {o["arn"] for o in self.listeners_of(call, lb["arn"])}
            if sum(r["listener"] in of_lb for r in self.all(call, RULE)) >= RULES_PER_ALB:
                raise AWSError("TooManyRules", "A load balancer can have at most "
                               f"{RULES_PER_ALB} rules")
            doc: Doc = {
                "arn": lst["default_rule"].rsplit("/", 1)[0] + "/" + new_hex(),
                "account": call.account, "region": call.region, "listener": lst["arn"],
                "priority": priority, "conditions": conditions, "actions": actions,
                "tags": tags,
            }
            self.put(RULE, doc)
        self.wake(lb["arn"])
        return {"Rules": [self.render_rule(doc)]}

    @staticmethod
    def render_rule(doc: Doc) -> dict[str, Any]:
        return {"RuleArn": doc["arn"], "Priority": str(doc["priority"]),
                "Conditions": doc["conditions"], "Actions": doc["actions"],
                "IsDefault": doc["priority"] == "default"}

    def _default_rule(self, lst: Doc) -> Doc:
        return {"arn": lst["default_rule"], "priority": "default", "conditions": [],
                "actions": lst["default_actions"], "listener": lst["arn"]}

    def _rule(self, call: Call, rule_arn: str) -> Doc:
        doc = self.get(call, RULE, check_arn(call, rule_arn, "listener-rule"))
        if doc is not None:
            return doc
        for lst in self.all(call, LISTENER):
            if lst["default_rule"] == rule_arn:
                return self._default_rule(lst)
        raise AWSError("RuleNotFound", f"One or more rules not found: '{rule_arn}'")

    def describe_rules(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("RuleArns"):
            docs = [self._rule(call, a) for a in dict.fromkeys(params["RuleArns"])]
        elif params.get("ListenerArn"):
            lst = self.listener(call, params["ListenerArn"])
            docs = [*self.rules_of(call, lst["arn"]), self._default_rule(lst)]
        else:
            raise validation("A listener ARN or rule ARNs must be specified")
        size = params.get("PageSize") or 400
        marker = params.get("Marker")
        if marker not in (None, "") and not (isinstance(marker, str) and marker.isdecimal()
                                       and len(marker) < 9 and int(marker) <= len(docs)):
            raise validation(f"Invalid pagination token: {marker}")
        start = int(marker or 0)
        items = docs[start:start + size]
        out: dict[str, Any] = {"Rules": [self.render_rule(d) for d in items]}
        if start + size < len(docs):
            out["NextMarker"] = str(start + size)
        return out

    def modify_rule(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._rule(call, params.get("RuleArn", ""))
            lst = self.listener(call, doc["listener"])
            lb = self.lb(call, lst["lb"])
            if params.get("Conditions"):
                if doc["priority"] == "default":
                    raise AWSError("OperationNotPermitted",
                                   "The default rule cannot have conditions")
                doc["conditions"] = self.normalize_conditions(params["Conditions"])
            if params.get("Actions"):
                doc["actions"] = self.normalize_actions(call, lb, params["Actions"])
            if doc["priority"] == "default":
                lst["default_actions"] = doc["actions"]
                self.put(LISTENER, lst)
            else:
                self.put(RULE, doc)
        self.wake(lb["arn"])
        return {"Rules": [self.render_rule(doc)]}

    def set_rule_priorities(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        changes = params.get("RulePriorities") or []
        with self.store.tx():
            docs = []
            for change in changes:
                doc = self._rule(call, change.get("RuleArn", ""))
                if doc["priority"] == "default":
                    raise AWSError("OperationNotPermitted",
                                   "The priority of the default rule cannot be changed")
                doc["priority"] = self._priority(change.get("Priority"))
                docs.append(doc)
            changed = {d["arn"] for d in docs}
            for lst_arn in {d["listener"] for d in docs}:
                taken = [d["priority"] for d in docs if d["listener"] == lst_arn]
                taken += [r["priority"] for r in self.rules_of(call, lst_arn)
                          if r["arn"] not in changed]
                if len(taken) != len(set(taken)):
                    raise AWSError("PriorityInUse", "A priority is used by more than one rule")
            for doc in docs:
                self.put(RULE, doc)
        for lst_arn in {d["listener"] for d in docs}:
            self.wake(self.listener(call, lst_arn)["lb"])
        return {"Rules": [self.render_rule(d) for d in docs]}

    def delete_rule(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._rule(call, params.get("RuleArn", ""))
            if doc["priority"] == "default":
                raise AWSError("OperationNotPermitted", "The default rule cannot be deleted")
            self.store.resources.delete(RULE, call.account, call.region, doc["arn"])
        self.wake(self.listener(call, doc["listener"])["lb"])
        return {}
