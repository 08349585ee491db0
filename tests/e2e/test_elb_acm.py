"""HTTPS listeners serving a certificate the user imported into ACM, end to
end on both proxy drivers: a CA and a server certificate for the load
balancer's DNS name made here, ImportCertificate through boto3, curl
--cacert against the listener; ACM's describe, list, get, tags, errors and
the certificate held while a listener uses it."""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gureum.testing.server import RunningGureum

from .test_elb_support import DRIVERS, Backends, client_address, curl, gureum_with, wait_for

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed")

NET = "127.213.0"


@pytest.fixture(scope="module", params=DRIVERS)
def cloud(request: pytest.FixtureRequest) -> Iterator[RunningGureum]:
    yield from gureum_with(request.param)


@pytest.fixture
def backends() -> Iterator[Backends]:
    b = Backends()
    yield b
    b.close()


def pem(obj: Any) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    out: bytes = obj.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.TraditionalOpenSSL,
                                   serialization.NoEncryption())
    return out


def issue(dns: str) -> tuple[bytes, bytes, bytes]:
    """(CA certificate, server certificate for ``dns``, server key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gureum test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return pem(ca), pem(cert), pem(key)


def test_https_listener_serves_imported_certificate(cloud: RunningGureum, backends: Backends,
                                                   tmp_path: Path) -> None:
    elb, acm = cloud.client("elbv2"), cloud.client("acm")
    backends.start(f"{NET}.51")
    lb = elb.create_load_balancer(Name=f"acm-{uuid.uuid4().hex[:8]}")["LoadBalancers"][0]
    dns = lb["DNSName"]
    ca, cert, key = issue(dns)
    _, other_cert, _ = issue("other.example.com")

    with pytest.raises(acm.exceptions.InvalidParameterException):
        acm.import_certificate(Certificate=other_cert, PrivateKey=key)  # not its key
    with pytest.raises(acm.exceptions.InvalidParameterException):
        acm.import_certificate(Certificate=b"not a certificate", PrivateKey=key)
    arn = acm.import_certificate(Certificate=cert, PrivateKey=key, CertificateChain=ca,
                                 Tags=[{"Key": "team", "Value": "web"}])["CertificateArn"]
    assert arn.startswith("arn:aws:acm:us-east-1:")
    got = acm.get_certificate(CertificateArn=arn)
    assert got["Certificate"].encode().strip() == cert.strip()
    assert got["CertificateChain"].encode().strip() == ca.strip()
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["DomainName"] == dns
    assert detail["Type"] == "IMPORTED"
    assert detail["Status"] == "ISSUED"
    assert detail["KeyAlgorithm"] == "RSA_2048"
    assert detail["InUseBy"] == []
    listed = acm.list_certificates(CertificateStatuses=["ISSUED"])["CertificateSummaryList"]
    assert arn in [c["CertificateArn"] for c in listed]
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "team", "Value": "web"}]

    tg = elb.create_target_group(Name=f"acm-{uuid.uuid4().hex[:8]}", Protocol="HTTP",
                                 Port=8080, TargetType="ip", HealthCheckPath="/health",
                                 HealthCheckIntervalSeconds=5, HealthyThresholdCount=2
                                 )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": f"{NET}.51"}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                        Certificates=[{"CertificateArn": arn}],
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    wait_for(lambda: elb.describe_target_health(TargetGroupArn=tg)
             ["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy", 30)

    (tmp_path / "ca.pem").write_bytes(ca)
    url = f"https://{dns}/secure"
    wait_for(lambda: curl(url, "--cacert", str(tmp_path / "ca.pem"))[0] == 200, 15, "https")
    code, body = curl(url, "--cacert", str(tmp_path / "ca.pem"))
    assert code == 200
    assert body.split()[1:] == ["/secure", client_address(lb["DNSName"]), "https"]
    assert curl(url)[0] == 0  # not trusted without the CA

    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["InUseBy"] == [
        lb["LoadBalancerArn"]]
    with pytest.raises(acm.exceptions.ResourceInUseException):
        acm.delete_certificate(CertificateArn=arn)

    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: curl(url, "-k")[0] == 0, 10, "proxy gone")
    elb.delete_target_group(TargetGroupArn=tg)
    acm.delete_certificate(CertificateArn=arn)
    with pytest.raises(acm.exceptions.ResourceNotFoundException):
        acm.describe_certificate(CertificateArn=arn)


def test_acm_errors_and_tags(cloud: RunningGureum) -> None:
    acm = cloud.client("acm")
    with pytest.raises(acm.exceptions.ClientError) as err:
        acm.describe_certificate(CertificateArn="arn:aws:s3:::a-bucket-of-mine")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(acm.exceptions.InvalidArnException):
        acm.describe_certificate(CertificateArn="arn:aws:acm:us-east-1:000000000000:notacert")
    missing = "arn:aws:acm:us-east-1:000000000000:certificate/" + str(uuid.uuid4())
    with pytest.raises(acm.exceptions.ResourceNotFoundException) as err:
        acm.get_certificate(CertificateArn=missing)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    _, cert, key = issue("tags.example.com")
    arn = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    acm.add_tags_to_certificate(CertificateArn=arn, Tags=[{"Key": "a", "Value": "1"},
                                                          {"Key": "b", "Value": "2"}])
    acm.remove_tags_from_certificate(CertificateArn=arn, Tags=[{"Key": "a"}])
    assert acm.list_tags_for_certificate(CertificateArn=arn)["Tags"] == [
        {"Key": "b", "Value": "2"}]
    # Reimport under the same ARN: the new certificate replaces the old.
    _, cert2, key2 = issue("renewed.example.com")
    assert acm.import_certificate(CertificateArn=arn, Certificate=cert2,
                                  PrivateKey=key2)["CertificateArn"] == arn
    detail = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert detail["DomainName"] == "renewed.example.com"
    # The AWS CLI, once.
    out = cloud.aws("acm", "list-certificates", check=True)
    assert arn in out.stdout
    acm.delete_certificate(CertificateArn=arn)
