"""S3 as browsers meet it: CORS preflight and CORS headers on real answers, and
static website hosting over plain HTTP (index and error documents)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import zlib
from pathlib import Path

import pytest

from gureum.testing.server import RunningGureum


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture
def bucket(gureum: RunningGureum) -> str:
    name = f"web-{uuid.uuid4().hex[:12]}"
    gureum.client("s3").create_bucket(Bucket=name)
    return name


def test_cors_preflight_and_headers(gureum: RunningGureum, bucket: str) -> None:
    s3 = gureum.client("s3")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": ["http://app.example"], "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600,
    }]})
    url = f"{gureum.endpoint}/{bucket}/file.txt"
    status, headers, _ = fetch(url, "OPTIONS", {
        "Origin": "http://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    })
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "http://app.example"
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    # A method or an origin the rules do not allow is refused.
    status, headers, _ = fetch(url, "OPTIONS", {
        "Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, _, _ = fetch(url, "OPTIONS", {
        "Origin": "http://app.example", "Access-Control-Request-Method": "DELETE"})
    assert status == 403
    # A real (signed) request from the allowed origin gets the CORS headers.
    s3.put_object(Bucket=bucket, Key="file.txt", Body=b"hi")
    seen: list[dict[str, str]] = []
    s3.meta.events.register("before-send", lambda request, **kw: request.headers.__setitem__(
        "Origin", "http://app.example"))
    s3.meta.events.register("after-call", lambda http_response, **kw: seen.append(
        {k.lower(): v for k, v in http_response.headers.items()}))
    s3.get_object(Bucket=bucket, Key="file.txt")["Body"].read()
    assert seen[-1].get("access-control-allow-origin") == "http://app.example"


def test_static_website(gureum: RunningGureum, bucket: str) -> None:
    s3 = gureum.client("s3")
    s3.put_object(Bucket=bucket, Key="index.html", Body=b"<h1>home</h1>",
                  ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="docs/index.html", Body=b"<h1>docs</h1>",
                  ContentType="text/html")
    s3.put_object(Bucket=bucket, Key="404.html", Body=b"<h1>lost</h1>", ContentType="text/html")
    site = f"{bucket}.s3-website.localhost:{gureum.port}"
    # Without a website configuration, or before the objects are public: no page.
    status, _, _ = fetch(f"{gureum.endpoint}/", headers={"Host": site})
    assert status == 404
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
    status, _, _ = fetch(f"{gureum.endpoint}/", headers={"Host": site})
    assert status == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    status, headers, body = fetch(f"{gureum.endpoint}/", headers={"Host": site})
    assert (status, body) == (200, b"<h1>home</h1>")
    assert headers["Content-Type"].startswith("text/html")
    status, _, body = fetch(f"{gureum.endpoint}/docs/", headers={"Host": site})
    assert (status, body) == (200, b"<h1>docs</h1>")
    status, _, body = fetch(f"{gureum.endpoint}/nope.html", headers={"Host": site})
    assert (status, body) == (404, b"<h1>lost</h1>")


def test_plain_http_range_and_not_modified(gureum: RunningGureum, bucket: str) -> None:
    s3 = gureum.client("s3")
    s3.put_object(Bucket=bucket, Key="data.bin", Body=bytes(range(256)) * 4)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    url = f"{gureum.endpoint}/{bucket}/data.bin"
    status, headers, body = fetch(url, headers={"Range": "bytes=10-19"})
    assert status == 206 and body == bytes(range(10, 20))
    assert headers["Content-Range"] == "bytes 10-19/1024"
    status, headers, _ = fetch(url)
    etag = headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    status, headers, body = fetch(url, headers={"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert headers["ETag"] == etag and "Last-Modified" in headers
    status, _, _ = fetch(url, headers={"Range": "bytes=5000-"})
    assert status == 416


# --------------------------------------------------------------------------- a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp: Path, url: str, *flags: str) -> str:
    """Run headless Chromium once in its own session; kill whatever it leaves."""
    assert CHROMIUM is not None
    profile = tmp / f"profile-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--window-size=480,320", *flags, url],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while leftovers(str(profile)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(str(profile)) == []
    return out.decode("utf-8", "replace")


def leftovers(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (this run's profile dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def png_pixel(data: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The RGB of one pixel of an 8-bit, non-interlaced RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and color in (2, 6) and interlace == 0
            channels = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        previous = line
    r, g, b_ = previous[x * channels:x * channels + 3]
    return r, g, b_


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_website_in_headless_chromium(gureum: RunningGureum, bucket: str, tmp_path: Path) -> None:
    """Chromium loads the index document (with its stylesheet and script from the
    bucket) and the error document from the website endpoint; screenshots show them."""
    s3 = gureum.client("s3")
    s3.put_object(Bucket=bucket, Key="index.html", ContentType="text/html", Body=(
        b"<!doctype html><html><head><title>Home</title>"
        b'<link rel="stylesheet" href="/style.css"></head>'
        b'<body><h1 id="title">home page</h1><script src="/app.js"></script></body></html>'))
    s3.put_object(Bucket=bucket, Key="style.css", ContentType="text/css",
                  Body=b"html, body { background: rgb(255, 0, 0); margin: 0; height: 100%; }")
    s3.put_object(Bucket=bucket, Key="app.js", ContentType="application/javascript",
                  Body=b"document.getElementById('title').textContent += ' (scripted)';")
    s3.put_object(Bucket=bucket, Key="docs/index.html", ContentType="text/html",
                  Body=b"<!doctype html><html><body><h1>docs page</h1></body></html>")
    s3.put_object(Bucket=bucket, Key="404.html", ContentType="text/html", Body=(
        b"<!doctype html><html><body style='background: rgb(0, 0, 255); margin: 0'>"
        b"<h1>lost page</h1></body></html>"))
    s3.put_bucket_website(Bucket=bucket, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"}})
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    site = f"http://{bucket}.s3-website.localhost:{gureum.port}"

    dom = chromium(tmp_path, f"{site}/", "--dump-dom")
    assert "<title>Home</title>" in dom
    assert "home page (scripted)" in dom  # app.js came from the bucket and ran
    dom = chromium(tmp_path, f"{site}/docs/", "--dump-dom")
    assert "docs page" in dom
    dom = chromium(tmp_path, f"{site}/no/such/page.html", "--dump-dom")
    assert "lost page" in dom and "home page" not in dom

    shot = tmp_path / "home.png"
    chromium(tmp_path, f"{site}/", f"--screenshot={shot}", "--virtual-time-budget=3000")
    assert png_pixel(shot.read_bytes(), 400, 280) == (255, 0, 0)  # style.css applied
    shot = tmp_path / "lost.png"
    chromium(tmp_path, f"{site}/missing", f"--screenshot={shot}", "--virtual-time-budget=3000")
    assert png_pixel(shot.read_bytes(), 400, 280) == (0, 0, 255)
    for name in ("home.png", "lost.png"):
        target = os.environ.get("GUREUM_KEEP_SCREENSHOTS")
        if target:
            shutil.copy(tmp_path / name, Path(target) / name)
