"""The request chain in-process: a crash inside an operation is a 500
InternalError with no traceback in the body, and is logged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.exceptions import ClientError

from gureum.config import Settings
from gureum.httpfront import LeanSite
from gureum.server import Cloud, build_app
from gureum.testing.server import free_port


@contextlib.contextmanager
def cloud_in_thread(tmp_path: Path, lean: bool = False) -> Iterator[tuple[Cloud, str]]:
    """gureum's cloud served in a thread of its own, by aiohttp's site or
    (``lean``) by the lean HTTP front as ``gureum up`` serves it: the cloud
    and its endpoint."""
    port = free_port()
    settings = Settings.load({}, port=port, data_dir=tmp_path)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        cloud = Cloud(settings)
        holder["cloud"] = cloud
        quiet: dict[str, Any] = {"access_log": None} if lean else {}
        runner = web.AppRunner(build_app(cloud), auto_decompress=False, **quiet)
        await runner.setup()
        if lean:
            await LeanSite(runner, "127.0.0.1", port, cloud.gateway.answer,
                           in_flight=cloud.gateway.store).start()
        else:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        holder["stop"] = asyncio.Event()
        ready.set()
        await holder["stop"].wait()
        await runner.cleanup()
        await cloud.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield holder["cloud"], f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(10)
        loop.close()


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[tuple[Cloud, str]]:
    with cloud_in_thread(tmp_path) as served:
        yield served


def test_crash_is_internal_error_without_traceback(
    in_process: tuple[Cloud, str], caplog: pytest.LogCaptureFixture
) -> None:
    cloud, endpoint = in_process

    def explode(call: Any, params: Any) -> Any:
        raise RuntimeError("secret detail of the crash")

    sts = cloud.services["sts"]
    sts.get_caller_identity = explode  # type: ignore[attr-defined,method-assign]
    cloud.gateway._operations.clear()
    client = boto3.client(
        "sts", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}),
    )
    raw: list[bytes] = []
    client.meta.events.register(
        "after-call", lambda http_response, **kw: raw.append(http_response.content)
    )
    with caplog.at_level(logging.ERROR, logger="gureum.gateway"), pytest.raises(
        ClientError
    ) as err:
        client.get_caller_identity()
    response = err.value.response
    assert response["Error"]["Code"] == "InternalError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "secret detail" not in str(response) and "Traceback" not in str(response)
    assert any("secret detail of the crash" in r.getMessage() or (
        r.exc_info and "secret detail" in str(r.exc_info[1])) for r in caplog.records)


def test_reset_from_elsewhere_needs_root_credentials(
    in_process: tuple[Cloud, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from gureum import server

    cloud, endpoint = in_process
    # Pretend every client is remote: only a signature by an issued root key works.
    monkeypatch.setattr(server, "_loopback", lambda request: False)
    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket="kept-unless-root")

    def post(access_key: str | None, secret: str = "test") -> int:
        request = AWSRequest(method="POST", url=f"{endpoint}/_gureum/reset", data=b"")
        if access_key is not None:
            SigV4Auth(Credentials(access_key, secret), "sts", "us-east-1").add_auth(request)
        prepared = request.prepare()
        req = urllib.request.Request(prepared.url, data=b"", method="POST",
                                     headers=dict(prepared.headers))
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    assert post(None) == 403
    assert post("111122223333", "anything") == 403  # unknown keys prove nothing
    assert post("test", "wrong") == 403
    assert cloud.store.resources.count("s3:bucket") == 1
    assert post("test") == 200
    assert cloud.store.resources.count("s3:bucket") == 0


def test_warming_every_service_logs_no_error(
    in_process: tuple[Cloud, str], caplog: pytest.LogCaptureFixture
) -> None:
    cloud, _ = in_process
    with caplog.at_level(logging.ERROR, logger="gureum"):
        cloud._warm()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert all(cloud.models.loaded(name) for name in cloud.services)
