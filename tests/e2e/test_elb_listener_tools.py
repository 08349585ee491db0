"""What tools call around HTTPS listeners, end to end on both proxy drivers
through boto3 and the AWS CLI: DescribeSSLPolicies and the listener's policy
really shaping its TLS (a client offering only a protocol outside the policy
is refused), SNI certificates from ACM really served (a client asking by SNI
for the second name gets the second certificate), DescribeAccountLimits,
listener attributes and SetIpAddressType, with AWS's errors."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509

from gureum.testing.server import RunningGureum

from .test_elb_acm import issue
from .test_elb_support import DRIVERS, gureum_with, wait_for

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed")

NET = "127.217.5"


@pytest.fixture(scope="module", params=DRIVERS)
def cloud(request: pytest.FixtureRequest) -> Iterator[RunningGureum]:
    yield from gureum_with(request.param)


class _Headers(http.server.BaseHTTPRequestHandler):
    """Answers the request's headers, one per line."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = str(self.headers).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Frame-Options", "SAMEORIGIN")  # (the listener's replaces it)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Quiet(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # health checks may close with a reset


@pytest.fixture
def backend() -> Iterator[str]:
    """An HTTP server answering the headers it was sent; its address."""
    server = _Quiet((f"{NET}.11", 8080), _Headers)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"{NET}.11"
    server.shutdown()
    server.server_close()


def handshake(address: str, server_name: str, *, low: ssl.TLSVersion | None = None,
              high: ssl.TLSVersion | None = None, ciphers: str = "") -> bytes | None:
    """The certificate (DER) the listener at ``address``:443 serves to a
    client naming ``server_name`` and offering TLS versions ``low``-``high``
    (and only ``ciphers`` for TLS 1.2, when given); None when the handshake
    is refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if low is not None:
        context.minimum_version = low
    if high is not None:
        context.maximum_version = high
    if ciphers:
        context.set_ciphers(ciphers)
    try:
        with socket.create_connection((address, 443), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return None


def der(pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def headers(url: str) -> str:
    """The response's header lines, lowercased names (empty: no answer)."""
    out = subprocess.run(["curl", "-k", "-s", "-m", "5", "-D", "-", "-o", "/dev/null", url],
                         capture_output=True, text=True, timeout=10)
    lines = out.stdout.splitlines()
    return "\n".join(n.lower() + ":" + v for n, _, v in (h.partition(":") for h in lines))


def body(url: str) -> str:
    out = subprocess.run(["curl", "-k", "-s", "-m", "5", url],
                         capture_output=True, text=True, timeout=10)
    return out.stdout


def code(exc: Any) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_policy_and_sni_certificates_are_served(cloud: RunningGureum, backend: str) -> None:
    elb, acm = cloud.client("elbv2"), cloud.client("acm")
    lb = elb.create_load_balancer(Name=f"tls-{uuid.uuid4().hex[:8]}")["LoadBalancers"][0]
    dns = lb["DNSName"]
    _, cert_a, key_a = issue(dns)
    _, cert_b, key_b = issue("second.example.com")
    arn_a = acm.import_certificate(Certificate=cert_a, PrivateKey=key_a)["CertificateArn"]
    arn_b = acm.import_certificate(Certificate=cert_b, PrivateKey=key_b)["CertificateArn"]
    tg = elb.create_target_group(Name=f"tls-{uuid.uuid4().hex[:8]}", Protocol="HTTP",
                                 Port=8080, TargetType="ip", HealthCheckIntervalSeconds=5,
                                 HealthyThresholdCount=2)["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": backend}])
    try:
        with pytest.raises(elb.exceptions.SSLPolicyNotFoundException):
            elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS",
                                Port=443, SslPolicy="ELBSecurityPolicy-Nonsense",
                                Certificates=[{"CertificateArn": arn_a}],
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        lst = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
            SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06",
            Certificates=[{"CertificateArn": arn_a}],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]
        arn = lst["ListenerArn"]
        wait_for(lambda: elb.describe_target_health(TargetGroupArn=tg)[
            "TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy", 30)
        address = socket.gethostbyname(dns)
        v12, v13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
        wait_for(lambda: handshake(address, dns, low=v13) == der(cert_a), 20, "TLS 1.3")
        assert handshake(address, dns, high=v12) is None  # TLS 1.2 only: refused

        elb.modify_listener(ListenerArn=arn, SslPolicy="ELBSecurityPolicy-TLS-1-2-2017-01")
        wait_for(lambda: handshake(address, dns, high=v12) == der(cert_a), 20, "TLS 1.2")
        assert handshake(address, dns, low=v13) is None  # TLS 1.3 only: refused now
        # ciphers: one without forward secrecy, then a policy without it
        assert handshake(address, dns, high=v12, ciphers="AES128-GCM-SHA256") == der(cert_a)
        elb.modify_listener(ListenerArn=arn, SslPolicy="ELBSecurityPolicy-FS-1-2-Res-2020-10")
        wait_for(lambda: handshake(address, dns, high=v12, ciphers="AES128-GCM-SHA256") is None,
                 20, "cipher refused")
        assert handshake(address, dns, high=v12,
                         ciphers="ECDHE-RSA-AES128-GCM-SHA256") == der(cert_a)
        assert handshake(address, dns, high=v12, ciphers="AES128-GCM-SHA256") is None

        # a second certificate, served to a client asking for its name
        assert handshake(address, "second.example.com") == der(cert_a)
        added = elb.add_listener_certificates(ListenerArn=arn, Certificates=[
            {"CertificateArn": arn_b}])["Certificates"]
        assert added == [{"CertificateArn": arn_b, "IsDefault": False}]
        wait_for(lambda: handshake(address, "second.example.com") == der(cert_b), 20, "SNI")
        assert handshake(address, dns) == der(cert_a)
        assert handshake(address, "unknown.example.com") == der(cert_a)
        got = elb.describe_listener_certificates(ListenerArn=arn)["Certificates"]
        assert got == [{"CertificateArn": arn_a, "IsDefault": True},
                       {"CertificateArn": arn_b, "IsDefault": False}]
        assert acm.describe_certificate(CertificateArn=arn_b)["Certificate"]["InUseBy"] == [
            lb["LoadBalancerArn"]]
        with pytest.raises(acm.exceptions.ResourceInUseException):
            acm.delete_certificate(CertificateArn=arn_b)

        missing = arn_b[:-8] + "00000000"
        with pytest.raises(elb.exceptions.CertificateNotFoundException) as err:
            elb.add_listener_certificates(ListenerArn=arn,
                                          Certificates=[{"CertificateArn": missing}])
        assert code(err) == ("CertificateNotFound", 400)
        with pytest.raises(elb.exceptions.OperationNotPermittedException) as err:
            elb.remove_listener_certificates(ListenerArn=arn,
                                             Certificates=[{"CertificateArn": arn_a}])
        assert code(err) == ("OperationNotPermitted", 400)
        with pytest.raises(elb.exceptions.ListenerNotFoundException) as err:
            elb.describe_listener_certificates(ListenerArn=arn[:-4] + "beef")
        assert code(err) == ("ListenerNotFound", 400)

        # the AWS CLI sees the same
        out = cloud.aws("elbv2", "describe-listener-certificates", "--listener-arn", arn,
                        check=True)
        assert [c["IsDefault"] for c in json.loads(out.stdout)["Certificates"]] == [
            True, False]

        # response headers set by the listener's attributes, the server's replaced
        elb.modify_listener_attributes(ListenerArn=arn, Attributes=[
            {"Key": "routing.http.response.x_frame_options.header_value", "Value": "DENY"},
            {"Key": "routing.http.response.strict_transport_security.header_value",
             "Value": "max-age=300"}])
        wait_for(lambda: "x-frame-options: DENY" in headers(f"https://{dns}/h"), 20,
                 "response headers")
        got_headers = headers(f"https://{dns}/h")
        assert "strict-transport-security: max-age=300" in got_headers
        assert "server: BaseHTTP" in got_headers  # (the target answered)
        assert got_headers.count("x-frame-options:") == 1  # (its own was replaced)
        with pytest.raises(elb.exceptions.InvalidConfigurationRequestException):
            elb.modify_listener_attributes(ListenerArn=arn, Attributes=[
                {"Key": "routing.http.response.server.enabled", "Value": "false"}])
        # the TLS version and cipher told to the target once the load balancer says so
        assert "x-amzn-tls-version" not in body(f"https://{dns}/t").lower()
        elb.modify_listener_attributes(ListenerArn=arn, Attributes=[
            {"Key": "routing.http.request.x_amzn_tls_cipher_suite.header_name",
             "Value": "X-Cipher"}])
        elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[
            {"Key": "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
             "Value": "true"}])
        # (HAProxy sends header names in lower case, as HTTP allows)
        wait_for(lambda: "x-amzn-tls-version: tlsv1.2" in body(f"https://{dns}/t").lower(),
                 20, "TLS request headers")
        assert "x-cipher: ecdhe-" in body(f"https://{dns}/t").lower()

        elb.remove_listener_certificates(ListenerArn=arn,
                                         Certificates=[{"CertificateArn": arn_b}])
        wait_for(lambda: handshake(address, "second.example.com") == der(cert_a), 20,
                 "SNI certificate removed")
        acm.delete_certificate(CertificateArn=arn_b)
    finally:
        elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
        elb.delete_target_group(TargetGroupArn=tg)


