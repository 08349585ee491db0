"""Managed master passwords (ManageMasterUserPassword), as RDS does them: the
password is generated, kept in a Secrets Manager secret named
``rds!db-<uuid>`` that RDS owns (``{"username": ..., "password": ...}``), and
set on the server; DescribeDBInstances shows the secret as
``MasterUserSecret``. Turning management off (with a new MasterUserPassword)
or deleting the DB instance deletes the secret. The password itself never
leaves this module except as the secret's value and the server's verifier.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from gureum.drivers.mysql import native_hash
from gureum.drivers.postgres import verifier

from ..base import Call
from ..secretsmanager import records
from . import validate
from .core import RDSCore
from .engines import MYSQL_ENGINES

OWNER = "rds"
# Characters RDS refuses in a master password ('/', '"', '@', space), and the
# quote and backslash that shells and connection strings trip over.
EXCLUDED = "/\"@ '\\"


def hashed(engine: str, password: str) -> str:
    """What the server keeps: a mysql_native_password hash or a SCRAM verifier."""
    return native_hash(password) if engine in MYSQL_ENGINES else verifier(password)


class ManagedPasswords(RDSCore):
    def _kms_key(self, call: Call, given: Any) -> str:
        if isinstance(given, str) and given:
            return given
        # The account's AWS managed key for Secrets Manager (aws/secretsmanager).
        key = uuid.uuid5(uuid.NAMESPACE_URL, f"kms:{call.account}:{call.region}:secretsmanager")
        return f"arn:aws:kms:{call.region}:{call.account}:key/{key}"

    def manage_password(self, call: Call, id: str, engine: str, username: str,
                        kms: Any = None) -> tuple[dict[str, Any], str]:
        """A new RDS-owned secret for DB instance ``id``: its record for the
        instance document and the server's verifier of the password in it."""
        password = records.random_password(32, exclude=EXCLUDED)
        arn = self.arn(call.account, call.region, "db-instance", id)
        now = self.now()
        with self.store.tx():
            doc = records.new_secret(
                self.store, call.account, call.region, f"rds!db-{uuid.uuid4()}", now,
                description=f"Secret associated with primary RDS DB instance: {arn}",
                kms_key_id=self._kms_key(call, kms), owner=OWNER,
                tags={"aws:rds:primaryDBInstanceArn": arn,
                      "aws:secretsmanager:owningService": OWNER})
            records.add_version(self.store, doc, now, text=json.dumps(
                {"username": username, "password": password}))
        return {"arn": doc["arn"], "kms": doc["kms_key_id"]}, hashed(engine, password)

    def rotate_password(self, call: Call, doc: dict[str, Any]) -> str:
        """A new password as the secret's AWSCURRENT version; its verifier."""
        password = records.random_password(32, exclude=EXCLUDED)
        with self.store.tx():
            secret = records.find(self.store, call.account, call.region,
                                  doc["master_secret"]["arn"])
            if secret is None:
                raise validate.combination("The DB instance's master user secret is gone.")
            records.add_version(self.store, secret, self.now(), text=json.dumps(
                {"username": doc["master_username"], "password": password}))
        return hashed(doc["engine"], password)

    def drop_managed_secret(self, doc: dict[str, Any]) -> None:
        """Delete the instance's managed secret (at once, as RDS does)."""
        managed = doc.pop("master_secret", None)
        if not managed:
            return
        with self.store.tx():
            secret = records.find(self.store, doc["account"], doc["region"], managed["arn"])
            if secret is not None:
                records.remove(self.store, secret)

    def modify_managed_password(self, call: Call, doc: dict[str, Any],
                                params: dict[str, Any], pending: dict[str, Any]) -> None:
        """ModifyDBInstance's ManageMasterUserPassword and RotateMasterUserPassword."""
        manage = params.get("ManageMasterUserPassword")
        rotate = bool(params.get("RotateMasterUserPassword"))
        given = params.get("MasterUserPassword") is not None
        managed = bool(doc.get("master_secret"))
        if manage is True:
            if given:
                raise validate.combination("Specify MasterUserPassword or "
                                           "ManageMasterUserPassword, not both.")
            if doc.get("replica_of"):
                raise validate.combination("The master password of a read replica comes "
                                           "from its source.")
            if not managed:
                doc["master_secret"], pending["verifier"] = self.manage_password(
                    call, doc["id"], doc["engine"], doc["master_username"],
                    params.get("MasterUserSecretKmsKeyId"))
                managed = True
        elif manage is False and managed:
            if not given:
                raise validate.combination("You must specify MasterUserPassword when you "
                                           "turn off ManageMasterUserPassword.")
            self.drop_managed_secret(doc)
            managed = False
        elif given and managed:
            raise validate.combination("The master user password is managed in Secrets "
                                       "Manager: set ManageMasterUserPassword to false to "
                                       "give one.")
        if rotate:
            if not managed:
                raise validate.combination("RotateMasterUserPassword needs a master user "
                                           "password managed in Secrets Manager.")
            if not params.get("ApplyImmediately"):
                raise validate.combination("RotateMasterUserPassword needs "
                                           "ApplyImmediately.")
            if manage is not True or "verifier" not in pending:
                pending["verifier"] = self.rotate_password(call, doc)
