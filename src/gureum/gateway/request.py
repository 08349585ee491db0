"""What the gateway reads of an HTTP request, whichever front received it.

Two fronts serve the gateway: aiohttp's ``web.Request`` and gureum's lean
HTTP/1.1 front (``gureum.httpfront``). Both have these attributes, with
aiohttp's meanings: ``path`` is decoded, ``raw_path`` is the request target as
received (with its query), ``query_string`` is decoded, ``content`` is the body
as an aiohttp ``StreamReader`` (read as it arrives, with flow control).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from aiohttp.streams import StreamReader
from multidict import CIMultiDictProxy, MultiMapping


class GatewayRequest(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def raw_path(self) -> str: ...

    @property
    def query_string(self) -> str: ...

    @property
    def query(self) -> MultiMapping[str]: ...

    @property
    def headers(self) -> CIMultiDictProxy[str]: ...

    @property
    def host(self) -> str: ...

    @property
    def remote(self) -> str | None: ...

    @property
    def secure(self) -> bool: ...

    @property
    def content(self) -> StreamReader: ...

    @property
    def can_read_body(self) -> bool: ...

    @property
    def content_length(self) -> int | None: ...

    @property
    def content_type(self) -> str: ...

    @property
    def transport(self) -> asyncio.Transport | None: ...
