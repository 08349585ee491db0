"""The request chain: route → read → authenticate → parse → validate → call →
serialize. Every failure becomes the AWS error of the request's protocol; a
crash inside an operation is logged and answered ``InternalError`` (500) with
no traceback in the body."""

from __future__ import annotations

import inspect
import itertools
import logging
import secrets
import uuid
import zlib
from collections.abc import AsyncIterable
from typing import Any

from aiohttp import web
from botocore import xform_name
from botocore.model import OperationModel, ServiceModel

from gureum.errors import AWSError, InternalError, NotImplementedOperation, ValidationError
from gureum.services.base import Call, FileBody, Service
from gureum.store import Store, StoreError

from . import routing
from .auth import Authenticator
from .body import request_body_stream, send_file, whole_body
from .catalog import Models, ServiceSpec
from .protocols.base import HttpRequest, HttpResponse, WireProtocol
from .protocols.jsonrpc import CBORProtocol, JSONProtocol
from .protocols.query import EC2Protocol, QueryProtocol
from .protocols.restxml import RestXMLProtocol
from .request import GatewayRequest
from .validate import validate

log = logging.getLogger("gureum.gateway")

MAX_BODY = 64 * 1024 * 1024  # non-streamed request bodies (S3 objects are streamed)
SMALL_FILE = 256 * 1024  # file bodies up to this size are sent with their headers at once

S3_PROTOCOL = RestXMLProtocol()  # S3's (and other REST-XML services')
PROTOCOLS: dict[str, WireProtocol] = {
    "query": QueryProtocol(),
    "ec2": EC2Protocol(),
    "json": JSONProtocol(),
    "smithy-rpc-v2-cbor": CBORProtocol(),
    "rest-xml": S3_PROTOCOL,
}


