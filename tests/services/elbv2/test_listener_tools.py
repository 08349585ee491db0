"""The operations tools call around listeners: DescribeSSLPolicies (and the
policy shaping the proxy's TLS settings), DescribeAccountLimits (agreeing
with what is enforced), listener certificates (SNI), listener attributes and
SetIpAddressType; with their errors. On the fake proxy driver: what the
proxy is told is read from the spec the data-plane loop builds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gureum.drivers.proxy.haproxy_config import render
from gureum.services.elbv2 import targetgroups
from gureum.services.elbv2.core import LB, RULE
from gureum.services.elbv2.limits import LIMITS

from .test_validation import C, World, in_world, refused

ACM = "arn:aws:acm:us-east-1:000000000000:certificate/"


def _acm(w: World, name: str) -> str:
    arn = ACM + name
    w.store.resources.put("acm:certificate", "000000000000", "us-east-1", arn, {
        "arn": arn, "certificate": f"CERT {name}\n", "chain": "", "key": f"KEY {name}\n"})
    return arn


def _https(w: World, **more: Any) -> tuple[str, dict[str, Any]]:
    elb = w.elb
    lb = elb.create_load_balancer(C, {"Name": "web"})["LoadBalancers"][0]
    tg = elb.create_target_group(C, {"Name": "tg", "Protocol": "HTTP", "Port": 80,
                                     "TargetType": "ip"})["TargetGroups"][0]
    lst = elb.create_listener(C, {
        "LoadBalancerArn": lb["LoadBalancerArn"], "Protocol": "HTTPS", "Port": 443,
        "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        **more})["Listeners"][0]
    return lb["LoadBalancerArn"], lst


def _spec_listener(w: World, lb_arn: str) -> Any:
    spec, _ = w.elb.build_spec(C, w.elb.get(C, LB, lb_arn))
    return spec.listeners[0]


def test_describe_ssl_policies(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        every = elb.describe_ssl_policies(C, {})["SslPolicies"]
        names = [p["Name"] for p in every]
        assert {"ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "ELBSecurityPolicy-TLS13-1-3-2021-06",
                "ELBSecurityPolicy-TLS-1-2-2017-01"} <= set(names)
        one = elb.describe_ssl_policies(C, {"Names": ["ELBSecurityPolicy-2016-08"]})
        [policy] = one["SslPolicies"]
        assert policy["SslProtocols"] == ["TLSv1", "TLSv1.1", "TLSv1.2"]
        assert policy["Ciphers"][0] == {"Name": "ECDHE-ECDSA-AES128-GCM-SHA256", "Priority": 1}
        assert policy["SupportedLoadBalancerTypes"] == ["application", "network"]
        tls13 = elb.describe_ssl_policies(C, {"Names": ["ELBSecurityPolicy-TLS13-1-3-2021-06"]})
        assert tls13["SslPolicies"][0]["SslProtocols"] == ["TLSv1.3"]
        assert all(c["Name"].startswith("TLS_") for c in tls13["SslPolicies"][0]["Ciphers"])
        refused("SSLPolicyNotFound", lambda p: elb.describe_ssl_policies(C, p),
                {"Names": ["ELBSecurityPolicy-2016-08", "NoSuchPolicy"]}, "NoSuchPolicy")
        assert elb.describe_ssl_policies(C, {"LoadBalancerType": "network"})[
            "SslPolicies"] == every
        assert elb.describe_ssl_policies(C, {"LoadBalancerType": "gateway"})[
            "SslPolicies"] == []
        first = elb.describe_ssl_policies(C, {"PageSize": 2})
        second = elb.describe_ssl_policies(C, {"PageSize": 400, "Marker": first["NextMarker"]})
        assert [p["Name"] for p in first["SslPolicies"] + second["SslPolicies"]] == names
        assert "NextMarker" not in second
        refused("ValidationError", lambda p: elb.describe_ssl_policies(C, p),
                {"Marker": "nonsense"})
    in_world(tmp_path, body)


def test_the_policy_shapes_the_proxy_tls(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        cert = _acm(w, "default")
        lb_arn, lst = _https(w, Certificates=[{"CertificateArn": cert}])
        assert lst["SslPolicy"] == "ELBSecurityPolicy-2016-08"
        spec_l = _spec_listener(w, lb_arn)
        assert spec_l.tls_versions == ("TLSv1", "TLSv1.1", "TLSv1.2")
        assert "AES128-SHA" in spec_l.ciphers
        w.elb.modify_listener(C, {"ListenerArn": lst["ListenerArn"],
                                  "SslPolicy": "ELBSecurityPolicy-TLS13-1-3-2021-06"})
        spec_l = _spec_listener(w, lb_arn)
        assert spec_l.tls_versions == ("TLSv1.3",)
        spec, _ = w.elb.build_spec(C, w.elb.get(C, LB, lb_arn))
        text = render(spec, tmp_path / "x.sock", tmp_path / "state")
        assert "ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3" in text
        assert "ciphersuites TLS_AES_128_GCM_SHA256:" in text
        refused("SSLPolicyNotFound", lambda p: w.elb.modify_listener(C, p),
                {"ListenerArn": lst["ListenerArn"], "SslPolicy": "ELBSecurityPolicy-Mine"})
    in_world(tmp_path, body)


def test_account_limits_agree_with_what_is_enforced(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        limits = {x["Name"]: int(x["Max"])
                  for x in elb.describe_account_limits(C, {})["Limits"]}
        assert limits["application-load-balancers"] == 50
        assert limits["target-groups"] == 3000
        assert limits["targets-per-application-load-balancer"] == 1000
        page = elb.describe_account_limits(C, {"PageSize": 3})
        assert len(page["Limits"]) == 3 and page["NextMarker"] == LIMITS[3][0]
        rest = elb.describe_account_limits(C, {"Marker": page["NextMarker"]})["Limits"]
        assert len(rest) == len(LIMITS) - 3

        lb_arn, lst = _https(w, Certificates=[{"CertificateArn": _acm(w, "d")}])
        forward = lst["DefaultActions"]
        cap = limits["listeners-per-application-load-balancer"]
        for port in range(1, cap):  # (one is there already)
            elb.create_listener(C, {"LoadBalancerArn": lb_arn, "Protocol": "HTTP",
                                    "Port": port, "DefaultActions": forward})
        refused("TooManyListeners", lambda p: elb.create_listener(C, p),
                {"LoadBalancerArn": lb_arn, "Protocol": "HTTP", "Port": 9999,
                 "DefaultActions": forward}, str(cap))
        # rules count per load balancer, over all its listeners
        listeners = elb.describe_listeners(C, {"LoadBalancerArn": lb_arn})["Listeners"]
        cap = limits["rules-per-application-load-balancer"]
        cond = [{"Field": "path-pattern", "Values": ["/x"]}]
        for n in range(cap):
            elb.create_rule(C, {"ListenerArn": listeners[n % 2]["ListenerArn"],
                                "Priority": n + 1, "Conditions": cond, "Actions": forward})
        assert len(w.store.resources.list(RULE)) == cap
        refused("TooManyRules", lambda p: elb.create_rule(C, p),
                {"ListenerArn": listeners[2]["ListenerArn"], "Priority": 1,
                 "Conditions": cond, "Actions": forward}, str(cap))
        many = [{"Field": "path-pattern", "Values": [f"/{i}" for i in range(
            limits["condition-values-per-alb-rule"] + 1)]}]
        refused("ValidationError", lambda p: elb.create_rule(C, p),
                {"ListenerArn": listeners[3]["ListenerArn"], "Priority": 1,
                 "Conditions": many, "Actions": forward})
    in_world(tmp_path, body)


def test_listener_certificates(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        default, second, third = _acm(w, "a"), _acm(w, "b"), _acm(w, "c")
        lb_arn, lst = _https(w, Certificates=[{"CertificateArn": default}])
        arn = lst["ListenerArn"]
        assert elb.describe_listener_certificates(C, {"ListenerArn": arn})["Certificates"] == [
            {"CertificateArn": default, "IsDefault": True}]
        added = elb.add_listener_certificates(C, {"ListenerArn": arn, "Certificates": [
            {"CertificateArn": second}, {"CertificateArn": third}]})["Certificates"]
        assert added == [{"CertificateArn": second, "IsDefault": False},
                         {"CertificateArn": third, "IsDefault": False}]
        elb.add_listener_certificates(C, {"ListenerArn": arn,  # (again: no change)
                                          "Certificates": [{"CertificateArn": second}]})
        got = elb.describe_listener_certificates(C, {"ListenerArn": arn})["Certificates"]
        assert [c["CertificateArn"] for c in got] == [default, second, third]
        assert elb.describe_listeners(C, {"ListenerArns": [arn]})["Listeners"][0][
            "Certificates"] == [{"CertificateArn": default}]
        assert _spec_listener(w, lb_arn).sni_certificates == (
            "CERT b\nKEY b\n", "CERT c\nKEY c\n")
        paged = elb.describe_listener_certificates(C, {"ListenerArn": arn, "PageSize": 1})
        assert paged["NextMarker"] == second

        refused("CertificateNotFound", lambda p: elb.add_listener_certificates(C, p),
                {"ListenerArn": arn, "Certificates": [{"CertificateArn": ACM + "none"}]})
        refused("ListenerNotFound", lambda p: elb.add_listener_certificates(C, p),
                {"ListenerArn": arn[:-4] + "beef", "Certificates": [
                    {"CertificateArn": second}]})
        refused("ValidationError", lambda p: elb.add_listener_certificates(C, p),
                {"ListenerArn": arn, "Certificates": []})
        refused("OperationNotPermitted", lambda p: elb.remove_listener_certificates(C, p),
                {"ListenerArn": arn, "Certificates": [{"CertificateArn": default}]})
        extra = [_acm(w, f"x{i}") for i in range(24)]
        refused("TooManyCertificates", lambda p: elb.add_listener_certificates(C, p),
                {"ListenerArn": arn, "Certificates": [{"CertificateArn": a} for a in extra]})
        # (the quota is the load balancer's: another listener's count too)
        lst2 = elb.create_listener(C, {
            "LoadBalancerArn": lb_arn, "Protocol": "HTTPS", "Port": 8443,
            "Certificates": [{"CertificateArn": default}],
            "DefaultActions": lst["DefaultActions"]})["Listeners"][0]["ListenerArn"]
        elb.add_listener_certificates(C, {"ListenerArn": lst2, "Certificates": [
            {"CertificateArn": a} for a in extra[:23]]})
        refused("TooManyCertificates", lambda p: elb.add_listener_certificates(C, p),
                {"ListenerArn": lst2, "Certificates": [{"CertificateArn": extra[23]}]})
        elb.delete_listener(C, {"ListenerArn": lst2})

        # a new default keeps the SNI certificates
        elb.modify_listener(C, {"ListenerArn": arn, "Certificates": [
            {"CertificateArn": third}]})
        got = elb.describe_listener_certificates(C, {"ListenerArn": arn})["Certificates"]
        assert got == [{"CertificateArn": third, "IsDefault": True},
                       {"CertificateArn": second, "IsDefault": False}]
        elb.remove_listener_certificates(C, {"ListenerArn": arn, "Certificates": [
            {"CertificateArn": second}]})
        assert _spec_listener(w, lb_arn).sni_certificates == ()
    in_world(tmp_path, body)


def test_listener_attributes_and_ip_address_type(tmp_path: Path) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        lb_arn, lst = _https(w, Certificates=[{"CertificateArn": _acm(w, "a")}])
        attrs = {a["Key"]: a["Value"] for a in elb.describe_listener_attributes(
            C, {"ListenerArn": lst["ListenerArn"]})["Attributes"]}
        assert attrs["routing.http.response.server.enabled"] == "true"
        assert attrs["routing.http.request.x_amzn_tls_version.header_name"] == ""
        assert "tcp.idle_timeout.seconds" not in attrs
        refused("ValidationError", lambda p: elb.modify_listener_attributes(C, p),
                {"ListenerArn": lst["ListenerArn"],
                 "Attributes": [{"Key": "tcp.idle_timeout.seconds", "Value": "100"}]},
                "not recognized")
        refused("InvalidConfigurationRequest", lambda p: elb.modify_listener_attributes(C, p),
                {"ListenerArn": lst["ListenerArn"], "Attributes": [
                    {"Key": "routing.http.response.server.enabled", "Value": "false"}]})
        refused("ValidationError", lambda p: elb.modify_listener_attributes(C, p),
                {"ListenerArn": lst["ListenerArn"], "Attributes": [
                    {"Key": "routing.http.response.server.enabled", "Value": "maybe"}]})
        hsts = "routing.http.response.strict_transport_security.header_value"
        frame = "routing.http.response.x_frame_options.header_value"
        for key, bad in ((hsts, "forever"), (frame, "MAYBE"), (frame, "DENY\r\nX: y"),
                         ("routing.http.response.x_content_type_options.header_value", "on"),
                         ("routing.http.response.access_control_max_age.header_value", "x")):
            refused("ValidationError", lambda p: elb.modify_listener_attributes(C, p),
                    {"ListenerArn": lst["ListenerArn"], "Attributes": [
                        {"Key": key, "Value": bad}]}, "not a valid value")
        mtls = "routing.http.request.x_amzn_mtls_clientcert_leaf.header_name"
        refused("InvalidConfigurationRequest", lambda p: elb.modify_listener_attributes(C, p),
                {"ListenerArn": lst["ListenerArn"], "Attributes": [
                    {"Key": mtls, "Value": "X-Leaf"}]})
        tls_name = "routing.http.request.x_amzn_tls_version.header_name"
        refused("ValidationError", lambda p: elb.modify_listener_attributes(C, p),
                {"ListenerArn": lst["ListenerArn"], "Attributes": [
                    {"Key": tls_name, "Value": "X Tls"}]}, "not a valid header name")
        # TLS request headers: off until the load balancer's attribute turns them on
        elb.modify_listener_attributes(C, {"ListenerArn": lst["ListenerArn"], "Attributes": [
            {"Key": tls_name, "Value": "X-Tls"}]})
        assert _spec_listener(w, lb_arn).tls_request_headers is None
        elb.modify_load_balancer_attributes(C, {"LoadBalancerArn": lb_arn, "Attributes": [
            {"Key": "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
             "Value": "true"}]})
        assert _spec_listener(w, lb_arn).tls_request_headers == (
            "X-Tls", "X-Amzn-Tls-Cipher-Suite")
        out = elb.modify_listener_attributes(C, {"ListenerArn": lst["ListenerArn"], "Attributes": [
            {"Key": hsts, "Value": "max-age=31536000"}, {"Key": frame, "Value": "DENY"}]})
        assert {"Key": frame, "Value": "DENY"} in out["Attributes"]
        assert _spec_listener(w, lb_arn).response_headers == (
            ("Strict-Transport-Security", "max-age=31536000"), ("X-Frame-Options", "DENY"))
        spec, _ = w.elb.build_spec(C, w.elb.get(C, LB, lb_arn))
        text = render(spec, tmp_path / "x.sock", tmp_path / "state")
        assert 'http-after-response set-header X-Frame-Options "DENY"' in text
        elb.modify_listener_attributes(C, {"ListenerArn": lst["ListenerArn"], "Attributes": [
            {"Key": hsts, "Value": ""}]})
        assert _spec_listener(w, lb_arn).response_headers == (("X-Frame-Options", "DENY"),)
        refused("ListenerNotFound", lambda p: elb.describe_listener_attributes(C, p),
                {"ListenerArn": lst["ListenerArn"][:-4] + "beef"})

        nlb = elb.create_load_balancer(C, {"Name": "nlb", "Type": "network"})[
            "LoadBalancers"][0]["LoadBalancerArn"]
        tg = elb.create_target_group(C, {"Name": "tcp", "Protocol": "TCP", "Port": 80,
                                         "TargetType": "ip"})["TargetGroups"][0]
        tcp = elb.create_listener(C, {"LoadBalancerArn": nlb, "Protocol": "TCP", "Port": 80,
                                      "DefaultActions": [{"Type": "forward", "TargetGroupArn":
                                                          tg["TargetGroupArn"]}]})
        tcp_arn = tcp["Listeners"][0]["ListenerArn"]
        assert elb.describe_listener_attributes(C, {"ListenerArn": tcp_arn})["Attributes"] == [
            {"Key": "tcp.idle_timeout.seconds", "Value": "350"}]
        assert _spec_listener(w, nlb).idle_timeout == 350
        for bad in ("59", "6001", "x"):
            refused("ValidationError", lambda p: elb.modify_listener_attributes(C, p),
                    {"ListenerArn": tcp_arn,
                     "Attributes": [{"Key": "tcp.idle_timeout.seconds", "Value": bad}]})
        out = elb.modify_listener_attributes(C, {"ListenerArn": tcp_arn, "Attributes": [
            {"Key": "tcp.idle_timeout.seconds", "Value": "120"}]})
        assert out["Attributes"] == [{"Key": "tcp.idle_timeout.seconds", "Value": "120"}]
        assert _spec_listener(w, nlb).idle_timeout == 120

        assert elb.set_ip_address_type(C, {"LoadBalancerArn": lb_arn,
                                           "IpAddressType": "ipv4"}) == {"IpAddressType": "ipv4"}
        refused("ValidationError", lambda p: elb.set_ip_address_type(C, p),
                {"LoadBalancerArn": lb_arn, "IpAddressType": "dualstack"}, "IPv6 CIDR block")
        refused("ValidationError", lambda p: elb.set_ip_address_type(C, p),
                {"LoadBalancerArn": lb_arn, "IpAddressType": "ipv5"})
        refused("LoadBalancerNotFound", lambda p: elb.set_ip_address_type(C, p),
                {"LoadBalancerArn": lb_arn[:-4] + "beef", "IpAddressType": "ipv4"})
    in_world(tmp_path, body)


def test_load_balancer_and_target_group_quotas(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    async def body(w: World) -> None:
        elb = w.elb
        limits = {x["Name"]: int(x["Max"])
                  for x in elb.describe_account_limits(C, {})["Limits"]}
        cap = limits["network-load-balancers"]
        for n in range(cap):
            elb.create_load_balancer(C, {"Name": f"n{n}", "Type": "network"})
        refused("TooManyLoadBalancers", lambda p: elb.create_load_balancer(C, p),
                {"Name": "one-more", "Type": "network"}, str(cap))
        elb.create_load_balancer(C, {"Name": "an-alb"})  # (the quota is per type)
        # (3000 target groups take long: the same check at a smaller quota)
        monkeypatch.setattr(targetgroups, "TARGET_GROUPS", 2)
        for n in range(2):
            elb.create_target_group(C, {"Name": f"tg{n}", "Protocol": "TCP", "Port": 80})
        refused("TooManyTargetGroups", lambda p: elb.create_target_group(C, p),
                {"Name": "tg2", "Protocol": "TCP", "Port": 80})
    in_world(tmp_path, body)
