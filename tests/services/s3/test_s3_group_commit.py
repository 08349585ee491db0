"""S3 PUTs of one pass share one group commit (a file store: an in-memory one
does not group). A group whose commit fails fails every PUT in it, and what S3
keeps in memory (records, small objects' bytes, buckets) read while the group
was pending agrees with the disk afterwards, and after a restart."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from tests.store import counting_syncs

from gureum.config import Settings
from gureum.control.clock import FakeClock
from gureum.drivers.blobs import MemoryBlobStore
from gureum.errors import AWSError
from gureum.services.base import Call, Env, Identity
from gureum.services.s3 import S3
from gureum.store import Store, StoreError

ACCOUNT = "000000000000"


class Node:
    """An S3 service on a store in ``tmp``; ``restart`` opens both again."""

    def __init__(self, tmp: Path, blobs: MemoryBlobStore, inline_max: int) -> None:
        self.tmp = tmp
        self.blobs = blobs
        self.inline_max = inline_max
        self.loop = asyncio.new_event_loop()
        self._open()

    def _open(self) -> None:
        self.store = Store.open(self.tmp / "s3.db")
        self.store.connection.execute(
            "CREATE TABLE IF NOT EXISTS poison (ref TEXT REFERENCES meta (key)"
            " DEFERRABLE INITIALLY DEFERRED)"
        )
        env = Env(settings=Settings(data_dir=self.tmp), store=self.store, clock=FakeClock(),
                  loops=None, extras={"s3_blobs": self.blobs})
        self.s3 = S3(env)
        self.s3.grace = 0.0
        self.s3.inline_max = self.inline_max

    def restart(self) -> None:
        self.store.close()
        self._open()

    def close(self) -> None:
        self.loop.close()
        self.store.close()

    def call(self, operation: str) -> Call:
        return Call("s3", operation, ACCOUNT, "us-east-1", Identity.root(ACCOUNT), "req")

    async def op(self, operation: str, **params: Any) -> Any:
        result = getattr(self.s3, operation)(self.call(operation), params)
        return await result if asyncio.iscoroutine(result) else result

    async def put(self, key: str, data: bytes, *, read_back: bool = False) -> dict[str, Any]:
        """A PUT as the gateway answers it: the operation, then ``durable``;
        ``read_back``: a GET and a HEAD in between, while its group is pending."""
        out = await self.op("put_object", Bucket="bkt", Key=key, Body=data,
                            ContentLength=len(data))
        if read_back:
            try:
                assert await self.get(key) == data
                await self.op("head_object", Bucket="bkt", Key=key)
            except AWSError as gone:  # the group failed already (blobs are awaited)
                assert gone.code == "NoSuchKey"
        await self.store.durable()
        return dict(out)

    async def get(self, key: str) -> bytes:
        body = (await self.op("get_object", Bucket="bkt", Key=key))["Body"]
        if isinstance(body, bytes):
            return body
        return b"".join([chunk async for chunk in body])

    async def poison(self, *read: str) -> None:
        """A grouped write that makes its group's commit fail, then GETs and
        HEADs of the keys ``read`` (after every write of the group)."""
        with self.store.tx(group=True):
            self.store.connection.execute("INSERT INTO poison (ref) VALUES ('nothing')")
        for key in read:
            try:
                await self.get(key)
                await self.op("head_object", Bucket="bkt", Key=key)
            except AWSError as gone:  # not written yet, or undone already
                assert gone.code == "NoSuchKey"
        await self.store.durable()

    def run(self, coro: Any) -> Any:
        result = self.loop.run_until_complete(coro)

        async def drain() -> None:  # scheduled blob collection
            for _ in range(5):
                await asyncio.sleep(0)
                if self.s3._tasks:
                    await asyncio.gather(*list(self.s3._tasks))

        self.loop.run_until_complete(drain())
        return result


@pytest.fixture(params=["inline", "files"])
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    n = Node(tmp_path, MemoryBlobStore(), 64 * 1024 if request.param == "inline" else 0)
    n.run(n.op("create_bucket", Bucket="bkt"))
    yield n
    n.close()


def test_puts_of_one_pass_share_one_sync(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = counting_syncs(monkeypatch)
    commits = node.store._commits
    bodies = {f"k{i}": os.urandom(4096) for i in range(6)}

    async def six() -> None:
        await asyncio.gather(*[node.put(k, v) for k, v in bodies.items()])

    node.run(six())
    assert node.store._commits - commits <= 2  # the PUTs' group (+ blob keys reserved)
    assert len(syncs) == 1
    node.restart()
    for key, data in bodies.items():
        assert node.run(node.get(key)) == data


def test_a_failing_put_in_a_group_does_not_lose_the_others(node: Node) -> None:
    node.run(node.put("there", b"x"))

    async def three() -> list[object]:
        conditional = node.op("put_object", Bucket="bkt", Key="there", Body=b"y",
                              ContentLength=1, IfNoneMatch="*")
        return await asyncio.gather(node.put("a", b"aa"), conditional, node.put("b", b"bb"),
                                    return_exceptions=True)

    done = node.run(three())
    assert isinstance(done[1], AWSError) and done[1].status == 412
    assert not isinstance(done[0], BaseException) and not isinstance(done[2], BaseException)
    node.restart()
    assert node.run(node.get("a")) == b"aa"
    assert node.run(node.get("b")) == b"bb"
    assert node.run(node.get("there")) == b"x"


def test_a_failed_group_commit_fails_every_put_and_leaves_no_trace(node: Node) -> None:
    old = os.urandom(4096)
    node.run(node.put("a", old))
    # Kept in memory: a's record and bytes, the bucket.
    assert node.run(node.get("a")) == old
    node.run(node.op("head_object", Bucket="bkt", Key="a"))

    async def group() -> list[object]:
        return await asyncio.gather(
            node.put("a", b"new a", read_back=True),  # an overwrite
            node.put("b", b"new b", read_back=True),  # a new key
            node.poison("a", "b"),
            return_exceptions=True,
        )

    done = node.run(group())
    assert all(isinstance(d, StoreError) for d in done), done

    def check() -> None:
        assert node.run(node.get("a")) == old  # nor its bytes collected as stale
        head = node.run(node.op("head_object", Bucket="bkt", Key="a"))
        assert head["ContentLength"] == len(old)
        with pytest.raises(AWSError) as missing:
            node.run(node.get("b"))
        assert missing.value.code == "NoSuchKey"
        listed = node.run(node.op("list_objects_v2", Bucket="bkt"))
        assert [o["Key"] for o in listed.get("Contents", [])] == ["a"]

    check()
    # The store goes on: the next PUTs are committed.
    node.run(node.put("c", b"cc"))
    node.restart()
    check_after = node.run(node.get("c"))
    assert check_after == b"cc"
    assert node.run(node.get("a")) == old
    with pytest.raises(AWSError):
        node.run(node.get("b"))


def _signed_put(path: str, body: bytes) -> Any:
    """A PUT signed as botocore signs it, as the gateway receives it."""
    from unittest import mock

    from aiohttp.streams import StreamReader
    from aiohttp.test_utils import make_mocked_request
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from multidict import CIMultiDict

    request = AWSRequest("PUT", f"http://127.0.0.1:4566{path}", data=body)
    request.headers["Content-Length"] = str(len(body))
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(request)
    headers = CIMultiDict(request.headers)
    headers["Host"] = "127.0.0.1:4566"
    payload = StreamReader(mock.Mock(_reading_paused=False), 2**16,
                           loop=asyncio.get_running_loop())
    payload.feed_data(body)
    payload.feed_eof()
    return make_mocked_request("PUT", path, headers=headers, payload=payload)


def test_the_gateway_answers_500_internal_error_to_every_put_of_a_failed_group(
        tmp_path: Path) -> None:
    from gureum.server import Cloud

    cloud = Cloud(Settings(data_dir=tmp_path))
    store = cloud.store
    store.connection.execute(
        "CREATE TABLE poison (ref TEXT REFERENCES meta (key) DEFERRABLE INITIALLY DEFERRED)")

    async def poison() -> None:
        with store.tx(group=True):
            store.connection.execute("INSERT INTO poison (ref) VALUES ('nothing')")

    async def main() -> list[Any]:
        s3: Any = cloud.services["s3"]
        root = Identity.root(ACCOUNT)
        s3.create_bucket(Call("s3", "CreateBucket", ACCOUNT, "us-east-1", root, "r"),
                         {"Bucket": "gwb"})
        ok = await cloud.gateway.handle(_signed_put("/gwb/before", b"kept"))
        assert ok.status == 200
        requests = [_signed_put(f"/gwb/k{i}", b"lost") for i in range(3)]
        answers = await asyncio.gather(*[cloud.gateway.handle(r) for r in requests], poison())
        after = await cloud.gateway.handle(_signed_put("/gwb/after", b"kept"))
        assert after.status == 200
        return answers[:3]

    try:
        answers = asyncio.run(main())
    finally:
        store.close()
    for answer in answers:
        assert answer.status == 500
        assert b"<Code>InternalError</Code>" in answer.body
    restarted = Store.open(tmp_path / "gureum.db")
    try:
        keys = {str(r[0]) for r in restarted.connection.execute("SELECT key FROM s3_objects")}
    finally:
        restarted.close()
    assert keys == {"before", "after"}


@pytest.mark.parametrize("checksums", [(), ("crc32",), ("crc32c",), ("sha256",),
                                       ("crc32", "sha1"), ("crc64nvme",)])
@pytest.mark.parametrize("sizes", [(), (4096,), (1000, 3096), (5, 0, 7)])
def test_a_small_body_is_digested_as_the_blob_store_digests_it(
        node: Node, checksums: tuple[str, ...], sizes: tuple[int, ...]) -> None:
    from gureum.drivers.blobs import Digests

    chunks = [os.urandom(n) for n in sizes]

    async def stream() -> Any:
        for chunk in chunks:
            yield chunk

    info, data = node.run(node.s3.read_small(stream(), checksums, 64 * 1024))
    expected = Digests(checksums)
    expected.update(b"".join(chunks))
    want = expected.info(info.key)
    assert data == b"".join(chunks) and type(data) is bytes
    assert (info.size, info.md5, dict(info.checksums)) == (
        want.size, want.md5, dict(want.checksums))
