"""Where secrets live. A secret's metadata is a resource document
(``secretsmanager:secret``, keyed by name); its versions' values are rows of
the ``secretsmanager_versions`` table, keyed by the secret's ARN (a secret
deleted and created again under the same name has a new ARN, so old values
never leak into it). Staging labels are kept in the document.

The functions here are the whole write path, shared by the Secrets Manager
API and by services that own secrets (RDS's managed master passwords); values
are never logged.
"""

from __future__ import annotations

import secrets as random
import string
import uuid
from typing import Any

from gureum.errors import AWSError
from gureum.store import register_migration

KIND = "secretsmanager:secret"
CURRENT, PREVIOUS, PENDING = "AWSCURRENT", "AWSPREVIOUS", "AWSPENDING"

register_migration(
    9000,
    "secretsmanager_versions",
    """
    CREATE TABLE secretsmanager_versions (
        arn TEXT NOT NULL,
        version_id TEXT NOT NULL,
        string TEXT,
        binary BLOB,
        created REAL NOT NULL,
        PRIMARY KEY (arn, version_id)
    );
    """,
)

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def not_found(message: str = "Secrets Manager can't find the specified secret.") -> AWSError:
    return AWSError("ResourceNotFoundException", message)


def invalid_request(message: str) -> AWSError:
    return AWSError("InvalidRequestException", message)


def invalid_parameter(message: str) -> AWSError:
    return AWSError("InvalidParameterException", message)


def arn_for(account: str, region: str, name: str) -> str:
    suffix = "".join(random.choice(string.ascii_letters + string.digits) for _ in range(6))
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix}"


def find(store: Any, account: str, region: str, secret_id: Any) -> dict[str, Any] | None:
    """The secret named by its name, full ARN or ARN without the random suffix."""
    if not isinstance(secret_id, str) or not secret_id:
        return None
    if secret_id.startswith("arn:"):
        parts = secret_id.split(":", 6)
        if len(parts) != 7 or parts[2] != "secretsmanager" or parts[5] != "secret":
            return None
        name = parts[6]
        for candidate in (name[:-7] if len(name) > 7 and name[-7] == "-" else None, name):
            if candidate is None:
                continue
            doc: dict[str, Any] | None = store.resources.get(KIND, account, region, candidate)
            if doc is not None and (doc["arn"] == secret_id or candidate == name):
                return doc
        return None
    found: dict[str, Any] | None = store.resources.get(KIND, account, region, secret_id)
    return found


def save(store: Any, doc: dict[str, Any]) -> None:
    store.resources.put(KIND, doc["account"], doc["region"], doc["name"], doc)


def new_secret(store: Any, account: str, region: str, name: str, now: float, *,
               description: str | None = None, kms_key_id: str | None = None,
               tags: dict[str, str] | None = None, owner: str | None = None
               ) -> dict[str, Any]:
    """A new secret with no value yet (the caller checks the name is free)."""
    doc: dict[str, Any] = {
        "name": name, "arn": arn_for(account, region, name), "account": account,
        "region": region, "description": description, "kms_key_id": kms_key_id,
        "tags": dict(tags or {}), "created": now, "changed": now, "accessed": None,
        "deleted": None, "delete_at": None, "owner": owner, "stages": {},
        "versions": {},  # version id -> created
    }
    save(store, doc)
    return doc


