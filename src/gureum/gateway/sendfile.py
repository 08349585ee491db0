"""A file answer's bytes (one too large to leave with its headers) sent with
sendfile(2) by a thread of its own on a duplicate of the connection's socket,
with a small send buffer when the client is on this host.

Why a small send buffer: on loopback the kernel's TCP work for a segment (the
sender's transmit and the receiver's receive processing) runs in whichever
thread makes the segment leave. With the send buffer Linux grows on its own
(up to 4 MiB by default) most of a large answer waits in that buffer for the
congestion window and leaves when the client's ACKs open it: in the client's
own thread, which then pays both ends' TCP work on top of copying the bytes.
With a buffer smaller than the window the sender is held by the buffer
instead, and segments leave from the thread that puts them in. boto3
streaming a 64 MiB GET (bench/s3.py, one run, load ~3): ~15 ms of client CPU
and ~1,900 MiB/s with the grown buffer, ~9 ms and ~3,900 MiB/s with 256 KiB
(Linux doubles it: 512 KiB); 128 KiB gave ~2,500, 512 KiB and 1 MiB ~2,000.
A client elsewhere keeps the grown buffer: there the round trip, not the CPU,
bounds a window, and 512 KiB would cap a 10 ms path at ~50 MB/s.

Each sender has a thread of its own, not one of the event loop's default
executor: a client that reads slowly holds its sender for as long as it takes
(up to ``SEND_STALL`` without a byte), and a handful of them would otherwise
hold every executor thread that the blob store's opens and reads wait for.

The sendfile is non-blocking, waiting for room with poll(2): measured against
a blocking one (O_NONBLOCK cleared on the shared open file, the loop's
reading paused) it gave more, ~2,600 against ~1,800 MiB/s in one run. The
duplicate descriptor keeps the socket open for the thread whatever the event
loop does with its own (the client leaves, gureum stops).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import select
import socket
import threading
import time

SEND_BUFFER = 256 * 1024  # SO_SNDBUF for a large answer to a local client
SEND_STALL = 60.0  # seconds a client may take no bytes before the answer is given up
_WAIT_MS = 500  # how often a waiting sender looks at the cancel flag


def local_peer(sock: socket.socket) -> bool:
    """Whether ``sock``'s peer is a loopback address of this host."""
    try:
        peer = sock.getpeername()
    except OSError:
        return False
    if not isinstance(peer, tuple) or not peer:
        return False
    try:
        address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class FileSender:
    """Sends ``count`` bytes of ``in_fd`` from ``offset`` on ``fd``: duplicates
    of the file's and the connection's descriptors, which ``run`` closes (the
    caller may close its own at any time, even while the thread sends).
    ``run`` in a worker thread; ``cancel`` from any thread makes it give up at
    its next wait."""

    def __init__(self, fd: int, in_fd: int, offset: int, count: int) -> None:
        self._fd = fd
        self._in_fd = in_fd
        self._offset = offset
        self._count = count
        self._cancelled = threading.Event()

    @property
    def left(self) -> int:
        return self._count

    def cancel(self) -> None:
        self._cancelled.set()

    def run(self) -> None:
        try:
            self._send()
        finally:
            try:
                os.close(self._fd)
            finally:
                os.close(self._in_fd)

    def _send(self) -> None:
        poller: select.poll | None = None
        last = time.monotonic()
        while self._count > 0:
            if self._cancelled.is_set():
                raise ConnectionResetError("the answer's sending was given up")
            try:
                sent = os.sendfile(self._fd, self._in_fd, self._offset, self._count)
            except BlockingIOError:
                if poller is None:
                    poller = select.poll()
                    poller.register(self._fd, select.POLLOUT)
                poller.poll(_WAIT_MS)
                if time.monotonic() - last > SEND_STALL:
                    raise ConnectionResetError("the client took no bytes for too long") from None
                continue
            if sent == 0:
                raise ConnectionResetError("the file ended early")
            self._offset += sent
            self._count -= sent
            last = time.monotonic()


async def send(sender: FileSender) -> None:
    """Run ``sender`` in a thread of its own and wait for it; cancelled, the
    thread gives up at its next wait."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            sender.run()
        except BaseException as exc:  # handed to the waiting coroutine
            error = exc
        try:
            loop.call_soon_threadsafe(finish, error)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=run, name="file-send", daemon=True).start()
    try:
        await done
    except asyncio.CancelledError:
        sender.cancel()
        raise
