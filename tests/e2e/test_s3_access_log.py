"""S3 server access logging end to end through boto3: PutBucketLogging's
refusals as S3 answers them, then requests made by boto3 (signed and
presigned), and their records delivered as a log object in the target bucket
that parses in S3's documented format. Delivery runs every five minutes; an
orderly stop delivers what waits, which this test uses instead of waiting."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from gureum.testing.server import running_gureum

LINE = re.compile(r'\[[^\]]*\]|"[^"]*"|\S+')
NAME = re.compile(r"^access/\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9A-F]{16}$")


def test_requests_are_logged_and_delivered(tmp_path: Path) -> None:
    with running_gureum(data_dir=tmp_path / "data") as g:
        s3 = g.client("s3")
        s3.create_bucket(Bucket="site")
        s3.create_bucket(Bucket="site-logs")
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_logging(Bucket="site", BucketLoggingStatus={"LoggingEnabled": {
                "TargetBucket": "site-logs", "TargetPrefix": "access/"}})
        assert exc.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_logging(Bucket="site", BucketLoggingStatus={"LoggingEnabled": {
                "TargetBucket": "nowhere-to-be-found", "TargetPrefix": "access/"}})
        assert exc.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"
        s3.put_bucket_policy(Bucket="site-logs", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": "S3ServerAccessLogsPolicy", "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": "arn:aws:s3:::site-logs/access/*"}]}))
        s3.put_bucket_logging(Bucket="site", BucketLoggingStatus={"LoggingEnabled": {
            "TargetBucket": "site-logs", "TargetPrefix": "access/"}})
        assert s3.get_bucket_logging(Bucket="site")["LoggingEnabled"] == {
            "TargetBucket": "site-logs", "TargetPrefix": "access/"}

        s3.put_object(Bucket="site", Key="index.html", Body=b"<h1>hi</h1>")
        assert s3.get_object(Bucket="site", Key="index.html")["Body"].read() == b"<h1>hi</h1>"
        with pytest.raises(ClientError):
            s3.head_object(Bucket="site", Key="missing.html")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "site",
                                                               "Key": "index.html"})
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.read() == b"<h1>hi</h1>"

        g.restart()  # an orderly stop delivers the records that wait
        s3 = g.client("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="site-logs").get("Contents", [])]
        assert len(keys) == 1 and NAME.match(keys[0]), keys
        body = s3.get_object(Bucket="site-logs", Key=keys[0])["Body"].read().decode()
        records = [LINE.findall(line) for line in body.splitlines()]
        assert all(len(r) == 26 for r in records)
        by_operation = [(r[6], r[7], r[9], r[10]) for r in records]
        assert by_operation == [
            ("REST.PUT.LOGGING_STATUS", "-", "200", "-"),
            ("REST.GET.LOGGING_STATUS", "-", "200", "-"),
            ("REST.PUT.OBJECT", "index.html", "200", "-"),
            ("REST.GET.OBJECT", "index.html", "200", "-"),
            ("REST.HEAD.OBJECT", "missing.html", "404", "NoSuchKey"),
            ("REST.GET.OBJECT", "index.html", "200", "-"),
        ]
        put, get, presigned = records[2], records[3], records[5]
        assert put[1] == "site" and put[3] == "127.0.0.1"
        assert put[4] == "arn:aws:iam::000000000000:root"
        assert put[8] == '"PUT /site/index.html HTTP/1.1"'
        assert get[11] == "11" and get[12] == "11"  # bytes sent, object size
        assert "Boto3" in get[16] or "Botocore" in get[16]  # the user agent
        assert get[19] == "SigV4" and get[21] == "AuthHeader"
        assert presigned[21] == "QueryString"
        assert records[0][5] != records[2][5]  # request ids
        # The log object's delivery (and reading the target) was not logged.
        g.restart()
        s3 = g.client("s3")
        after = [o["Key"] for o in s3.list_objects_v2(Bucket="site-logs").get("Contents", [])]
        assert after == keys