def add_version(store: Any, doc: dict[str, Any], now: float, *, text: str | None = None,
                binary: bytes | None = None, version_id: str | None = None,
                stages: list[str] | None = None) -> str:
    """Store a new version and move its staging labels to it (AWSCURRENT moving
    makes the version it leaves AWSPREVIOUS). An existing version id with the
    same value is a retry: nothing changes; with another value it is refused."""
    vid = version_id or str(uuid.uuid4())
    conn = store.connection
    row = conn.execute("SELECT string, binary FROM secretsmanager_versions WHERE arn = ? AND"
                       " version_id = ?", (doc["arn"], vid)).fetchone()
    if row is not None:
        if row[0] == text and (bytes(row[1]) if row[1] is not None else None) == binary:
            return vid
        raise AWSError("ResourceExistsException",
                       "A resource with the ID you requested already exists.")
    labels = [CURRENT] if stages is None else list(stages)
    conn.execute("INSERT INTO secretsmanager_versions (arn, version_id, string, binary, created)"
                 " VALUES (?, ?, ?, ?, ?)", (doc["arn"], vid, text, binary, now))
    versions: dict[str, float] = doc["versions"]
    versions[vid] = now
    table: dict[str, list[str]] = doc["stages"]
    old_current = next((v for v, ls in table.items() if CURRENT in ls), None)
    for label in labels:
        for v in table:
            if label in table[v]:
                table[v].remove(label)
    table[vid] = labels
    if CURRENT in labels and old_current is not None and old_current != vid:
        for v in table:
            if PREVIOUS in table[v]:
                table[v].remove(PREVIOUS)
        table[old_current].append(PREVIOUS)
    # Versions with no label are deprecated; AWS keeps about 100 of them.
    unlabelled = sorted((v for v, ls in table.items() if not ls), key=lambda v: versions[v])
    for v in unlabelled[:-100]:
        del table[v]
        del versions[v]
        conn.execute("DELETE FROM secretsmanager_versions WHERE arn = ? AND version_id = ?",
                     (doc["arn"], v))
    doc["changed"] = now
    save(store, doc)
    return vid


def read_version(store: Any, doc: dict[str, Any], version_id: str | None,
                 stage: str | None) -> tuple[str, str | None, bytes | None, float]:
    """(version id, string, binary, created) of the version asked for."""
    table: dict[str, list[str]] = doc["stages"]
    if version_id is not None:
        if version_id not in table:
            raise not_found(f"Secrets Manager can't find the specified secret value for "
                            f"VersionId: {version_id}")
        if stage is not None and stage not in table[version_id]:
            raise not_found(f"Secrets Manager can't find the specified secret value for "
                            f"VersionId: {version_id} and staging label: {stage}")
        vid = version_id
    else:
        label = stage or CURRENT
        found = next((v for v, ls in table.items() if label in ls), None)
        if found is None:
            raise not_found(f"Secrets Manager can't find the specified secret value for "
                            f"staging label: {label}")
        vid = found
    row = store.connection.execute(
        "SELECT string, binary, created FROM secretsmanager_versions WHERE arn = ? AND"
        " version_id = ?", (doc["arn"], vid)).fetchone()
    if row is None:
        raise not_found()
    return vid, row[0], bytes(row[1]) if row[1] is not None else None, float(row[2])


def remove(store: Any, doc: dict[str, Any]) -> None:
    """Delete a secret and every version's value, now."""
    store.connection.execute("DELETE FROM secretsmanager_versions WHERE arn = ?", (doc["arn"],))
    store.resources.delete(KIND, doc["account"], doc["region"], doc["name"])


def purge_due(store: Any, account: str, region: str, now: float) -> None:
    """Secrets whose recovery window has ended are deleted for good."""
    for doc in store.resources.list(KIND, account, region):
        if doc.get("delete_at") is not None and doc["delete_at"] <= now:
            remove(store, doc)


def random_password(length: int = 32, *, exclude: str = "", numbers: bool = True,
                    punctuation: bool = True, uppercase: bool = True, lowercase: bool = True,
                    space: bool = False, each: bool = True) -> str:
    """A password as GetRandomPassword makes one: with ``each``, at least one
    character of every included kind."""
    kinds = [k for k, on in ((string.ascii_lowercase, lowercase),
                             (string.ascii_uppercase, uppercase), (string.digits, numbers),
                             (PUNCTUATION, punctuation), (" ", space)) if on]
    kinds = ["".join(c for c in k if c not in exclude) for k in kinds]
    kinds = [k for k in kinds if k]
    if not kinds:
        raise invalid_parameter("The password can't be made: every character is excluded.")
    if each and length < len(kinds):
        raise invalid_parameter("The password length is too short to include every "
                                "required character type.")
    pool = "".join(kinds)
    chars = [random.choice(k) for k in kinds] if each else []
    chars += [random.choice(pool) for _ in range(length - len(chars))]
    for i in range(len(chars) - 1, 0, -1):  # Fisher-Yates with a CSPRNG
        j = random.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)
