"""A listener's SNI certificates (Describe/Add/RemoveListenerCertificates)
and attributes (Describe/ModifyListenerAttributes), and what of them the
data plane is told (``tls_of``, ``listener_idle``).

An HTTPS listener's ``certificates`` are its default certificate, then the
ones added for SNI (imported into ACM or uploaded to IAM): the proxy serves
each to a client asking by SNI for a name it holds, the default to others.
A TCP listener's ``tcp.idle_timeout.seconds`` is its proxy's idle timeout;
an HTTP(S) listener's ``routing.http.response.*.header_value`` attributes
are headers its proxy sets on every response; an HTTPS listener's
``x_amzn_tls_*.header_name`` name the TLS version and cipher request headers
its load balancer's attribute turns on. The others (the Server header turned
off, the mutual-TLS headers) are AWS's keys at AWS's defaults: gureum's
proxies do not do them, so another value is refused
(InvalidConfigurationRequest), never stored as if it were applied.
"""

from __future__ import annotations

import re
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from .certs import imported
from .core import LISTENER, Doc, name_page, validation
from .limits import CERTIFICATES_PER_LB
from .policies import tls_settings

TCP_IDLE = "tcp.idle_timeout.seconds"
TCP_IDLE_DEFAULT = "350"
_MTLS = ("serial_number", "issuer", "subject", "validity", "leaf")
TLS_HEADERS_ON = "routing.http.x_amzn_tls_version_and_cipher_suite.enabled"  # (the LB's)
TLS_VERSION_NAME = "routing.http.request.x_amzn_tls_version.header_name"
TLS_CIPHER_NAME = "routing.http.request.x_amzn_tls_cipher_suite.header_name"
_HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,40}")
HTTPS_KEYS: dict[str, str] = {
    **{f"routing.http.request.x_amzn_mtls_clientcert_{k}.header_name": "" for k in _MTLS},
    TLS_VERSION_NAME: "",
    TLS_CIPHER_NAME: "",
}
# routing.http.response.<key>.header_value -> the response header it sets
RESPONSE_HEADERS = {
    "strict_transport_security": "Strict-Transport-Security",
    "access_control_allow_origin": "Access-Control-Allow-Origin",
    "access_control_allow_methods": "Access-Control-Allow-Methods",
    "access_control_allow_headers": "Access-Control-Allow-Headers",
    "access_control_allow_credentials": "Access-Control-Allow-Credentials",
    "access_control_expose_headers": "Access-Control-Expose-Headers",
    "access_control_max_age": "Access-Control-Max-Age",
    "content_security_policy": "Content-Security-Policy",
    "x_content_type_options": "X-Content-Type-Options",
    "x_frame_options": "X-Frame-Options",
}
_METHODS = {"GET", "HEAD", "POST", "DELETE", "CONNECT", "OPTIONS", "PATCH", "PUT", "TRACE", "*"}
HTTP_KEYS: dict[str, str] = {
    "routing.http.response.server.enabled": "true",
    **{f"routing.http.response.{k}.header_value": "" for k in RESPONSE_HEADERS},
}


def attribute_defaults(protocol: str) -> dict[str, str]:
    """The attributes AWS defines for a listener of ``protocol``, with their defaults."""
    if protocol == "TCP":
        return {TCP_IDLE: TCP_IDLE_DEFAULT}
    if protocol == "HTTPS":
        return {**HTTPS_KEYS, **HTTP_KEYS}
    if protocol == "HTTP":
        return dict(HTTP_KEYS)
    return {}


def attributes_of(lst: Doc) -> dict[str, str]:
    given = lst.get("attributes") or {}
    return {k: given.get(k, v) for k, v in attribute_defaults(lst["protocol"]).items()}


def listener_idle(lst: Doc, lb_idle: float) -> float:
    """A listener's idle timeout: a TCP listener's own, else its load balancer's."""
    if lst["protocol"] == "TCP":
        return float(attributes_of(lst)[TCP_IDLE])
    return lb_idle


def response_headers(lst: Doc) -> tuple[tuple[str, str], ...]:
    """The headers an HTTP(S) listener's attributes set on every response."""
    if lst["protocol"] not in ("HTTP", "HTTPS"):
        return ()
    given = lst.get("attributes") or {}
    return tuple((header, given[key]) for name, header in RESPONSE_HEADERS.items()
                 if given.get(key := f"routing.http.response.{name}.header_value"))


def tls_of(store: Any, lst: Doc, lb_attributes: dict[str, str]) -> dict[str, Any]:
    """The TLS settings of an HTTPS listener's proxy: its policy's versions
    and ciphers, its SNI certificates' PEMs and, when its load balancer's
    ``routing.http.x_amzn_tls_version_and_cipher_suite.enabled``, the request
    headers telling the TLS version and cipher (named by its attributes)."""
    if not lst.get("pem"):
        return {}
    versions, ciphers = tls_settings(lst.get("ssl_policy") or "")
    pems = [imported(store, a) for a in (lst.get("certificates") or [])[1:]]
    out = {"tls_versions": versions, "ciphers": ciphers,
           "sni_certificates": tuple(p for p in pems if p is not None)}
    if lb_attributes.get(TLS_HEADERS_ON) == "true":
        given = lst.get("attributes") or {}
        out["tls_request_headers"] = (given.get(TLS_VERSION_NAME) or "X-Amzn-Tls-Version",
                                      given.get(TLS_CIPHER_NAME) or "X-Amzn-Tls-Cipher-Suite")
    return out


