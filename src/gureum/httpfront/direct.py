"""``DirectBody``: the rest of a request body of known length, read by a worker
thread straight from the connection's socket into the caller's buffers.

The event loop's way costs, for every received piece, a bytes object made by
the loop (a copy), another made by the parser for the body's part of it (a
second copy) and the stream reader's bookkeeping; a large upload's bytes are
then written to a file (a third copy). Taken directly, the socket's bytes go
into a reused buffer with one kernel copy, and from there into the file. While
a thread reads, the loop leaves the socket alone (its reading is paused); once
the last byte is read the connection goes on with a fresh parser, as after any
complete request. A body abandoned part way leaves the stream at an unknown
place: that connection serves no further request.

The thread reads its own duplicate of the socket's descriptor, closed only once
no thread is in ``receive_into``: the loop may close the connection's own
descriptor at any time (the client went, gureum stops), and a number the
kernel has given to another file must never be read from.
"""

from __future__ import annotations

import os
import select
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .connection import LeanProtocol
    from .request import LeanRequest

STALL = 60.0  # seconds a client may send nothing before the body is given up
_POLL_MS = 250  # how often a waiting reader looks at the cancel flag


class DirectBody:
    """The ``length`` bytes of a body still to read; ``receive_into`` in one
    worker thread at a time, ``close`` on the event loop once done with it.
    ``fd`` is the body's own duplicate of the socket's descriptor: it closes it."""

    def __init__(self, conn: LeanProtocol, request: LeanRequest, fd: int, prefix: bytes,
                 remaining: int) -> None:
        self._conn = conn
        self._request = request
        self._fd = fd
        self._fd_lock = threading.Lock()
        self._reading = False  # a thread is in receive_into
        self._fd_closed = False
        self._prefix = memoryview(prefix)
        self._remaining = remaining  # bytes still in the socket
        self.length = len(prefix) + remaining
        self._cancelled = threading.Event()
        self._closed = False

    @property
    def received_all(self) -> bool:
        return self._remaining == 0 and not self._prefix

    def receive_into(self, view: memoryview) -> int:
        """Fill the start of ``view`` with the next bytes of the body (at least
        one byte, waiting for them); 0 once the body is all read. Raises
        ``ConnectionResetError`` if the client closes early or stalls."""
        prefix = self._prefix
        if prefix:
            n = min(len(view), len(prefix))
            view[:n] = prefix[:n]
            self._prefix = prefix[n:]
            return n
        want = min(len(view), self._remaining)
        if want <= 0:
            return 0
        with self._fd_lock:
            if self._fd_closed:
                raise ConnectionResetError("the body's reading was given up")
            self._reading = True
        try:
            return self._read(view, want)
        finally:
            with self._fd_lock:
                self._reading = False
                if self._closed:
                    self._close_fd()

    def _read(self, view: memoryview, want: int) -> int:
        poller: select.poll | None = None
        last = time.monotonic()
        while True:
            if self._cancelled.is_set():
                raise ConnectionResetError("the body's reading was given up")
            try:
                got = os.readv(self._fd, [view[:want]])
            except BlockingIOError:
                if poller is None:
                    poller = select.poll()
                    poller.register(self._fd, select.POLLIN)
                events = poller.poll(_POLL_MS)
                if any(ev & select.POLLNVAL for _, ev in events):
                    raise ConnectionResetError("the connection was closed") from None
                if not events and time.monotonic() - last > STALL:
                    raise ConnectionResetError("the client sent nothing for too long") from None
                continue
            if got == 0:
                raise ConnectionResetError("the client closed the connection mid-body")
            self._remaining -= got
            return got

    def cancel(self) -> None:
        """From any thread: the reading thread gives up at its next wait."""
        self._cancelled.set()

    def close(self) -> None:
        """On the event loop, after the reading thread is done (or given up):
        the connection gets its socket back."""
        if self._closed:
            return
        self._cancelled.set()  # a thread still reading gives up, then closes the fd
        with self._fd_lock:
            self._closed = True
            if not self._reading:
                self._close_fd()
        self._conn.end_direct(self._request, self.received_all)

    def _close_fd(self) -> None:  # (with _fd_lock held)
        if not self._fd_closed:
            self._fd_closed = True
            os.close(self._fd)
