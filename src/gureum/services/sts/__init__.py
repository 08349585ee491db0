"""STS: who am I. Identities come from the gateway's authentication."""

from __future__ import annotations

from typing import Any

from gureum.errors import AWSError

from ..base import Call, Service


class STS(Service):
    name = "sts"

    def get_caller_identity(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        ident = call.identity
        return {"UserId": ident.user_id, "Account": ident.account_id, "Arn": ident.arn}

    def get_access_key_info(self, call: Call, params: dict[str, Any]) -> dict[str, Any]:
        key = self.env.store.get_access_key(params["AccessKeyId"])
        if key is None:
            digits = params["AccessKeyId"]
            if digits.isdigit() and len(digits) == 12:
                return {"Account": digits}
            raise AWSError("InvalidParameterValue", "The access key is not valid")
        return {"Account": key.account_id}
