"""The predefined SSL policy table against what AWS documents, and every
policy in it turned into an HAProxy configuration that ``haproxy -c``
accepts (a policy the proxy cannot load would break every listener using it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gureum.drivers.proxy.base import Action, Listener, ProxySpec
from gureum.drivers.proxy.haproxy_config import certificate_files, render
from gureum.services.elbv2.policies import POLICIES, render_policy


def _ciphers(name: str) -> list[str]:
    return [c["Name"] for c in render_policy(name)["Ciphers"]]


def test_documented_facts() -> None:
    # botocore's DescribeSSLPolicies example (data/elbv2/2015-12-01/examples-1.json):
    # ELBSecurityPolicy-2015-05, whole, with its priorities.
    p2015 = render_policy("ELBSecurityPolicy-2015-05")
    assert p2015["SslProtocols"] == ["TLSv1", "TLSv1.1", "TLSv1.2"]
    assert len(p2015["Ciphers"]) == 19
    assert {"Name": "DHE-RSA-AES128-SHA", "Priority": 7} in p2015["Ciphers"]
    assert {"Name": "ECDHE-RSA-AES256-SHA", "Priority": 12} in p2015["Ciphers"]
    assert {"Name": "ECDHE-ECDSA-AES256-SHA", "Priority": 13} in p2015["Ciphers"]
    assert p2015["Ciphers"][-1] == {"Name": "AES256-SHA", "Priority": 19}
    # ... and 2016-08 is that list without DHE-RSA-AES128-SHA (ELB user guide,
    # "Security policies for your Application Load Balancer").
    assert _ciphers("ELBSecurityPolicy-2016-08") == [
        c for c in _ciphers("ELBSecurityPolicy-2015-05") if c != "DHE-RSA-AES128-SHA"]

    # AWS CLI, examples/elbv2/describe-ssl-policies.rst, example 3: the ciphers
    # of ELBSecurityPolicy-TLS13-1-2-2021-06 in priority order (no RSA key
    # exchange, so no AES128-GCM-SHA256).
    assert _ciphers("ELBSecurityPolicy-TLS13-1-2-2021-06") == [
        "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384"]

    # Same file, examples 1 and 2: the policies an Application Load Balancer
    # offers, and those of them with TLS 1.3.
    cli_names = {
        "ELBSecurityPolicy-2016-08", "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
        "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06", "ELBSecurityPolicy-TLS13-1-1-2021-06",
        "ELBSecurityPolicy-TLS13-1-0-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "ELBSecurityPolicy-TLS-1-2-2017-01", "ELBSecurityPolicy-TLS-1-1-2017-01",
        "ELBSecurityPolicy-TLS-1-2-Ext-2018-06", "ELBSecurityPolicy-FS-2018-06",
        "ELBSecurityPolicy-2015-05", "ELBSecurityPolicy-TLS-1-0-2015-04",
        "ELBSecurityPolicy-FS-1-2-Res-2019-08", "ELBSecurityPolicy-FS-1-1-2019-08",
        "ELBSecurityPolicy-FS-1-2-2019-08", "ELBSecurityPolicy-FS-1-2-Res-2020-10"}
    assert set(POLICIES) == cli_names
    with_13 = {n for n in POLICIES if "TLSv1.3" in POLICIES[n][0]}
    assert with_13 == {n for n in cli_names if n.startswith("ELBSecurityPolicy-TLS13-")}

    # ELB user guide table: Ext1 adds the RSA-key-exchange AES ciphers to
    # TLS13-1-2 but no CBC-SHA1 one; Ext2 has those too; Res has GCM only.
    ext1 = _ciphers("ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06")
    assert "AES128-GCM-SHA256" in ext1 and "ECDHE-RSA-AES128-SHA" not in ext1
    ext2 = _ciphers("ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06")
    assert "ECDHE-RSA-AES128-SHA" in ext2 and "AES256-SHA" in ext2
    assert render_policy("ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06")["SslProtocols"] == [
        "TLSv1.2", "TLSv1.3"]
    res = _ciphers("ELBSecurityPolicy-TLS13-1-2-Res-2021-06")
    assert all(c.startswith("TLS_") or "GCM" in c for c in res)
    # Only TLS-1-0-2015-04 keeps 3DES.
    assert [n for n in POLICIES if "DES-CBC3-SHA" in POLICIES[n][1]] == [
        "ELBSecurityPolicy-TLS-1-0-2015-04"]
    # FS policies: ECDHE key exchange only.
    for name in POLICIES:
        if name.startswith("ELBSecurityPolicy-FS-"):
            assert all(c.startswith("ECDHE-") for c in POLICIES[name][1]), name


def test_every_cipher_is_an_openssl_name() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    known = set(subprocess.run(
        ["openssl", "ciphers", "ALL:@SECLEVEL=0"], check=True, capture_output=True,
        text=True).stdout.strip().split(":"))
    known |= {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
              "TLS_CHACHA20_POLY1305_SHA256"}
    # (3DES is no longer built into Debian's OpenSSL 3; AWS still lists it)
    unknown = {c for _, ciphers in POLICIES.values() for c in ciphers} - known
    assert unknown <= {"DES-CBC3-SHA"}, unknown


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=policy.test", "-days", "1",
                    "-keyout", str(d / "k.pem"), "-out", str(d / "c.pem")],
                   check=True, capture_output=True)
    return (d / "c.pem").read_text() + (d / "k.pem").read_text()


@pytest.mark.parametrize("name", list(POLICIES))
def test_haproxy_accepts_every_policy(name: str, pem: str, tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.skip("haproxy is not installed")
    versions, ciphers = POLICIES[name]
    lst = Listener(port=8443, mode="http",
                   default=Action(kind="fixed", status=200, body="ok"),
                   certificate=pem, tls_versions=versions, ciphers=ciphers)
    spec = ProxySpec(name="p", address="127.0.0.1", listeners=(lst,))
    for f, text in certificate_files(tmp_path, lst).items():
        f.write_text(text)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render(spec, tmp_path / "admin.sock", tmp_path / "state"))
    out = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    text = cfg.read_text()
    tls12 = [c for c in ciphers if not c.startswith("TLS_")]
    if tls12:
        assert " ciphers " + ":".join(tls12) in text
