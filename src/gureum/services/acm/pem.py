"""Reading an imported certificate: the PEM texts checked (one certificate,
a private key that matches it, a chain of certificates) and the fields ACM
describes read from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CURVES = {"secp256r1": "EC_prime256v1", "secp384r1": "EC_secp384r1",
          "secp521r1": "EC_secp521r1"}


@dataclass(frozen=True)
class CertificateInfo:
    domain: str
    names: list[str]
    serial: str
    subject: str
    issuer: str
    not_before: float
    not_after: float
    key_algorithm: str
    signature_algorithm: str

    def doc(self) -> dict[str, Any]:
        return {"domain": self.domain, "names": self.names, "serial": self.serial,
                "subject": self.subject, "issuer": self.issuer,
                "not_before": self.not_before, "not_after": self.not_after,
                "key_algorithm": self.key_algorithm,
                "signature_algorithm": self.signature_algorithm}


def _public_bytes(key: Any) -> bytes:
    out: bytes = key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return out


def read(cert_pem: str, key_pem: str, chain_pem: str = "") -> CertificateInfo:
    """What ACM shows of a certificate; ValueError when the texts are not a
    PEM certificate with its private key."""
    try:
        certs = x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError:
        raise ValueError("Could not validate the certificate with the certificate chain."
                         " The certificate is not a valid PEM-encoded X.509 certificate."
                         ) from None
    if len(certs) != 1:
        raise ValueError("The certificate field contains more than one certificate.")
    cert = certs[0]
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("The private key is not supported or not PEM-encoded "
                         "(it must not be encrypted).") from None
    if _public_bytes(key.public_key()) != _public_bytes(cert.public_key()):
        raise ValueError("The private key does not match the public key in the certificate.")
    if chain_pem.strip():
        try:
            x509.load_pem_x509_certificates(chain_pem.encode())
        except ValueError:
            raise ValueError("The certificate chain is not PEM-encoded.") from None
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = f"RSA_{key.key_size}"
        signature = "SHA256WITHRSA"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = CURVES.get(key.curve.name, f"EC_{key.curve.name}")
        signature = "SHA256WITHECDSA"
    else:
        raise ValueError("The private key algorithm is not supported.")
    hash_name = cert.signature_hash_algorithm.name.upper() \
        if cert.signature_hash_algorithm else "SHA256"
    signature = signature.replace("SHA256", hash_name)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = [str(n) for n in sans.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    domain = str(cns[0].value) if cns else (names[0] if names else "")
    if domain and domain not in names:
        names.insert(0, domain)
    serial = cert.serial_number.to_bytes((cert.serial_number.bit_length() + 7) // 8 or 1,
                                         "big").hex(":")
    return CertificateInfo(
        domain, names, serial, cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
        cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp(),
        algorithm, signature)
