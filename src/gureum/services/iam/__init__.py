"""IAM, as far as gureum runs it: server certificates (uploaded PEM
certificate, private key and chain; got, listed, deleted) for load balancers'
HTTPS listeners. Other IAM operations answer ``NotImplemented``.

IAM is global: the gateway hands every call the region ``us-east-1``, where
the records (``iam:server-certificate``, one per name in an account) live.
A listener naming ``arn:aws:iam::<account>:server-certificate/<path><name>``
serves it (``elbv2.certs``); a certificate in use cannot be deleted.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from gureum.errors import AWSError

from ..acm.pem import read
from ..base import Call, Service
from ..common import tags as tagging
from ..common.pagination import paginate

KIND = "iam:server-certificate"
LISTENER = "elbv2:listener"  # whose "certificates" name the ARNs they serve
_NAME = re.compile(r"[\w+=,.@-]{1,128}")
_PATH = re.compile(r"/|/[\x21-\x7f]{1,510}/")


def arn(account: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:server-certificate{path}{name}"


def _name(value: Any, what: str = "serverCertificateName") -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise AWSError("ValidationError",
                       f"The specified value for {what} is invalid. It must contain only "
                       "alphanumeric characters and/or the following: +=,.@_-")
    return value


def _path(value: Any) -> str:
    if value is None:
        return "/"
    if not isinstance(value, str) or not _PATH.fullmatch(value):
        raise AWSError("ValidationError", "The specified value for path is invalid. It must "
                       "begin and end with / and contain only printable ASCII characters.")
    return value


def _id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "ASCA" + "".join(secrets.choice(alphabet) for _ in range(17))


class IAM(Service):
    name = "iam"
    kinds = (KIND,)

    @property
    def store(self) -> Any:
        return self.env.store

    def _get(self, call: Call, name: Any) -> dict[str, Any]:
        doc: dict[str, Any] | None = self.store.resources.get(
            KIND, call.account, call.region, _name(name))
        if doc is None:
            raise AWSError("NoSuchEntity",
                           f"The Server Certificate with name {name} cannot be found.", 404)
        return doc

    @staticmethod
    def _metadata(doc: dict[str, Any]) -> dict[str, Any]:
        return {"Path": doc["path"], "ServerCertificateName": doc["name"],
                "ServerCertificateId": doc["id"], "Arn": doc["arn"],
                "UploadDate": doc["uploaded"], "Expiration": doc["not_after"]}

    def upload_server_certificate(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = _name(params.get("ServerCertificateName"))
        path = _path(params.get("Path"))
        body = str(params.get("CertificateBody") or "")
        key = str(params.get("PrivateKey") or "")
        chain = str(params.get("CertificateChain") or "")
        try:
            info = read(body, key, chain)
        except ValueError as e:
            # (the reader says which: a key that is not the certificate's, or not PEM)
            mismatch = "does not match" in str(e)
            raise AWSError("KeyPairMismatch" if mismatch else "MalformedCertificate",
                           str(e)) from None
        tags = tagging.to_dict(params.get("Tags"), "InvalidInput")
        with self.store.tx():
            if self.store.resources.get(KIND, call.account, call.region, name) is not None:
                raise AWSError("EntityAlreadyExists",
                               f"The Server Certificate with name {name} already exists.", 409)
            doc = {"name": name, "path": path, "id": _id(),
                   "arn": arn(call.account, path, name), "account": call.account,
                   "region": call.region, "uploaded": self.env.clock.now(),
                   "not_after": info.not_after, "certificate": body.strip() + "\n",
                   "chain": chain.strip() + "\n" if chain.strip() else "",
                   "key": key.strip() + "\n", "tags": tags}
            self.store.resources.put(KIND, call.account, call.region, name, doc)
        out: dict[str, Any] = {"ServerCertificateMetadata": self._metadata(doc)}
        if tags:
            out["Tags"] = tagging.to_list(tags)
        return out

    def get_server_certificate(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._get(call, params.get("ServerCertificateName"))
        cert: dict[str, Any] = {"ServerCertificateMetadata": self._metadata(doc),
                                "CertificateBody": doc["certificate"]}
        if doc["chain"]:
            cert["CertificateChain"] = doc["chain"]
        if doc["tags"]:
            cert["Tags"] = tagging.to_list(doc["tags"])
        return {"ServerCertificate": cert}

    def list_server_certificates(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("PathPrefix") or "/"
        docs = sorted((d for d in self.store.resources.list(KIND, call.account, call.region)
                       if d["path"].startswith(prefix)), key=lambda d: str(d["name"]))
        items, marker = paginate(docs, params.get("Marker"), params.get("MaxItems"),
                                 key=lambda d: str(d["name"]), default_limit=100,
                                 max_limit=1000, error_code="ValidationError")
        out: dict[str, Any] = {"ServerCertificateMetadataList": [self._metadata(d)
                                                                 for d in items],
                               "IsTruncated": marker is not None}
        if marker:
            out["Marker"] = marker
        return out

    def delete_server_certificate(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._get(call, params.get("ServerCertificateName"))
            if any(doc["arn"] in (d.get("certificates") or [])
                   for d in self.store.resources.list(LISTENER, call.account)):
                raise AWSError("DeleteConflict",
                               f"Certificate: {doc['id']} is currently in use by a load "
                               "balancer listener.", 409)
            self.store.resources.delete(KIND, call.account, call.region, doc["name"])
        return {}

