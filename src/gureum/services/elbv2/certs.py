"""What an HTTPS listener serves: the certificate imported into ACM, or the
IAM server certificate, that its ``CertificateArn`` names (its chain and key
with it), or else a certificate made for it: an ECDSA P-256 key and a
self-signed certificate for the load balancer's DNS name (clients use
``curl -k`` or trust it explicitly). The PEM holds certificate, chain, then
key, as HAProxy's ``crt`` takes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ACM_CERTIFICATE = "acm:certificate"  # the ACM service's records
IAM_SERVER_CERTIFICATE = "iam:server-certificate"  # the IAM service's

VALID_DAYS = 395


def self_signed(dns_name: str, now: float) -> str:
    """Certificate and key PEM for ``dns_name``, valid from ``now``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name[:64])])
    start = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return (cert.public_bytes(serialization.Encoding.PEM) + key_pem).decode()


def imported(store: Any, arn: str) -> str | None:
    """The PEM (certificate, chain, key) of an ACM certificate or an IAM server
    certificate, or None."""
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    if len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("server-certificate/"):
        # IAM is global: its records live in us-east-1, one per name.
        name = parts[5].rsplit("/", 1)[-1]
        found = store.resources.get(IAM_SERVER_CERTIFICATE, parts[4], "us-east-1", name)
        if found is None or found["arn"] != arn:
            return None
        return str(found["certificate"] + found["chain"] + found["key"])
    if len(parts) != 6 or parts[2] != "acm":
        return None
    doc = store.resources.get(ACM_CERTIFICATE, parts[4], parts[3], arn)
    if doc is None:
        return None
    return str(doc["certificate"] + doc.get("chain", "") + doc["key"])


def serving_pem(store: Any, listener: dict[str, Any]) -> str | None:
    """What an HTTPS listener serves (None: it is not HTTPS)."""
    if not listener.get("pem"):
        return None
    for arn in listener.get("certificates") or []:
        found = imported(store, arn)
        if found is not None:
            return found
    return str(listener["pem"])
