"""S3's XML request bodies: a value outside a model enum inside the body is
MalformedXML (MalformedACLError for an ACL document), as S3 answers it; enums
carried by headers or the query stay InvalidArgument, and other protocols
keep their own codes."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from gureum.errors import AWSError
from gureum.gateway.validate import validate

_SESSION = botocore.session.get_session()


def code_of(service: str, operation: str, params: dict[str, Any], missing: str, invalid: str,
            xml_body: bool) -> str:
    shape = _SESSION.get_service_model(service).operation_model(operation).input_shape
    with pytest.raises(AWSError) as exc:
        validate(params, shape, missing, invalid, xml_body=xml_body)
    assert exc.value.status == 400
    return exc.value.code


@pytest.mark.parametrize("operation,params,expected", [
    ("PutBucketVersioning", {"VersioningConfiguration": {"Status": "On"}}, "MalformedXML"),
    ("PutBucketEncryption", {"ServerSideEncryptionConfiguration": {"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "rot13"}}]}}, "MalformedXML"),
    ("PutBucketOwnershipControls", {"OwnershipControls": {"Rules": [
        {"ObjectOwnership": "Mine"}]}}, "MalformedXML"),
    ("PutBucketAccelerateConfiguration", {"AccelerateConfiguration": {"Status": "Fast"}},
     "MalformedXML"),
    ("PutBucketRequestPayment", {"RequestPaymentConfiguration": {"Payer": "Nobody"}},
     "MalformedXML"),
    ("PutBucketAcl", {"AccessControlPolicy": {"Grants": [{"Permission": "ALL"}]}},
     "MalformedACLError"),
    ("PutObject", {"Key": "k", "ACL": "secret"}, "InvalidArgument"),
    ("PutBucketVersioning", {"VersioningConfiguration": {"Status": "Enabled"},
                             "ChecksumAlgorithm": "MD4"}, "InvalidArgument"),
])
def test_s3_body_enums_are_malformed_xml(
    operation: str, params: dict[str, Any], expected: str,
) -> None:
    assert code_of("s3", operation, {"Bucket": "b", **params}, "InvalidRequest",
                   "InvalidArgument", xml_body=True) == expected


def test_other_protocols_keep_their_code() -> None:
    params = {"Namespace": "n", "MetricData": [{"MetricName": "m", "Unit": "Furlongs"}]}
    assert code_of("cloudwatch", "PutMetricData", params, "MissingParameter",
                   "InvalidParameterValue", xml_body=False) == "InvalidParameterValue"
