"""AWS Secrets Manager: secrets with versions and staging labels (AWSCURRENT,
AWSPREVIOUS), scheduled deletion with a recovery window, tags, random
passwords. Records are in ``records``; RDS's managed master passwords are
secrets owned by RDS (``OwningService`` ``rds``) made through the same
functions. Values are returned only by GetSecretValue and never logged.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from gureum.errors import AWSError

from ..base import Call, Service
from ..common import tags as tagging
from ..common.pagination import paginate
from . import records
from .records import KIND, invalid_parameter, invalid_request, not_found

NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
TOKEN = re.compile(r"^[A-Za-z0-9-]{32,64}$")
FILTER_KEYS = ("description", "name", "tag-key", "tag-value", "primary-region",
               "owning-service", "all")
DAY = 86400.0


def _binary(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):  # the gateway may pass the blob still base64-encoded
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise invalid_parameter("SecretBinary is not valid base64") from None
    raise invalid_parameter("SecretBinary must be a blob")


def _value(params: dict[str, Any]) -> tuple[str | None, bytes | None]:
    text, blob = params.get("SecretString"), _binary(params.get("SecretBinary"))
    if text is not None and blob is not None:
        raise invalid_parameter("You can't specify both a binary secret value and a string "
                                "secret value in the same secret.")
    size = len(text.encode()) if text is not None else len(blob or b"")
    if size > 65536:
        raise invalid_parameter("The secret value is larger than 65536 bytes.")
    return text, blob


def _token(params: dict[str, Any]) -> str | None:
    token = params.get("ClientRequestToken")
    if token is not None and not TOKEN.match(token):
        raise invalid_parameter("ClientRequestToken must be 32 to 64 letters, digits or "
                                "hyphens.")
    return token if isinstance(token, str) else None


def _match(doc: dict[str, Any], key: str, value: str) -> bool:
    negate = value.startswith("!")
    value = value[1:] if negate else value
    tags: dict[str, str] = doc.get("tags") or {}
    fields = {
        "name": [doc["name"]], "description": [doc.get("description") or ""],
        "tag-key": list(tags), "tag-value": list(tags.values()),
        "primary-region": [doc["region"]], "owning-service": [doc.get("owner") or ""],
    }
    candidates = [v for vs in fields.values() for v in vs] if key == "all" else fields[key]
    # Name and tag filters match a prefix, case-sensitively, as AWS's do.
    hit = any(c.startswith(value) for c in candidates)
    return hit != negate


class SecretsManager(Service):
    name = "secretsmanager"
    kinds = (KIND,)

    @property
    def store(self) -> Any:
        return self.env.store

    def now(self) -> float:
        return float(self.env.clock.now())

    async def reset(self) -> None:
        with self.store.tx() as conn:
            conn.execute("DELETE FROM secretsmanager_versions")
            self.store.resources.delete_all(kind=KIND)

    # -- lookups -----------------------------------------------------------

    def _get(self, call: Call, secret_id: Any, *, live: bool = False) -> dict[str, Any]:
        if not isinstance(secret_id, str) or not secret_id:
            raise AWSError("ValidationException", "SecretId must be given")
        doc = records.find(self.store, call.account, call.region, secret_id)
        if doc is None:
            raise not_found()
        if doc.get("delete_at") is not None and doc["delete_at"] <= self.now():
            with self.store.tx():  # its recovery window is over: gone for good
                records.remove(self.store, doc)
            raise not_found()
        if live and doc.get("deleted") is not None:
            raise invalid_request("You can't perform this operation on the secret because "
                                  "it was marked for deletion.")
        return doc

    def _owned(self, doc: dict[str, Any]) -> None:
        if doc.get("owner"):
            raise invalid_request(f"You can't modify secret {doc['name']} because it is "
                                  f"managed by {doc['owner']}. Use {doc['owner']} to "
                                  f"change it.")

    # -- operations --------------------------------------------------------

    def create_secret(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("Name")
        if not isinstance(name, str) or not NAME.match(name):
            raise invalid_parameter("Invalid name. Must be a valid name containing "
                                    "alphanumeric characters, or any of the following: "
                                    "-/_+=.@!")
        text, blob = _value(params)
        token = _token(params)
        tags = tagging.to_dict(params.get("Tags"), "InvalidParameterException")
        if len(tags) > 50:
            raise invalid_parameter("A secret can have at most 50 tags.")
        now = self.now()
        with self.store.tx():
            records.purge_due(self.store, call.account, call.region, now)
            doc = records.find(self.store, call.account, call.region, name)
            if doc is not None:
                if doc.get("deleted") is not None:
                    raise invalid_request("You can't create this secret because a secret "
                                          "with this name is already scheduled for "
                                          "deletion.")
                raise AWSError("ResourceExistsException",
                               f"The operation failed because the secret {name} already "
                               f"exists.")
            doc = records.new_secret(self.store, call.account, call.region, name, now,
                                     description=params.get("Description"),
                                     kms_key_id=params.get("KmsKeyId"), tags=tags)
            out = {"ARN": doc["arn"], "Name": name}
            if text is not None or blob is not None:
                out["VersionId"] = records.add_version(self.store, doc, now, text=text,
                                                       binary=blob, version_id=token)
        return out

    def get_secret_value(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._get(call, params.get("SecretId"), live=True)
        vid, text, blob, created = records.read_version(
            self.store, doc, params.get("VersionId"), params.get("VersionStage"))
        day = self.now() // DAY * DAY
        if doc.get("accessed") != day:  # AWS records the date only: one write a day
            with self.store.tx():
                doc["accessed"] = day
                records.save(self.store, doc)
        out: dict[str, Any] = {"ARN": doc["arn"], "Name": doc["name"], "VersionId": vid,
                               "VersionStages": list(doc["stages"][vid]),
                               "CreatedDate": created}
        if text is not None:
            out["SecretString"] = text
        if blob is not None:
            out["SecretBinary"] = blob
        return out

    def put_secret_value(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        text, blob = _value(params)
        if text is None and blob is None:
            raise invalid_parameter("You must provide either SecretString or SecretBinary.")
        stages = params.get("VersionStages")
        with self.store.tx():
            doc = self._get(call, params.get("SecretId"), live=True)
            self._owned(doc)
            vid = records.add_version(self.store, doc, self.now(), text=text, binary=blob,
                                      version_id=_token(params), stages=stages)
        return {"ARN": doc["arn"], "Name": doc["name"], "VersionId": vid,
                "VersionStages": list(doc["stages"][vid])}

    def update_secret(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        text, blob = _value(params)
        with self.store.tx():
            doc = self._get(call, params.get("SecretId"), live=True)
            out = {"ARN": doc["arn"], "Name": doc["name"]}
            if text is not None or blob is not None:
                self._owned(doc)
                out["VersionId"] = records.add_version(self.store, doc, self.now(),
                                                       text=text, binary=blob,
                                                       version_id=_token(params))
            if params.get("Description") is not None:
                doc["description"] = params["Description"]
            if params.get("KmsKeyId") is not None:
                doc["kms_key_id"] = params["KmsKeyId"]
            doc["changed"] = self.now()
            records.save(self.store, doc)
        return out

    def _describe(self, doc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ARN": doc["arn"], "Name": doc["name"], "RotationEnabled": False,
            "LastChangedDate": doc["changed"], "CreatedDate": doc["created"],
            "VersionIdsToStages": {v: ls for v, ls in doc["stages"].items() if ls},
        }
        if doc.get("description") is not None:
            out["Description"] = doc["description"]
        if doc.get("kms_key_id"):
            out["KmsKeyId"] = doc["kms_key_id"]
        if doc.get("tags"):
            out["Tags"] = tagging.to_list(doc["tags"])
        if doc.get("accessed") is not None:
            out["LastAccessedDate"] = doc["accessed"]
        if doc.get("deleted") is not None:
            out["DeletedDate"] = doc["deleted"]
        if doc.get("owner"):
            out["OwningService"] = doc["owner"]
        return out

    def describe_secret(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._get(call, params.get("SecretId")))

    def list_secrets(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= 100:
            raise invalid_parameter("MaxResults must be between 1 and 100.")
        docs = self.store.resources.list(KIND, call.account, call.region)
        now = self.now()
        due = [d for d in docs if d.get("delete_at") is not None and d["delete_at"] <= now]
        if due:  # recovery windows that are over: gone for good
            with self.store.tx():
                for d in due:
                    records.remove(self.store, d)
            docs = [d for d in docs if d not in due]
        if not params.get("IncludePlannedDeletion"):
            docs = [d for d in docs if d.get("deleted") is None]
        for f in params.get("Filters") or []:
            key, values = f.get("Key"), f.get("Values") or []
            if key not in FILTER_KEYS:
                raise invalid_parameter(f"Invalid filter key: {key}. Valid keys: "
                                        f"{', '.join(FILTER_KEYS)}")
            if not values:
                raise invalid_parameter(f"Filter {key} needs at least one value.")
            positive = [v for v in values if not v.startswith("!")]
            negative = [v for v in values if v.startswith("!")]
            docs = [d for d in docs
                    if (not positive or any(_match(d, key, v) for v in positive))
                    and all(_match(d, key, v) for v in negative)]
        by = params.get("SortBy") or "created-date"
        sort_keys = {"created-date": lambda d: (d["created"], d["name"]),
                     "name": lambda d: (d["name"], 0.0),
                     "last-changed-date": lambda d: (d["changed"], d["name"]),
                     "last-accessed-date": lambda d: (d.get("accessed") or 0.0, d["name"])}
        if by not in sort_keys:
            raise invalid_parameter(f"Invalid SortBy: {by}")
        docs.sort(key=sort_keys[by], reverse=params.get("SortOrder") == "desc")
        position = {d["arn"]: f"{i:08d}" for i, d in enumerate(docs)}
        page, token = paginate(docs, params.get("NextToken"), limit,
                               key=lambda d: position[d["arn"]], default_limit=100,
                               error_code="InvalidNextTokenException")
        out: dict[str, Any] = {"SecretList": []}
        for d in page:
            item = self._describe(d)
            item["SecretVersionsToStages"] = item.pop("VersionIdsToStages")
            out["SecretList"].append(item)
        if token:
            out["NextToken"] = token
        return out

    def batch_get_secret_value(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        ids, wanted = params.get("SecretIdList"), params.get("Filters")
        if bool(ids) == bool(wanted):
            raise invalid_parameter("Specify either SecretIdList or Filters, not both.")
        out: dict[str, Any] = {"SecretValues": [], "Errors": []}
        if ids:
            if len(ids) > 20:
                raise invalid_parameter("SecretIdList can name at most 20 secrets.")
            if params.get("MaxResults") is not None or params.get("NextToken"):
                raise invalid_parameter("MaxResults and NextToken go with Filters only.")
        else:
            listed = self.list_secrets(call, {"Filters": wanted,
                                              "MaxResults": params.get("MaxResults") or 20,
                                              "NextToken": params.get("NextToken")})
            ids = [s["ARN"] for s in listed["SecretList"]]
            if listed.get("NextToken"):
                out["NextToken"] = listed["NextToken"]
        for secret_id in ids:
            try:
                value = self.get_secret_value(call, {"SecretId": secret_id})
            except AWSError as e:
                out["Errors"].append({"SecretId": secret_id, "ErrorCode": e.code,
                                      "Message": e.message})
            else:
                out["SecretValues"].append(value)
        return out

    def update_secret_version_stage(self, call: Call, params: dict[str, Any]
                                    ) -> dict[str, Any]:
        label = params.get("VersionStage")
        source, target = params.get("RemoveFromVersionId"), params.get("MoveToVersionId")
        if not isinstance(label, str) or not label:
            raise invalid_parameter("VersionStage must be given.")
        with self.store.tx():
            doc = self._get(call, params.get("SecretId"), live=True)
            table: dict[str, list[str]] = doc["stages"]
            holder = next((v for v, ls in table.items() if label in ls), None)
            for vid in (source, target):
                if vid is not None and vid not in table:
                    raise not_found(f"Secrets Manager can't find the specified secret "
                                    f"version: {vid}")
            if source is not None and holder != source:
                raise invalid_parameter(f"The staging label {label} is not attached to "
                                        f"version {source}.")
            if target is None:
                if source is None:
                    raise invalid_parameter("Specify RemoveFromVersionId, MoveToVersionId "
                                            "or both.")
                if label == records.CURRENT:
                    raise invalid_parameter("AWSCURRENT can only be moved to another "
                                            "version, not removed.")
                table[source].remove(label)
            elif holder != target:
                if holder is not None and source is None:
                    raise invalid_parameter(f"The staging label {label} is attached to "
                                            f"version {holder}: name it in "
                                            f"RemoveFromVersionId to move it.")
                if holder is not None:
                    table[holder].remove(label)
                table[target].append(label)
                if label == records.CURRENT and holder is not None:
                    for ls in table.values():
                        if records.PREVIOUS in ls:
                            ls.remove(records.PREVIOUS)
                    table[holder].append(records.PREVIOUS)
            doc["changed"] = self.now()
            records.save(self.store, doc)
        return {"ARN": doc["arn"], "Name": doc["name"]}

    def list_secret_version_ids(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._get(call, params.get("SecretId"))
        every = bool(params.get("IncludeDeprecated"))
        versions = [{"VersionId": v, "VersionStages": ls, "CreatedDate": doc["versions"][v]}
                    for v, ls in doc["stages"].items() if ls or every]
        versions.sort(key=lambda v: v["CreatedDate"], reverse=True)
        return {"ARN": doc["arn"], "Name": doc["name"], "Versions": versions}

    def delete_secret(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        force = bool(params.get("ForceDeleteWithoutRecovery"))
        window = params.get("RecoveryWindowInDays")
        if force and window is not None:
            raise invalid_parameter("You can't use ForceDeleteWithoutRecovery in conjunction "
                                    "with RecoveryWindowInDays.")
        days = 30 if window is None else window
        if not force and not 7 <= days <= 30:
            raise invalid_parameter("The RecoveryWindowInDays value must be between 7 and "
                                    "30 days (inclusive).")
        now = self.now()
        with self.store.tx():
            doc = self._get(call, params.get("SecretId"))
            self._owned(doc)
            if doc.get("deleted") is not None and not force:
                raise invalid_request("You can't perform this operation on the secret because "
                                      "it was already scheduled for deletion.")
            if force:
                records.remove(self.store, doc)
                when = now
            else:
                doc["deleted"], doc["delete_at"] = now, now + days * DAY
                records.save(self.store, doc)
                when = doc["delete_at"]
        return {"ARN": doc["arn"], "Name": doc["name"], "DeletionDate": when}

    def restore_secret(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._get(call, params.get("SecretId"))
            doc["deleted"] = doc["delete_at"] = None
            records.save(self.store, doc)
        return {"ARN": doc["arn"], "Name": doc["name"]}

    def tag_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        added = tagging.to_dict(params.get("Tags"), "InvalidParameterException")
        with self.store.tx():
            doc = self._get(call, params.get("SecretId"), live=True)
            merged = {**doc["tags"], **added}
            if len(merged) > 50:
                raise invalid_parameter("A secret can have at most 50 tags.")
            doc["tags"] = merged
            records.save(self.store, doc)
        return {}

    def untag_resource(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        with self.store.tx():
            doc = self._get(call, params.get("SecretId"), live=True)
            for key in params.get("TagKeys") or []:
                doc["tags"].pop(key, None)
            records.save(self.store, doc)
        return {}

    def get_random_password(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        length = params.get("PasswordLength", 32)
        if not 1 <= length <= 4096:
            raise invalid_parameter("PasswordLength must be between 1 and 4096.")
        password = records.random_password(
            length, exclude=params.get("ExcludeCharacters") or "",
            numbers=not params.get("ExcludeNumbers"),
            punctuation=not params.get("ExcludePunctuation"),
            uppercase=not params.get("ExcludeUppercase"),
            lowercase=not params.get("ExcludeLowercase"),
            space=bool(params.get("IncludeSpace")),
            each=params.get("RequireEachIncludedType", True) is not False)
        return {"RandomPassword": password}
