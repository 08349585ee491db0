"""Key pairs: CreateKeyPair (RSA or ED25519, the private key returned once),
ImportKeyPair, DescribeKeyPairs, DeleteKeyPair. Only the public key is kept;
the metadata service hands it to instances launched with the pair."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from gureum.errors import AWSError

from ..base import Call
from ..common import filters
from ..common import tags as tagging
from ..common.ids import hex_id
from .core import KEYPAIR, EC2Core
from .instances import tags_for


def generate(key_type: str) -> tuple[str, str]:
    """(private key PEM, public key in OpenSSH format)."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
    except ImportError:
        return _ssh_keygen(key_type)
    if key_type == "ed25519":
        private: Any = ed25519.Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH)
    return pem.decode(), public.decode()


def _ssh_keygen(key_type: str) -> tuple[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "key"
        args = ["ssh-keygen", "-q", "-N", "", "-t", key_type, "-f", str(path)]
        if key_type == "rsa":
            args += ["-b", "2048", "-m", "PEM"]
        subprocess.run(args, check=True, capture_output=True)
        return path.read_text(), path.with_suffix(".pub").read_text().strip()


def fingerprint(public_openssh: str, key_type: str) -> str:
    """SHA-256 of the key blob, base64 (as AWS shows for ED25519 and OpenSSH does
    for every key); for RSA, AWS's MD5 of the key blob in hex pairs."""
    blob = base64.b64decode(public_openssh.split()[1])
    if key_type == "ed25519":
        return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


_FILTERS = {
    "key-name": filters.field("KeyName"),
    "key-pair-id": filters.field("KeyPairId"),
    "fingerprint": filters.field("KeyFingerprint"),
    "key-type": filters.field("KeyType"),
}


def describe(doc: dict[str, Any], public: bool = False) -> dict[str, Any]:
    out = {
        "KeyPairId": doc["id"], "KeyName": doc["name"], "KeyFingerprint": doc["fingerprint"],
        "KeyType": doc["type"], "Tags": tagging.to_list(doc.get("tags")),
        "CreateTime": doc["created"],
    }
    if public:
        out["PublicKey"] = doc["public_key"]
    return out


class KeyPairOperations(EC2Core):
    def _new_key(self, call: Call, name: str | None, key_type: str, public: str,
                 params: dict[str, Any]) -> dict[str, Any]:
        if not name:
            raise AWSError("MissingParameter", "The request must contain the parameter KeyName")
        if len(name) > 255:
            raise AWSError("InvalidParameterValue", "Key names are at most 255 characters")
        doc = {
            "id": hex_id("key"), "name": name, "type": key_type, "public_key": public,
            "fingerprint": fingerprint(public, key_type), "created": self.now(),
            "tags": tags_for(params, "key-pair"),
        }
        with self.store.tx():
            if self.store.resources.get(KEYPAIR, call.account, call.region, name) is not None:
                raise AWSError("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")
            self.store.resources.put(KEYPAIR, call.account, call.region, name, doc)
        return doc

    def create_key_pair(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        key_type = params.get("KeyType") or "rsa"
        if key_type not in ("rsa", "ed25519"):
            raise AWSError("InvalidParameterValue", f"Invalid key type: {key_type}")
        if (params.get("KeyFormat") or "pem") != "pem":
            raise AWSError("InvalidParameterValue", "Only the pem key format is supported")
        name = params.get("KeyName")
        if name and self.store.resources.get(KEYPAIR, call.account, call.region, name):
            raise AWSError("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")
        private, public = generate(key_type)
        doc = self._new_key(call, name, key_type, public, params)
        out = describe(doc)
        out.pop("CreateTime")
        out.pop("KeyType")
        out["KeyMaterial"] = private
        return out

    def import_key_pair(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        material = params.get("PublicKeyMaterial") or b""
        text = (material.decode(errors="replace") if isinstance(material, bytes)
                else str(material)).strip()
        parts = text.split()
        kinds = {"ssh-rsa": "rsa", "ssh-ed25519": "ed25519"}
        if len(parts) < 2 or parts[0] not in kinds:
            raise AWSError("InvalidKey.Format",
                           "Key is not in valid OpenSSH public key format")
        try:
            base64.b64decode(parts[1], validate=True)
        except ValueError as exc:
            raise AWSError("InvalidKey.Format",
                           "Key is not in valid OpenSSH public key format") from exc
        doc = self._new_key(call, params.get("KeyName"), kinds[parts[0]],
                            " ".join(parts[:2]), params)
        return {"KeyFingerprint": doc["fingerprint"], "KeyName": doc["name"],
                "KeyPairId": doc["id"], "Tags": tagging.to_list(doc["tags"])}

    def describe_key_pairs(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        docs = self.store.resources.list(KEYPAIR, call.account, call.region)
        names, ids = params.get("KeyNames"), params.get("KeyPairIds")
        if names:
            missing = [n for n in names if n not in {d["name"] for d in docs}]
            if missing:
                raise AWSError("InvalidKeyPair.NotFound",
                               f"The key pair '{missing[0]}' does not exist")
            docs = [d for d in docs if d["name"] in names]
        if ids:
            missing = [n for n in ids if n not in {d["id"] for d in docs}]
            if missing:
                raise AWSError("InvalidKeyPair.NotFound",
                               f"The key pair ID '{missing[0]}' does not exist")
            docs = [d for d in docs if d["id"] in ids]
        found = [describe(d, bool(params.get("IncludePublicKey"))) for d in docs]
        return {"KeyPairs": filters.apply(found, params.get("Filters"), _FILTERS)}

    def delete_key_pair(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name, key_id = params.get("KeyName"), params.get("KeyPairId")
        with self.store.tx():
            for doc in self.store.resources.list(KEYPAIR, call.account, call.region):
                if doc["name"] == name or doc["id"] == key_id:
                    self.store.resources.delete(KEYPAIR, call.account, call.region, doc["name"])
                    return {"Return": True, "KeyPairId": doc["id"]}
        return {"Return": True}
