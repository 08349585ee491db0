"""``FileSender`` (a large file answer sent by a thread) on real sockets: the
bytes arrive whole, its descriptor is closed whatever happens, it gives up
when cancelled or when the client takes nothing; ``local_peer`` tells
loopback clients from others."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from gureum.gateway import sendfile
from gureum.gateway.sendfile import FileSender, local_peer

MiB = 1024 * 1024


def _pair() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
    accepted.setblocking(False)  # as the event loop keeps it
    return accepted, client


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_sends_the_range_whole_and_closes_its_descriptor(tmp_path: Path) -> None:
    data = os.urandom(6 * MiB + 123)
    path = tmp_path / "blob"
    path.write_bytes(data)
    server, client = _pair()
    with server, client, path.open("rb") as f:
        before = _open_fds()
        sender = FileSender(os.dup(server.fileno()), os.dup(f.fileno()), 1000, len(data) - 1000)
        thread = threading.Thread(target=sender.run)
        thread.start()
        got = bytearray()
        client.settimeout(10)
        while len(got) < len(data) - 1000:
            chunk = client.recv(1 << 20)
            assert chunk
            got += chunk
        thread.join(10)
        assert not thread.is_alive()
        assert bytes(got) == data[1000:]
        assert sender.left == 0
        assert _open_fds() == before  # its duplicate is closed


def _run_catching(sender: FileSender, out: list[BaseException]) -> None:
    try:
        sender.run()
    except BaseException as e:  # handed to the test
        out.append(e)


def test_cancel_gives_up_a_client_that_reads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(32 * MiB))
    server, client = _pair()
    with server, client, path.open("rb") as f:
        before = _open_fds()
        sender = FileSender(os.dup(server.fileno()), os.dup(f.fileno()), 0, 32 * MiB)
        errors: list[BaseException] = []
        thread = threading.Thread(target=_run_catching, args=(sender, errors))
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()  # the client's buffers are full: it waits
        sender.cancel()
        thread.join(5)
        assert not thread.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], ConnectionResetError)
        assert 0 < sender.left < 32 * MiB
        assert _open_fds() == before

def test_a_client_taking_nothing_for_too_long_is_given_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sendfile, "SEND_STALL", 0.2)
    monkeypatch.setattr(sendfile, "_WAIT_MS", 50)
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(32 * MiB))
    server, client = _pair()
    with server, client, path.open("rb") as f:
        sender = FileSender(os.dup(server.fileno()), os.dup(f.fileno()), 0, 32 * MiB)
        errors: list[BaseException] = []
        thread = threading.Thread(target=_run_catching, args=(sender, errors))
        thread.start()
        thread.join(5)
        assert not thread.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], ConnectionResetError)


def test_a_client_gone_ends_the_sending_with_an_error(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(os.urandom(32 * MiB))
    server, client = _pair()
    with server, path.open("rb") as f:
        sender = FileSender(os.dup(server.fileno()), os.dup(f.fileno()), 0, 32 * MiB)
        errors: list[BaseException] = []
        thread = threading.Thread(target=_run_catching, args=(sender, errors))
        thread.start()
        client.recv(1000)
        client.close()
        thread.join(5)
        assert not thread.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], OSError)


def test_local_peer() -> None:
    server, client = _pair()
    with server, client:
        assert local_peer(server)
    a, b = socket.socketpair()
    with a, b:
        assert not local_peer(a)
    lone = socket.socket()
    with lone:
        assert not local_peer(lone)  # not connected