def _check_value(key: str, value: str, default: str) -> None:
    if key == TCP_IDLE:
        if not value.isdigit() or not 60 <= int(value) <= 6000:
            raise validation(f"'{key}' must be an integer between 60 and 6000")
        return
    if key.endswith(".enabled") and value not in ("true", "false"):
        raise validation(f"Listener attribute '{key}' must be 'true' or 'false'")
    if key in (TLS_VERSION_NAME, TLS_CIPHER_NAME) and value:
        if not _HEADER_NAME.fullmatch(value):
            raise validation(f"'{value}' is not a valid header name for '{key}'")
        return
    if key.endswith(".header_value") and value:
        _check_header(key.split(".")[3], value)
        return
    if value != default:
        raise AWSError("InvalidConfigurationRequest",
                       f"Listener attribute '{key}' can only be '{default}' here: "
                       "gureum's load balancers do not apply this attribute")


def _check_header(name: str, value: str) -> None:
    """A response header's value, as AWS validates it."""
    bad = (len(value) > 1024 or any(not (32 <= ord(c) < 127) for c in value)
           or (name == "x_content_type_options" and value != "nosniff")
           or (name == "access_control_allow_credentials" and value != "true")
           or (name == "access_control_max_age" and not value.isdigit())
           or (name == "x_frame_options" and value not in ("DENY", "SAMEORIGIN")
               and not value.startswith("ALLOW-FROM "))
           or (name == "access_control_allow_methods"
               and not {m.strip() for m in value.split(",")} <= _METHODS)
           or (name == "strict_transport_security" and "max-age=" not in value))
    if bad:
        raise validation(f"'{value}' is not a valid value for "
                         f"'routing.http.response.{name}.header_value'")


class ListenerExtraOperations:
    # (from ELBv2Core, which every operation mixin shares)
    listener: Any
    listeners_of: Any
    put: Any
    store: Any
    wake: Any

    # -- certificates -----------------------------------------------------

    @staticmethod
    def _certs_given(params: dict[str, Any]) -> list[str]:
        given = params.get("Certificates")
        arns = [c.get("CertificateArn") for c in given or [] if isinstance(c, dict)]
        if not arns or not all(isinstance(a, str) and a for a in arns):
            raise validation("At least one certificate ARN must be specified")
        return list(dict.fromkeys(str(a) for a in arns))

    def describe_listener_certificates(self, call: Call, params: dict[str, Any]
                                       ) -> dict[str, Any]:
        lst = self.listener(call, params.get("ListenerArn", ""))
        arns = list(lst.get("certificates") or [])
        start, end, after = name_page(arns, params)
        out: dict[str, Any] = {"Certificates": [
            {"CertificateArn": a, "IsDefault": a == arns[0]} for a in arns[start:end]]}
        if after is not None:
            out["NextMarker"] = after
        return out

    def add_listener_certificates(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            lst = self.listener(call, params.get("ListenerArn", ""))
            arns = self._certs_given(params)
            if lst["protocol"] != "HTTPS":
                raise validation("Certificates can only be added to HTTPS and TLS listeners")
            for a in arns:
                if imported(self.store, a) is None:
                    raise AWSError("CertificateNotFound", f"Certificate '{a}' not found")
            current = list(lst["certificates"])
            merged = current + [a for a in arns if a not in current]
            # (AWS's quota is per load balancer, its listeners' defaults not counted)
            others = sum(len((o.get("certificates") or [])[1:])
                         for o in self.listeners_of(call, lst["lb"]) if o["arn"] != lst["arn"])
            if others + len(merged) - 1 > CERTIFICATES_PER_LB:
                raise AWSError("TooManyCertificates", "A load balancer can have at most "
                               f"{CERTIFICATES_PER_LB} certificates besides its listeners' "
                               "default ones")
            lst["certificates"] = merged
            self.put(LISTENER, lst)
        self.wake(lst["lb"])
        return {"Certificates": [{"CertificateArn": a, "IsDefault": False}
                                 for a in merged[1:]]}

    def remove_listener_certificates(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        with self.store.tx():
            lst = self.listener(call, params.get("ListenerArn", ""))
            arns = self._certs_given(params)
            current = list(lst.get("certificates") or [])
            if current and current[0] in arns:
                raise AWSError("OperationNotPermitted",
                               "The default certificate of a listener cannot be removed")
            lst["certificates"] = [a for a in current if a not in arns]
            self.put(LISTENER, lst)
        self.wake(lst["lb"])
        return {}

    # -- attributes -------------------------------------------------------

    def describe_listener_attributes(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        lst = self.listener(call, params.get("ListenerArn", ""))
        return {"Attributes": [{"Key": k, "Value": v} for k, v in attributes_of(lst).items()]}

    def modify_listener_attributes(self, call: Call, params: dict[str, Any]
                                   ) -> dict[str, Any]:
        with self.store.tx():
            lst = self.listener(call, params.get("ListenerArn", ""))
            defaults = attribute_defaults(lst["protocol"])
            given = params.get("Attributes") or []
            if not given:
                raise validation("At least one attribute must be specified")
            changed = dict(lst.get("attributes") or {})
            for item in given:
                key, value = str(item.get("Key", "")), str(item.get("Value", ""))
                if key not in defaults:
                    raise validation(f"Listener attribute key '{key}' is not recognized "
                                     f"for a {lst['protocol']} listener")
                _check_value(key, value, defaults[key])
                changed[key] = value
            lst["attributes"] = changed
            self.put(LISTENER, lst)
        self.wake(lst["lb"])
        return {"Attributes": [{"Key": k, "Value": v} for k, v in attributes_of(lst).items()]}
