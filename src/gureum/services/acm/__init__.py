"""AWS Certificate Manager: certificates the user imports (PEM certificate,
private key and chain), described, listed, read back, tagged and deleted.

A certificate is a record (``acm:certificate``) holding the PEM texts and what
was read from the certificate (names, validity, key algorithm). Load balancer
listeners that name its ARN serve it (``elbv2.certs.serving_pem``); a
certificate in use cannot be deleted. Requested (Amazon-issued) certificates
need domain validation and are not offered.
"""

from __future__ import annotations

import uuid
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Service
from ..common import tags as tagging
from ..common.pagination import paginate
from .pem import CertificateInfo, read

KIND = "acm:certificate"
LISTENER = "elbv2:listener"  # whose "certificates" name the ARNs they serve


def _invalid(message: str) -> AWSError:
    return AWSError("InvalidParameterException", message)


def _text(value: Any, what: str) -> str:
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise _invalid(f"The {what} is not PEM-encoded") from None
    if isinstance(value, str):
        return value
    raise AWSError("ValidationException", f"The {what} must be given")


class ACM(Service):
    name = "acm"
    kinds = (KIND,)

    @property
    def store(self) -> Any:
        return self.env.store

    def _arn(self, call: Call) -> str:
        return f"arn:aws:acm:{call.region}:{call.account}:certificate/{uuid.uuid4()}"

    def _get(self, call: Call, arn: Any) -> dict[str, Any]:
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise AWSError("InvalidArnException", f"String '{arn}' is not a valid ARN")
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[2] != "acm" or not parts[5].startswith("certificate/"):
            raise AWSError("InvalidArnException", f"String '{arn}' is not a valid ARN")
        doc: dict[str, Any] | None = self.store.resources.get(KIND, call.account, call.region,
                                                              arn)
        if doc is None:
            raise AWSError("ResourceNotFoundException",
                           f"Could not find certificate with arn: {arn}")
        return doc

    def _put(self, doc: dict[str, Any]) -> None:
        self.store.resources.put(KIND, doc["account"], doc["region"], doc["arn"], doc)

    def _in_use(self, call: Call, arn: str) -> list[str]:
        lbs = [d["lb"] for d in self.store.resources.list(LISTENER, call.account, call.region)
               if arn in (d.get("certificates") or [])]
        return sorted(set(lbs))

    def import_certificate(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        cert = _text(params.get("Certificate"), "certificate")
        key = _text(params.get("PrivateKey"), "private key")
        chain = _text(params["CertificateChain"], "certificate chain") \
            if params.get("CertificateChain") else ""
        try:
            info: CertificateInfo = read(cert, key, chain)
        except ValueError as e:
            raise _invalid(str(e)) from None
        given = params.get("CertificateArn")
        with self.store.tx():
            if given:
                doc = self._get(call, given)
                if params.get("Tags"):
                    raise _invalid("Tags cannot be applied while reimporting a certificate")
            else:
                doc = {"arn": self._arn(call), "account": call.account, "region": call.region,
                       "tags": tagging.to_dict(params.get("Tags"), "InvalidTagException")}
            doc.update(info.doc(), certificate=cert.strip() + "\n", key=key.strip() + "\n",
                       chain=chain.strip() + "\n" if chain.strip() else "",
                       imported=self.env.clock.now())
            self._put(doc)
        return {"CertificateArn": doc["arn"]}

    def _status(self, doc: dict[str, Any]) -> str:
        return "EXPIRED" if doc["not_after"] < self.env.clock.now() else "ISSUED"

    def describe_certificate(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._get(call, params.get("CertificateArn"))
        return {"Certificate": {
            "CertificateArn": doc["arn"], "DomainName": doc["domain"],
            "SubjectAlternativeNames": doc["names"], "Serial": doc["serial"],
            "Subject": doc["subject"], "Issuer": doc["issuer"],
            "ImportedAt": doc["imported"], "Status": self._status(doc),
            "NotBefore": doc["not_before"], "NotAfter": doc["not_after"],
            "KeyAlgorithm": doc["key_algorithm"],
            "SignatureAlgorithm": doc["signature_algorithm"],
            "InUseBy": self._in_use(call, doc["arn"]), "Type": "IMPORTED",
            "RenewalEligibility": "INELIGIBLE",
            "Options": {"CertificateTransparencyLoggingPreference": "DISABLED"},
        }}

    def get_certificate(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._get(call, params.get("CertificateArn"))
        out = {"Certificate": doc["certificate"]}
        if doc["chain"]:
            out["CertificateChain"] = doc["chain"]
        return out

    def list_certificates(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        statuses = params.get("CertificateStatuses") or []
        includes = params.get("Includes") or {}
        algorithms = includes.get("keyTypes") or ["RSA_1024", "RSA_2048", "RSA_3072",
                                                  "RSA_4096", "EC_prime256v1",
                                                  "EC_secp384r1", "EC_secp521r1"]
        docs = sorted(self.store.resources.list(KIND, call.account, call.region),
                      key=lambda d: d["arn"])
        docs = [d for d in docs if (not statuses or self._status(d) in statuses)
                and d["key_algorithm"] in algorithms]
        items, token = paginate(docs, params.get("NextToken"), params.get("MaxItems"),
                                key=lambda d: str(d["arn"]), error_code="InvalidArgsException")
        out: dict[str, Any] = {"CertificateSummaryList": [{
            "CertificateArn": d["arn"], "DomainName": d["domain"],
            "SubjectAlternativeNameSummaries": d["names"], "Type": "IMPORTED",
            "KeyAlgorithm": d["key_algorithm"], "Status": self._status(d),
            "InUse": bool(self._in_use(call, d["arn"])), "NotBefore": d["not_before"],
            "NotAfter": d["not_after"], "ImportedAt": d["imported"],
            "RenewalEligibility": "INELIGIBLE"} for d in items]}
        if token:
            out["NextToken"] = token
        return out

    def delete_certificate(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._get(call, params.get("CertificateArn"))
            users = self._in_use(call, doc["arn"])
            if users:
                raise AWSError("ResourceInUseException",
                               f"Certificate {doc['arn']} in account {call.account} is in use.")
            self.store.resources.delete(KIND, call.account, call.region, doc["arn"])
        return {}

    def add_tags_to_certificate(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._get(call, params.get("CertificateArn"))
            added = tagging.to_dict(params.get("Tags"), "InvalidTagException")
            if not added:
                raise _invalid("Tags must be given")
            merged = {**doc["tags"], **added}
            if len(merged) > tagging.MAX_TAGS:
                raise AWSError("TooManyTagsException",
                               f"The number of tags must not exceed {tagging.MAX_TAGS}")
            doc["tags"] = merged
            self._put(doc)
        return {}

    def remove_tags_from_certificate(self, call: Call, params: dict[str, Any]
                                     ) -> dict[str, Any]:
        with self.store.tx():
            doc = self._get(call, params.get("CertificateArn"))
            for tag in params.get("Tags") or []:
                key = tag.get("Key")
                if key in doc["tags"] and ("Value" not in tag
                                           or doc["tags"][key] == tag["Value"]):
                    del doc["tags"][key]
            self._put(doc)
        return {}

    def list_tags_for_certificate(self, call: Call, params: dict[str, Any]
                                  ) -> dict[str, Any]:
        doc = self._get(call, params.get("CertificateArn"))
        return {"Tags": tagging.to_list(doc["tags"])}