class Gateway:
    def __init__(
        self,
        services: dict[str, Service],
        models: Models,
        authenticator: Authenticator,
        default_region: str,
        store: Store | None = None,
    ) -> None:
        self.services = services
        # Writes are acknowledged only once on disk: see ``Store.durable``.
        self.store = store
        self.models = models
        self.auth = authenticator
        self.default_region = default_region
        self._operations: dict[tuple[str, str], tuple[Any, bool] | None] = {}
        self._op_infos: dict[tuple[str, str], tuple[OperationModel, bool]] = {}

    def _operation(self, service: Service, name: str) -> tuple[Any, bool] | None:
        key = (service.name, name)
        if key not in self._operations:
            method = getattr(service, xform_name(name), None)
            self._operations[key] = (
                (method, inspect.iscoroutinefunction(method)) if callable(method) else None
            )
        return self._operations[key]

    def _op_info(
        self, spec: ServiceSpec, model: ServiceModel, op_name: str
    ) -> tuple[OperationModel, bool] | None:
        """An operation's model and whether its input payload is streamed (a
        rest-xml blob or string marked streaming), looked up once; None for a
        name the model does not have (never kept: names come from requests)."""
        key = (spec.name, op_name)
        info = self._op_infos.get(key)
        if info is None:
            if op_name not in model.operation_names:
                return None
            op_model = model.operation_model(op_name)
            shape = op_model.input_shape
            payload = shape.serialization.get("payload") if shape is not None else None
            streamed = payload is not None and shape.members[payload].type_name in (
                "blob", "string"
            ) and bool(
                shape.members[payload].serialization.get("streaming")
                or op_model.has_streaming_input
            )
            info = self._op_infos[key] = (op_model, streamed)
        return info

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp route: answer the request and write the answer."""
        return await _send(request, await self.answer(request))

    async def answer(self, request: GatewayRequest) -> HttpResponse:
        """The answer to one request, from whichever HTTP front received it."""
        browser = self._browser_answer(request)
        if browser is not None:
            return browser
        # (Each of these is a property of the front's request: read once.)
        headers, query, path, host = request.headers, request.query, request.path, request.host
        spec, protocol_name = routing.find_service(headers, query, path, host)
        request_id = _s3_request_id() if spec.name == "s3" else _request_id()
        protocol = PROTOCOLS[protocol_name]
        model: ServiceModel | None = None
        operation: OperationModel | None = None
        # A WAL sync wanted meanwhile may wait for this request's writes (the
        # store's commit delay), unless its body may take long to arrive.
        counted = self.store
        number: int = getattr(request, "counted", 0)  # (the count's number)
        if number:
            # The front counted it as its body arrived: the count is ours now.
            request.counted = 0  # type: ignore[attr-defined]
        elif counted is not None and _short_body(headers):
            number = counted.request_began()
        else:
            counted = None
        try:
            model = self.models.get(spec.name)
            http = HttpRequest(
                method=request.method,
                path=path,
                raw_path=request.raw_path.split("?", 1)[0],
                raw_query=request.query_string,
                query=query,  # type: ignore[arg-type]
                headers=headers,
                host=host,
            )
            if spec.name == "s3":
                http.virtual_bucket = routing.virtual_bucket(host)
            if spec.name == "s3" and _is_form_upload(request):
                response = await self._form_upload(request, request_id)
            else:
                # The operation's call, inline: one coroutine and frame fewer a request.
                streamed_payload = False
                op_name: str | None = None
                info: tuple[OperationModel, bool] | None = None
                s3_object = False  # a plain GET, HEAD or PUT of an object, by its path
                if protocol.name == "rest-xml":
                    if spec.name == "s3":
                        op_name = S3_PROTOCOL.s3_object_operation(http, model)
                        s3_object = op_name is not None
                    if op_name is None:
                        op_name = protocol.operation_name(http, model)
                    if op_name is not None:
                        info = self._op_info(spec, model, op_name)
                        streamed_payload = info is not None and info[1]
                if not streamed_payload and request.can_read_body:  # (most requests have none)
                    http.body = await _read_body(request)
                identity, signed, secret = self.auth.authenticate(http, spec)
                if not streamed_payload and spec.name != "s3":
                    http.body = _decoded(http.body, request.headers.get("Content-Encoding", ""))
                if op_name is None:
                    op_name = protocol.operation_name(http, model)
                if op_name is not None and info is None:
                    info = self._op_info(spec, model, op_name)
                if op_name is None or info is None:
                    raise _unknown_operation(spec, protocol, op_name, http)
                op_model = info[0]
                if streamed_payload:
                    http.stream = request_body_stream(request, signed, secret)
                # (A plain object request's parameters need no validation:
                # see ``s3_object_params``.)
                params = S3_PROTOCOL.s3_object_params(http, op_model) if s3_object else None
                if params is None:
                    params = protocol.parse(http, op_model)
                    if not http.input_checked:
                        validate(
                            params,
                            op_model.input_shape,
                            spec.missing_code,
                            spec.invalid_code,
                            json_style=protocol.name in ("json", "smithy-rpc-v2-cbor"),
                            xml_body=protocol.name == "rest-xml",
                        )
                service = self.services.get(spec.name)
                found = self._operation(service, op_name) if service is not None else None
                if found is None:
                    raise NotImplementedOperation(message=(
                        f"The operation {op_name} of {spec.name} is not implemented in gureum."
                    ))
                method, is_async = found
                region = signed.credential.region if signed is not None else self.default_region
                if spec.global_service:
                    region = "us-east-1"
                call = Call(
                    service=spec.name,
                    operation=op_name,
                    account=identity.account_id,
                    region=region,
                    identity=identity,
                    request_id=request_id,
                    source_ip=request.remote or "",
                    secure=request.secure,
                    headers=request.headers,
                )
                output = await method(call, params) if is_async else method(call, params)
                response = protocol.serialize(op_model, output or {}, request_id)
                if http.method == "HEAD" and isinstance(response.body, bytes):
                    response.body = b""
        except AWSError as error:
            if isinstance(error, ValidationError) and error.code == "ValidationError":
                # Values that do not parse as their shape's type: the service's own code.
                error.code = spec.invalid_code
            if error.status >= 500:
                log.warning("%s %s: %s", spec.name, error.code, error.message)
            response = self._error(protocol, model, spec, error, request_id, operation)
        except Exception as exc:
            if isinstance(exc, ConnectionError) and _client_gone(request):
                if counted is not None:
                    counted.request_ended(number)
                raise  # the client left mid-request: there is no one to answer
            log.exception("internal error in %s (request %s)", spec.name, request_id)
            crash = InternalError(message="We encountered an internal error. Please try again.")
            response = self._error(protocol, model, spec, crash, request_id, operation)
        except BaseException:  # cancelled
            if counted is not None:
                counted.request_ended(number)
            raise
        if self.store is not None:
            if counted is not None:
                counted.request_ended(number)
            try:
                await self.store.durable()
            except (OSError, StoreError):
                # The write was not made durable (a failed sync or group commit).
                log.exception("%s: the write was not made durable (request %s)",
                              spec.name, request_id)
                crash = InternalError(
                    message="We encountered an internal error. Please try again.")
                response = self._error(protocol, model, spec, crash, request_id, operation)
        if spec.name == "s3" and "Origin" in request.headers:
            self._add_cors(request, response)
        return response

    # -- S3 as browsers see it: CORS preflight, CORS headers, website endpoints --

    def _browser_answer(self, request: GatewayRequest) -> HttpResponse | None:
        """Answers that are not API operations: ``OPTIONS`` preflights of S3 CORS
        and the website endpoint ``<bucket>.s3-website[.-]<region>...``."""
        s3: Any = self.services.get("s3")
        if s3 is None or "Authorization" in request.headers:
            return None
        host = request.host
        site = routing.website_bucket(host)
        if site is not None:
            answer = s3.website(site, request.path, request.method, request.remote or "")
        elif request.method == "OPTIONS" and not routing.is_api_target(request.headers):
            bucket = _s3_bucket(request)
            if bucket is None:
                return None
            answer = s3.preflight(
                bucket,
                request.headers.get("Origin"),
                request.headers.get("Access-Control-Request-Method"),
                request.headers.get("Access-Control-Request-Headers", ""),
            )
        else:
            return None
        return HttpResponse(answer.status, dict(answer.headers), answer.body)

    async def _form_upload(self, request: GatewayRequest, request_id: str) -> HttpResponse:
        """A browser form upload (POST Object): S3 reads the form and the file itself."""
        s3: Any = self.services["s3"]
        answer = await s3.post_object(_s3_bucket(request), request, request_id)
        return HttpResponse(answer.status, dict(answer.headers), answer.body)

    def _add_cors(self, request: GatewayRequest, response: HttpResponse) -> None:
        s3: Any = self.services.get("s3")
        bucket = _s3_bucket(request)
        if s3 is None or bucket is None:
            return
        try:
            extra = s3.cors_headers(bucket, request.headers.get("Origin"), request.method)
        except AWSError:
            return
        response.headers.update(extra)

    def _error(
        self,
        protocol: WireProtocol,
        model: ServiceModel | None,
        spec: ServiceSpec,
        error: AWSError,
        request_id: str,
        operation: OperationModel | None,
    ) -> HttpResponse:
        if model is None:
            model = self.models.get(spec.name)
        return protocol.serialize_error(model, error, request_id, operation)


# A request whose body is larger than this (or of unknown length) is not
# waited for by a held WAL sync: a large upload's body may take seconds.
SHORT_BODY = 64 * 1024


def _short_body(headers: Any) -> bool:
    length = headers.get("Content-Length")
    if length is None:
        return "Transfer-Encoding" not in headers
    return bool(length.isdigit() and int(length) <= SHORT_BODY)


def _client_gone(request: GatewayRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


_S3_ID_PREFIX = secrets.token_hex(4).upper()
_s3_ids = itertools.count(secrets.randbelow(1 << 32))


def _s3_request_id() -> str:
    """An S3 request id as S3 writes them (16 upper-case hex digits): a random
    prefix per process and a counter, unique without a random draw per request
    (a uuid4 cost about 3 us and a getrandom call)."""
    return f"{_S3_ID_PREFIX}{next(_s3_ids) & 0xFFFFFFFF:08X}"


# Other services' request ids have a version-4 UUID's form: its first 20 hex
# digits drawn once per process, the last 12 a counter from a random start.
_ID_PREFIX = str(uuid.uuid4())[:24]
_ids = itertools.count(secrets.randbelow(1 << 48))


def _request_id() -> str:
    """A request id unique in this process without a random draw (and a
    getrandom call) per request, as ``_s3_request_id``."""
    return f"{_ID_PREFIX}{next(_ids) & 0xFFFFFFFFFFFF:012x}"


def _is_form_upload(request: GatewayRequest) -> bool:
    return (
        request.method == "POST"
        and request.content_type == "multipart/form-data"
        and "Authorization" not in request.headers
        and not request.query_string
    )


def _s3_bucket(request: GatewayRequest) -> str | None:
    bucket = routing.virtual_bucket(request.host)
    if bucket:
        return bucket
    first = request.path.lstrip("/").split("/", 1)[0]
    return first or None


def _unknown_operation(
    spec: ServiceSpec, protocol: WireProtocol, op_name: str | None, http: HttpRequest
) -> AWSError:
    if protocol.name in ("json", "smithy-rpc-v2-cbor"):
        return AWSError("UnknownOperationException", f"Unknown operation {op_name}", 400)
    if protocol.name == "rest-xml":
        return AWSError(
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            405,
            Method=http.method,
            ResourceType="OBJECT" if http.raw_path.count("/") > 1 else "BUCKET",
        )
    if op_name is None:
        return AWSError("MissingAction", "Missing Action", 400)
    return AWSError(
        "InvalidAction",
        f"The action {op_name} is not valid for this web service.",
        400,
    )


def _decoded(body: bytes, encoding: str) -> bytes:
    """A request body as the protocol reads it: botocore gzips large bodies
    (CloudWatch PutMetricData) after signing the compressed bytes."""
    if "gzip" not in encoding.lower():
        return body
    decoder = zlib.decompressobj(wbits=31)
    try:
        out = decoder.decompress(body, MAX_BODY)
    except zlib.error as exc:
        raise AWSError("InvalidRequest", "The gzip request body could not be decoded") from exc
    if decoder.unconsumed_tail:
        raise AWSError("RequestEntityTooLarge", "Request body is too large", 413)
    return out


async def _read_body(request: GatewayRequest) -> bytes:
    if not request.can_read_body:
        return b""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise AWSError("RequestEntityTooLarge", "Request body is too large", 413)
    # A body all here (as most API calls' are) is taken in one step.
    data = whole_body(request)
    if data is not None:
        if len(data) > MAX_BODY:
            raise AWSError("RequestEntityTooLarge", "Request body is too large", 413)
        return data
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > MAX_BODY:
            raise AWSError("RequestEntityTooLarge", "Request body is too large", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def _send(request: web.Request, response: HttpResponse) -> web.StreamResponse:
    """Write ``response`` to aiohttp's connection (the lean front writes its own:
    ``gureum.httpfront``)."""
    body = response.body
    if isinstance(body, bytes | bytearray):
        return web.Response(status=response.status, headers=response.headers, body=body)
    if isinstance(body, FileBody):
        return await _send_file(request, response, body)
    if isinstance(body, AsyncIterable):
        stream = web.StreamResponse(status=response.status, headers=response.headers)
        await stream.prepare(request)
        if request.method != "HEAD":
            async for chunk in body:
                await stream.write(chunk)
        await stream.write_eof()
        return stream
    raise TypeError(f"unsupported response body: {type(body).__name__}")


async def _send_file(
    request: web.Request, response: HttpResponse, body: FileBody
) -> web.StreamResponse:
    length = body.length if body.length is not None else body.path.stat().st_size - body.offset
    headers = dict(response.headers)
    if length <= SMALL_FILE and request.method != "HEAD":
        # Headers and bytes leave in one write: half the syscalls of a stream.
        with body.path.open("rb") as f:
            f.seek(body.offset)
            data = f.read(length)
        return web.Response(status=response.status, headers=headers, body=data)
    headers["Content-Length"] = str(length)
    stream = web.StreamResponse(status=response.status, headers=headers)
    await stream.prepare(request)
    if request.method != "HEAD":
        loop_write = stream.write
        with body.path.open("rb") as f:
            if await send_file(request, stream, f, body.offset, length):
                await stream.write_eof()
                return stream
            f.seek(body.offset)
            left = length
            while left > 0:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                left -= len(chunk)
                await loop_write(chunk)
    await stream.write_eof()
    return stream

