"""Resource ids and ARNs in AWS's formats (``i-`` + 17 hex digits, ...)."""

from __future__ import annotations

import secrets
import uuid


def hex_id(prefix: str, length: int = 17) -> str:
    """``hex_id("i")`` → ``i-0123456789abcdef0``; EC2's long ids have 17 hex digits."""
    return f"{prefix}-{secrets.token_hex((length + 1) // 2)[:length]}"


def request_id() -> str:
    return str(uuid.uuid4())


def arn(service: str, region: str, account: str, resource: str, partition: str = "aws") -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def parse_arn(text: str) -> dict[str, str] | None:
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return dict(
        zip(("arn", "partition", "service", "region", "account", "resource"), parts, strict=True)
    )


def access_key_id(prefix: str = "AKIA") -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(16))


def secret_access_key() -> str:
    return secrets.token_urlsafe(30)[:40]
