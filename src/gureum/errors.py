"""The one error type every layer raises: an AWS error with its code and HTTP status.

Services raise ``AWSError`` (or a subclass); the gateway serializes it in the
protocol of the request, using the modelled error shape when the service model
has one with that code.
"""

from __future__ import annotations

from typing import Any


class AWSError(Exception):
    """An error that AWS would answer with ``code`` and HTTP ``status``.

    ``sender`` is False for server-side faults (``<Type>Receiver</Type>``).
    ``fields`` are extra members of the modelled error shape (e.g. S3's
    ``BucketName``), serialized where the protocol carries them.
    """

    code: str = "InternalError"
    status: int = 400
    sender: bool = True

    def __init__(
        self,
        code: str | None = None,
        message: str = "",
        status: int | None = None,
        *,
        sender: bool | None = None,
        **fields: Any,
    ) -> None:
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender is not None:
            self.sender = sender
        self.message = message
        self.fields = fields
        super().__init__(f"{self.code}: {message}")


class ValidationError(AWSError):
    """Bad input; the gateway renames the code to the service's own spelling."""

    code = "ValidationError"


class NotImplementedOperation(AWSError):
    code = "NotImplemented"
    status = 501


class InternalError(AWSError):
    code = "InternalError"
    status = 500
    sender = False
