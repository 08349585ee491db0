"""AWS's predefined TLS security policies (``ELBSecurityPolicy-*``) and
DescribeSSLPolicies.

A listener's ``SslPolicy`` names one of these; its protocols and ciphers
become the proxy's TLS settings (``tls_settings``): a client offering only
a protocol or ciphers outside the policy is refused, as on AWS. Ciphers are
OpenSSL's names, as AWS lists them; TLS 1.3 suites are ``TLS_*``.
"""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call
from .core import name_page, validation

DEFAULT_SSL_POLICY = "ELBSecurityPolicy-2016-08"

_TLS13 = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
_ECDHE_GCM = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
              "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384")
_ECDHE_12 = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
             "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
             "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
             "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384")
_ECDHE_ALL = ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
              "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
              "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
              "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
              "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384",
              "ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA")
_RSA_12 = ("AES128-GCM-SHA256", "AES128-SHA256", "AES256-GCM-SHA384", "AES256-SHA256")
_RSA_ALL = ("AES128-GCM-SHA256", "AES128-SHA256", "AES128-SHA",
            "AES256-GCM-SHA384", "AES256-SHA256", "AES256-SHA")
_V10 = ("TLSv1", "TLSv1.1", "TLSv1.2")
_LEGACY = _ECDHE_ALL + _RSA_ALL  # ELBSecurityPolicy-2016-08's list
# ELBSecurityPolicy-2015-05: 2016-08's list with DHE-RSA-AES128-SHA after the
# ECDHE AES128 ones (botocore's DescribeSSLPolicies example gives it whole)
_2015 = (*_ECDHE_ALL[:6], "DHE-RSA-AES128-SHA", *_ECDHE_ALL[6:], *_RSA_ALL)

# name -> (protocols, ciphers in priority order), as AWS documents them.
# Sources: the ELB user guide's "Security policies for your Application Load
# Balancer" (which policy holds which protocol and cipher), botocore's
# DescribeSSLPolicies example (ELBSecurityPolicy-2015-05, whole, and the order
# of the ECDHE-RSA-AES256-SHA / ECDHE-ECDSA-AES256-SHA pair) and the AWS CLI's
# describe-ssl-policies examples (the names an Application Load Balancer
# offers; ELBSecurityPolicy-TLS13-1-2-2021-06's ciphers in priority order).
# The -Ext1/-Ext2-2021-06 lists follow the guide's table as moto's
# elbv2/ssl_policies.py transcribes it (that file orders the AES256-SHA pair
# the other way round from botocore's example; botocore's order is kept).
# The FIPS and post-quantum (PQ) policies are left out: their cipher lists are
# not given whole in those sources.
POLICIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ELBSecurityPolicy-TLS13-1-3-2021-06": (("TLSv1.3",), _TLS13),
    "ELBSecurityPolicy-TLS13-1-2-2021-06": (("TLSv1.2", "TLSv1.3"), _TLS13 + _ECDHE_12),
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06": (("TLSv1.2", "TLSv1.3"), _TLS13 + _ECDHE_GCM),
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06": (("TLSv1.2", "TLSv1.3"),
                                                 _TLS13 + _ECDHE_12 + _RSA_12),
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06": (("TLSv1.2", "TLSv1.3"), _TLS13 + _LEGACY),
    "ELBSecurityPolicy-TLS13-1-1-2021-06": (("TLSv1.1", "TLSv1.2", "TLSv1.3"),
                                            _TLS13 + _LEGACY),
    "ELBSecurityPolicy-TLS13-1-0-2021-06": (("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
                                            _TLS13 + _LEGACY),
    "ELBSecurityPolicy-2016-08": (_V10, _LEGACY),
    "ELBSecurityPolicy-2015-05": (_V10, _2015),
    "ELBSecurityPolicy-TLS-1-0-2015-04": (_V10, (*_LEGACY, "DES-CBC3-SHA")),
    "ELBSecurityPolicy-TLS-1-1-2017-01": (("TLSv1.1", "TLSv1.2"), _LEGACY),
    "ELBSecurityPolicy-TLS-1-2-2017-01": (("TLSv1.2",), _ECDHE_12 + _RSA_12),
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": (("TLSv1.2",), _LEGACY),
    "ELBSecurityPolicy-FS-2018-06": (_V10, _ECDHE_ALL),
    "ELBSecurityPolicy-FS-1-1-2019-08": (("TLSv1.1", "TLSv1.2"), _ECDHE_ALL),
    "ELBSecurityPolicy-FS-1-2-2019-08": (("TLSv1.2",), _ECDHE_ALL),
    "ELBSecurityPolicy-FS-1-2-Res-2019-08": (("TLSv1.2",), _ECDHE_12),
    "ELBSecurityPolicy-FS-1-2-Res-2020-10": (("TLSv1.2",), _ECDHE_GCM),
}
LB_TYPES = ("application", "network")


def check_policy(name: Any) -> str:
    if name not in POLICIES:
        raise AWSError("SSLPolicyNotFound", f"SSL policy '{name}' not found")
    return str(name)


def tls_settings(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(protocols, ciphers) a listener with policy ``name`` accepts."""
    return POLICIES.get(name) or POLICIES[DEFAULT_SSL_POLICY]


def render_policy(name: str) -> dict[str, Any]:
    protocols, ciphers = POLICIES[name]
    return {"Name": name, "SslProtocols": list(protocols),
            "Ciphers": [{"Name": c, "Priority": n} for n, c in enumerate(ciphers, start=1)],
            "SupportedLoadBalancerTypes": list(LB_TYPES)}


class PolicyOperations:
    def describe_ssl_policies(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        kind = params.get("LoadBalancerType")
        if kind is not None and kind not in (*LB_TYPES, "gateway"):
            raise validation(f"Load balancer type '{kind}' is not valid")
        names = params.get("Names") or []
        for name in names:
            check_policy(name)
        chosen = list(dict.fromkeys(names)) if names else list(POLICIES)
        if kind is not None and kind not in LB_TYPES:
            chosen = []
        start, end, after = name_page(chosen, params)
        out: dict[str, Any] = {"SslPolicies": [render_policy(n) for n in chosen[start:end]]}
        if after is not None:
            out["NextMarker"] = after
        return out
