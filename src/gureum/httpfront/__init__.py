"""The lean HTTP/1.1 front: API requests parsed with httptools, answered by the
gateway, written straight to the socket.

aiohttp's request and response machinery cost more server CPU per small API
call than the gateway itself; this front keeps only what AWS clients need:
keep-alive and pipelining (answers in order), ``Expect: 100-continue`` (sent
at once for a body of up to 64 KiB, else when the handler first waits for
the body), chunked request bodies, HTTP/1.0
and ``Connection: close``, HEAD, request bodies streamed through an aiohttp
``StreamReader`` with flow control (a 5 GiB PUT never sits in memory),
streamed and sendfile'd response bodies, a ``Date`` header, 400 and close on
malformed requests.

A request that is not for the AWS gateway — a path under ``/_gureum``
(console, health, reset, shutdown), an ``Upgrade``, a browser form upload, an
absolute-form target — hands its whole connection to aiohttp: an aiohttp
``RequestHandler`` of the same application takes the transport and is fed the
raw bytes from the first byte of that request on.

A client that goes away while its request's body is being read makes that
read fail (the operation answers nothing); a handler that is not reading is
let finish (an operation is never cut between its writes), and its answer is
dropped.
"""

from .connection import Answer, LeanProtocol
from .request import LeanRequest
from .site import Front, LeanSite

__all__ = ["Answer", "Front", "LeanProtocol", "LeanRequest", "LeanSite"]
