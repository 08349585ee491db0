"""HTTPS listeners serving an IAM server certificate, end to end on both
proxy drivers: a CA and a server certificate for the load balancer's DNS name
made here, UploadServerCertificate through boto3, curl --cacert against the
listener; IAM's get, list (by path), delete, its errors, and the certificate
held while a listener uses it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.testing.server import RunningGureum

from .test_elb_acm import issue
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


def test_https_listener_serves_iam_server_certificate(cloud: RunningGureum,
                                                     backends: Backends,
                                                     tmp_path: Path) -> None:
    elb, iam = cloud.client("elbv2"), cloud.client("iam")
    backends.start(f"{NET}.61")
    tag = uuid.uuid4().hex[:8]
    lb = elb.create_load_balancer(Name=f"iam-{tag}")["LoadBalancers"][0]
    dns = lb["DNSName"]
    ca, cert, key = issue(dns)
    _, other_cert, _ = issue("other.example.com")
    name = f"web-{tag}"

    with pytest.raises(iam.exceptions.KeyPairMismatchException):
        iam.upload_server_certificate(ServerCertificateName=name,
                                      CertificateBody=other_cert.decode(),
                                      PrivateKey=key.decode())
    with pytest.raises(iam.exceptions.MalformedCertificateException):
        iam.upload_server_certificate(ServerCertificateName=name,
                                      CertificateBody="not a certificate",
                                      PrivateKey=key.decode())
    meta = iam.upload_server_certificate(
        ServerCertificateName=name, Path="/web/", CertificateBody=cert.decode(),
        PrivateKey=key.decode(), CertificateChain=ca.decode(),
        Tags=[{"Key": "team", "Value": "web"}])["ServerCertificateMetadata"]
    arn = meta["Arn"]
    assert arn == f"arn:aws:iam::000000000000:server-certificate/web/{name}"
    assert meta["ServerCertificateId"].startswith("ASCA")
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException) as err:
        iam.upload_server_certificate(ServerCertificateName=name,
                                      CertificateBody=cert.decode(), PrivateKey=key.decode())
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    got = iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    assert got["CertificateBody"].encode().strip() == cert.strip()
    assert got["CertificateChain"].encode().strip() == ca.strip()
    assert got["ServerCertificateMetadata"]["Arn"] == arn
    assert got["Tags"] == [{"Key": "team", "Value": "web"}]
    listed = iam.list_server_certificates(PathPrefix="/web/")["ServerCertificateMetadataList"]
    assert [m["ServerCertificateName"] for m in listed] == [name]
    assert iam.list_server_certificates(PathPrefix="/api/")[
        "ServerCertificateMetadataList"] == []

    tg = elb.create_target_group(Name=f"iam-{tag}", Protocol="HTTP", Port=8080,
                                 TargetType="ip", HealthCheckPath="/health",
                                 HealthCheckIntervalSeconds=5, HealthyThresholdCount=2
                                 )["TargetGroups"][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": f"{NET}.61"}])
    forward = [{"Type": "forward", "TargetGroupArn": tg}]
    with pytest.raises(elb.exceptions.CertificateNotFoundException):
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                            DefaultActions=forward, Certificates=[{
                                "CertificateArn": "arn:aws:iam::000000000000:"
                                                  "server-certificate/missing"}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                        Certificates=[{"CertificateArn": arn}], DefaultActions=forward)
    wait_for(lambda: elb.describe_target_health(TargetGroupArn=tg)
             ["TargetHealthDescriptions"][0]["TargetHealth"]["State"] == "healthy", 30)

    (tmp_path / "ca.pem").write_bytes(ca)
    url = f"https://{dns}/secure"
    wait_for(lambda: curl(url, "--cacert", str(tmp_path / "ca.pem"))[0] == 200, 15, "https")
    code, body = curl(url, "--cacert", str(tmp_path / "ca.pem"))
    assert code == 200
    assert body.split()[1:] == ["/secure", client_address(dns), "https"]
    assert curl(url)[0] == 0  # not trusted without the CA

    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_server_certificate(ServerCertificateName=name)
    elb.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    wait_for(lambda: curl(url, "-k")[0] == 0, 10, "proxy gone")
    elb.delete_target_group(TargetGroupArn=tg)
    iam.delete_server_certificate(ServerCertificateName=name)
    with pytest.raises(iam.exceptions.NoSuchEntityException) as err:
        iam.get_server_certificate(ServerCertificateName=name)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # The AWS CLI, once; and an IAM operation gureum does not run.
    assert name not in cloud.aws("iam", "list-server-certificates", check=True).stdout
    with pytest.raises(iam.exceptions.ClientError) as err:
        iam.list_users()
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501
