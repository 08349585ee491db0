"""S3 durability and another client: a gureum killed with SIGKILL in the middle
of a large streamed upload leaves no partial object and no temporary file
after restart, and s3cmd (an independent client) works end to end."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gureum.testing.server import RunningGureum, running_gureum

MiB = 1024 * 1024


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_sigkill_mid_upload_leaves_nothing(tmp_path: Path) -> None:
    with running_gureum(data_dir=tmp_path / "data") as g:
        s3 = g.client("s3")
        s3.create_bucket(Bucket="durable")
        s3.put_object(Bucket="durable", Key="kept", Body=b"acknowledged")
        blobs = tmp_path / "data" / "s3"
        before = files_under(blobs)
        # Stream a 256 MiB body by hand (unsigned payload, plain HTTP) and kill
        # gureum once a good part of it has reached the blob store.
        url = s3.generate_presigned_url("put_object", Params={"Bucket": "durable",
                                                               "Key": "torn"})
        conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30)
        path = url.split(str(g.port), 1)[1]
        conn.putrequest("PUT", path)
        conn.putheader("Content-Length", str(256 * MiB))
        conn.putheader("Content-Type", "")
        conn.endheaders()
        chunk = b"z" * MiB
        for _ in range(64):
            conn.send(chunk)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            grown = sum(p.stat().st_size for p in blobs.rglob("*") if p.is_file())
            if grown >= 32 * MiB:
                break
            time.sleep(0.01)
        os.killpg(g.pid, signal.SIGKILL)
        g.proc.wait(10) if g.proc is not None else None
        conn.close()
        assert files_under(blobs) != before  # the torn upload did leave bytes behind
        g.proc = None
        g.start()
        s3 = g.client("s3")
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="durable")["Contents"]]
        assert listed == ["kept"]
        assert s3.get_object(Bucket="durable", Key="kept")["Body"].read() == b"acknowledged"
        assert files_under(blobs) == before  # no leaked temporary or orphan files


@pytest.fixture
def s3cmd(gureum: RunningGureum, tmp_path: Path) -> Any:
    exe = shutil.which("s3cmd")
    if exe is None:
        pytest.skip("s3cmd is not installed (apt-get install -y s3cmd)")
    config = tmp_path / "s3cfg"
    host = f"127.0.0.1:{gureum.port}"
    config.write_text(
        "[default]\naccess_key = test\nsecret_key = test\n"
        f"host_base = {host}\nhost_bucket = {host}\nuse_https = False\n"
        "signature_v2 = False\nbucket_location = us-east-1\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, "-c", str(config), *args], capture_output=True,
                              text=True, timeout=120)
    return run


def test_s3cmd_end_to_end(gureum: RunningGureum, s3cmd: Any, tmp_path: Path) -> None:
    bucket = f"s3cmd-{os.getpid()}"
    small = tmp_path / "small.txt"
    small.write_text("hello from s3cmd\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MiB))  # multipart at s3cmd's 15 MiB chunks
    assert s3cmd("mb", f"s3://{bucket}").returncode == 0
    done = s3cmd("put", str(small), f"s3://{bucket}/dir/small.txt")
    assert done.returncode == 0, done.stderr
    done = s3cmd("put", str(big), f"s3://{bucket}/big.bin")
    assert done.returncode == 0, done.stderr
    listing = s3cmd("ls", "-r", f"s3://{bucket}")
    assert "dir/small.txt" in listing.stdout and "big.bin" in listing.stdout
    got = tmp_path / "got.bin"
    done = s3cmd("get", f"s3://{bucket}/big.bin", str(got))
    assert done.returncode == 0, done.stderr
    assert hashlib.md5(got.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()
    info = s3cmd("info", f"s3://{bucket}/dir/small.txt")
    assert info.returncode == 0 and "17" in info.stdout, info.stderr
    sync_dir = tmp_path / "tree"
    (sync_dir / "a").mkdir(parents=True)
    (sync_dir / "a" / "one.txt").write_text("1")
    (sync_dir / "two.txt").write_text("2")
    done = s3cmd("sync", f"{sync_dir}/", f"s3://{bucket}/tree/")
    assert done.returncode == 0, done.stderr
    s3 = gureum.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="tree/")["Contents"]}
    assert keys == {"tree/a/one.txt", "tree/two.txt"}
    done = s3cmd("setacl", "--acl-public", f"s3://{bucket}/dir/small.txt")
    assert done.returncode == 0, done.stderr
    assert s3cmd("del", "-r", "--force", f"s3://{bucket}").returncode == 0
    done = s3cmd("rb", f"s3://{bucket}")
    assert done.returncode == 0, done.stderr