def test_policies_limits_attributes_and_ip_address_type(cloud: RunningGureum) -> None:
    elb = cloud.client("elbv2")
    policies = elb.describe_ssl_policies(Names=["ELBSecurityPolicy-2016-08"])["SslPolicies"]
    assert policies[0]["SslProtocols"] == ["TLSv1", "TLSv1.1", "TLSv1.2"]
    with pytest.raises(elb.exceptions.SSLPolicyNotFoundException) as err:
        elb.describe_ssl_policies(Names=["ELBSecurityPolicy-Nonsense"])
    assert code(err) == ("SSLPolicyNotFound", 400)
    out = cloud.aws("elbv2", "describe-ssl-policies", "--load-balancer-type", "application",
                    check=True)
    names = [p["Name"] for p in json.loads(out.stdout)["SslPolicies"]]
    assert "ELBSecurityPolicy-TLS13-1-2-2021-06" in names

    out = cloud.aws("elbv2", "describe-account-limits", check=True)
    limits = {x["Name"]: x["Max"] for x in json.loads(out.stdout)["Limits"]}
    assert limits["rules-per-application-load-balancer"] == "100"
    assert limits["listeners-per-application-load-balancer"] == "50"

    nlb = elb.create_load_balancer(Name=f"nlb-{uuid.uuid4().hex[:8]}", Type="network"
                                   )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name=f"tcp-{uuid.uuid4().hex[:8]}", Protocol="TCP", Port=80,
                                 TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    try:
        arn = elb.create_listener(LoadBalancerArn=nlb, Protocol="TCP", Port=7000,
                                  DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
                                  )["Listeners"][0]["ListenerArn"]
        assert elb.describe_listener_attributes(ListenerArn=arn)["Attributes"] == [
            {"Key": "tcp.idle_timeout.seconds", "Value": "350"}]
        changed = elb.modify_listener_attributes(ListenerArn=arn, Attributes=[
            {"Key": "tcp.idle_timeout.seconds", "Value": "120"}])["Attributes"]
        assert changed == [{"Key": "tcp.idle_timeout.seconds", "Value": "120"}]
        with pytest.raises(elb.exceptions.ClientError) as err:
            elb.modify_listener_attributes(ListenerArn=arn, Attributes=[
                {"Key": "tcp.idle_timeout.seconds", "Value": "7000"}])
        assert code(err) == ("ValidationError", 400)
        with pytest.raises(elb.exceptions.ClientError) as err:
            elb.modify_listener_attributes(ListenerArn=arn, Attributes=[
                {"Key": "routing.http.response.server.enabled", "Value": "false"}])
        assert code(err) == ("ValidationError", 400)

        assert elb.set_ip_address_type(LoadBalancerArn=nlb, IpAddressType="ipv4")[
            "IpAddressType"] == "ipv4"
        out = cloud.aws("elbv2", "set-ip-address-type", "--load-balancer-arn", nlb,
                        "--ip-address-type", "dualstack")
        assert out.returncode != 0
        assert "ValidationError" in out.stderr and "IPv6" in out.stderr
        assert elb.describe_load_balancers(LoadBalancerArns=[nlb])["LoadBalancers"][0][
            "IpAddressType"] == "ipv4"
    finally:
        elb.delete_load_balancer(LoadBalancerArn=nlb)
        elb.delete_target_group(TargetGroupArn=tg)
