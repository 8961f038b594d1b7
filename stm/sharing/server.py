"""The local Delta Sharing endpoint: a Starlette app over a provider lake, its shares and its recipients.

Every protocol route needs ``Authorization: Bearer <token>`` of a recipient, and a recipient sees only the shares
granted to it: another share answers exactly like one that does not exist. Data files are served only through
the pre-signed URLs a query returned (``files.FileSigner``, signed with the lake's key, so they outlive a restart
until they expire), with HTTP Range support, and only when the version of the table they were listed at names them.
Errors are protocol bodies ``{"errorCode", "message"}``; nothing logs a token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stm.config import Config
from stm.sharing.files import FileSigner
from stm.sharing.lake import SharedLake, parse_timestamp
from stm.sharing.masking import Masker
from stm.sharing.protocol import (
    NDJSON,
    PROTOCOL_ACTION,
    LogFile,
    ProtocolError,
    UrlFor,
    bad_request,
    change_actions,
    file_actions,
    metadata_action,
    ndjson,
    not_found,
)
from stm.sharing.recipients import SHARING_DIR, Recipient, RecipientStore
from stm.sharing.shared_table import SharedTable

log = logging.getLogger(__name__)
PREFIX = "/delta-sharing"
MAX_HEADER_BYTES = 16 * 1024  # a client's headers (a bearer token, a few names): a larger block is refused, not parsed
MAX_BODY_BYTES = 64 * 1024
MAX_RESULTS = 1000
VERSION_HEADER = "delta-table-version"
Handler = Callable[[Request], Awaitable[Response]]


class SharingService:
    """The protocol endpoints; holds the lake, the recipients and the URL signer (no globals)."""

    def __init__(
        self,
        lake: SharedLake,
        recipients: RecipientStore,
        signer: FileSigner,
        masker: Masker,
        endpoint: str | None = None,
    ) -> None:
        self.lake = lake
        self.recipients = recipients
        self.signer = signer
        self.masker = masker
        self.endpoint = endpoint.rstrip("/") if endpoint else None

    def files_base(self, request: Request) -> str:
        """Where file URLs point: the configured endpoint, else the address the server is bound to; never the
        request's Host header (a client could point another recipient's files elsewhere)."""
        if self.endpoint is not None:
            return f"{self.endpoint}/files/"
        host, port = request.scope["server"]
        host = f"[{host}]" if ":" in host else host
        return f"{request.url.scheme}://{host}:{port}{PREFIX}/files/"

    # --- auth -----------------------------------------------------------------------------------------------
    def recipient(self, request: Request) -> Recipient:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        found = self.recipients.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if found is None:
            raise ProtocolError(401, "UNAUTHENTICATED", "a valid bearer token is required")
        request.scope.setdefault("state", {})["recipient"] = found.name
        return found

    def granted_share(self, request: Request) -> tuple[Recipient, str]:
        recipient = self.recipient(request)
        share = request.path_params["share"]
        self.lake.share(share)  # validates the name
        if share not in recipient.shares:
            raise not_found(f"share {share} not found")
        return recipient, share

    def table(self, request: Request) -> tuple[Recipient, str, str, SharedTable]:
        recipient, share = self.granted_share(request)
        p = request.path_params
        return recipient, share, p["table"], self.lake.open(self.lake.table_path(share, p["schema"], p["table"]))

    def require_history(self, share: str, table: str, what: str) -> None:
        """Version reads and the changes feed need the table shared WITH HISTORY."""
        if table in self.lake.share(share).without_history:
            raise bad_request(f"{what} needs table {table} shared with history, and it is shared without")

    # --- listing --------------------------------------------------------------------------------------------
    @staticmethod
    def page(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
        q = request.query_params
        try:
            start = int(q.get("pageToken") or 0)
            size = int(q.get("maxResults") or MAX_RESULTS)
        except ValueError:
            raise bad_request("maxResults and pageToken must be integers") from None
        if start < 0 or not 0 < size <= MAX_RESULTS:
            raise bad_request(f"maxResults must be 1 to {MAX_RESULTS} and pageToken one this server returned")
        body: dict[str, Any] = {"items": items[start : start + size]}
        if start + size < len(items):
            body["nextPageToken"] = str(start + size)
        return JSONResponse(body)

    async def list_shares(self, request: Request) -> Response:
        recipient = self.recipient(request)
        names = [s for s in recipient.shares if s in self.lake.cfg.shares]
        return self.page(request, [{"name": s, "id": s} for s in names])

    async def get_share(self, request: Request) -> Response:
        _recipient, share = self.granted_share(request)
        return JSONResponse({"share": {"name": share, "id": share}})

    async def list_schemas(self, request: Request) -> Response:
        _recipient, share = self.granted_share(request)
        return self.page(request, [{"name": self.lake.schema, "share": share}])

    def _table_items(self, share: str) -> list[dict[str, Any]]:
        return [
            {"name": t, "schema": self.lake.schema, "share": share, "shareId": share, "id": f"{share}.{t}"}
            for t in self.lake.tables(share)
        ]

    async def list_tables(self, request: Request) -> Response:
        _recipient, share = self.granted_share(request)
        self.lake.check_schema(share, request.path_params["schema"])
        return self.page(request, self._table_items(share))

    async def list_all_tables(self, request: Request) -> Response:
        _recipient, share = self.granted_share(request)
        return self.page(request, self._table_items(share))

    # --- table ----------------------------------------------------------------------------------------------
    async def table_version(self, request: Request) -> Response:
        _r, _s, _t, t = self.table(request)
        since = request.query_params.get("startingTimestamp")
        version = t.latest if since is None else t.version_from(parse_timestamp(since, "startingTimestamp"))
        return Response(status_code=200, headers={VERSION_HEADER: str(version)})

    async def table_metadata(self, request: Request) -> Response:
        _r, _s, _t, t = self.table(request)
        files, meta = t.snapshot(t.latest)
        lines = [PROTOCOL_ACTION, metadata_action(meta, t.latest, size=sum(f.size for f in files), files=len(files))]
        return Response(ndjson(lines), media_type=NDJSON, headers={VERSION_HEADER: str(t.latest)})

    def _url_for(
        self, request: Request, recipient: Recipient, share: str, table: str, path: Path, listed_at: int
    ) -> UrlFor:
        """Signs URLs for files listed at version ``listed_at`` (a change action: at the version of its commit)."""
        base = self.files_base(request)
        masking = self.lake.share(share).mask_personal_data

        def url_for(f: LogFile) -> tuple[str, int, int]:
            # a masked file is made now, so the size listed is the size served
            size = self.masker.masked_file(path / f.path).stat().st_size if masking else f.size
            version = listed_at if f.version is None else f.version
            token, expires = self.signer.sign(recipient.name, share, table, f.path, version)
            return base + token, expires, size

        return url_for

    async def query(self, request: Request) -> Response:
        recipient, share, table, t = self.table(request)
        body = await read_json_body(request)
        if body.get("startingVersion") is not None or body.get("endingVersion") is not None:
            raise bad_request("startingVersion/endingVersion queries are not supported: use the changes endpoint")
        if body.get("version") is not None and body.get("timestamp") is not None:
            raise bad_request("give version or timestamp, not both")
        if body.get("version") is not None or body.get("timestamp") is not None:
            self.require_history(share, table, "a query at a version or timestamp")
        if body.get("version") is not None:
            if not isinstance(body["version"], int) or isinstance(body["version"], bool):
                raise bad_request("version must be an integer")
            version = t.check_version(body["version"], "version")
        elif body.get("timestamp") is not None:
            version = t.version_at(parse_timestamp(str(body["timestamp"]), "timestamp"))
        else:
            version = t.latest
        files, meta = t.snapshot(version)
        url_for = self._url_for(request, recipient, share, table, t.path, version)
        actions = file_actions(files, url_for, stats=not self.lake.share(share).mask_personal_data)
        lines = [PROTOCOL_ACTION, metadata_action(meta, version), *actions]
        return Response(ndjson(lines), media_type=NDJSON, headers={VERSION_HEADER: str(version)})

    async def changes(self, request: Request) -> Response:
        recipient, share, table, t = self.table(request)
        self.require_history(share, table, "the changes feed")
        q = request.query_params
        start = self._version_param(t, q.get("startingVersion"), q.get("startingTimestamp"), "starting", True)
        end = self._version_param(t, q.get("endingVersion"), q.get("endingTimestamp"), "ending", False)
        end = t.latest if end is None else min(end, t.latest)
        if start is None:
            raise bad_request("startingVersion or startingTimestamp is required")
        if start > end:
            raise bad_request(f"startingVersion {start} is after endingVersion {end}")
        commits = t.commits(start, end)  # refuses a version no longer in the history
        meta = t.metadata(end)
        url_for = self._url_for(request, recipient, share, table, t.path, end)
        actions = change_actions(commits, url_for, stats=not self.lake.share(share).mask_personal_data)
        lines = [PROTOCOL_ACTION, metadata_action(meta, end), *actions]
        return Response(ndjson(lines), media_type=NDJSON, headers={VERSION_HEADER: str(start)})

    @staticmethod
    def _version_param(
        t: SharedTable, version: str | None, timestamp: str | None, what: str, starting: bool
    ) -> int | None:
        if version is not None and timestamp is not None:
            raise bad_request(f"give {what}Version or {what}Timestamp, not both")
        if version is not None:
            if not version.isdigit() or len(version) > 18:
                raise bad_request(f"{what}Version must be a non-negative integer")
            return int(version)
        if timestamp is not None:
            ms = parse_timestamp(timestamp, f"{what}Timestamp")
            return t.version_from(ms) if starting else t.version_at(ms)
        return None

    # --- files ----------------------------------------------------------------------------------------------
    async def file(self, request: Request) -> Response:
        grant = self.signer.verify(request.path_params["token"])
        recipient = self.recipients.get(grant.recipient)
        refused = ProtocolError(403, "PERMISSION_DENIED", "the file URL is invalid or has expired")
        if recipient is None or grant.share not in recipient.shares:
            raise refused
        request.scope.setdefault("state", {})["recipient"] = recipient.name
        try:
            path = self.lake.table_path(grant.share, self.lake.schema, grant.table)
        except ProtocolError:
            raise refused from None
        target = (path / grant.path).resolve()
        inside = target.is_relative_to(path) and target.is_file()
        if not inside or not self.lake.serves(path, grant.version, grant.path):
            raise not_found("the file is not part of the table")
        if self.lake.share(grant.share).mask_personal_data:
            target = self.masker.masked_file(target)
        return FileResponse(target, media_type="application/octet-stream")


async def read_json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body, refusing more than ``MAX_BODY_BYTES`` without reading it all."""
    length = request.headers.get("content-length")
    if length is not None and not (length.isascii() and length.isdigit()):
        raise ProtocolError(400, "MALFORMED_REQUEST", "the Content-Length header must be a non-negative integer")
    if length is not None and int(length) > MAX_BODY_BYTES:
        raise ProtocolError(413, "INVALID_PARAMETER_VALUE", f"the request body is limited to {MAX_BODY_BYTES} bytes")
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise ProtocolError(
                413, "INVALID_PARAMETER_VALUE", f"the request body is limited to {MAX_BODY_BYTES} bytes"
            )
    if not data.strip():
        return {}
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
        raise ProtocolError(400, "MALFORMED_REQUEST", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ProtocolError(400, "MALFORMED_REQUEST", "the request body must be a JSON object")
    return body


async def _protocol_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProtocolError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return JSONResponse({"errorCode": "INVALID_PARAMETER_VALUE", "message": "method not allowed"}, 405)
    return JSONResponse({"errorCode": "RESOURCE_DOES_NOT_EXIST", "message": "not found"}, exc.status_code)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s %s: %s", request.method, _loggable(request.url.path), type(exc).__name__)
    return JSONResponse({"errorCode": "INTERNAL_ERROR", "message": "internal error"}, status_code=500)


def _loggable(path: str) -> str:
    """The request path for logs: a signed file URL is a credential, so it is cut."""
    if path.startswith(f"{PREFIX}/files/"):
        return f"{PREFIX}/files/<signed>"
    return path[:300]


class RequestLog:
    """ASGI middleware: one log line per request (recipient, method, path, status), never a header or a query."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            status = 431
            too_big = JSONResponse(
                {"errorCode": "INVALID_PARAMETER_VALUE", "message": f"headers are limited to {MAX_HEADER_BYTES} bytes"},
                status_code=status,
            )
            await too_big(scope, receive, send)
            log.info("recipient=- %s %s %d", scope["method"], _loggable(scope["path"]), status)
            return

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            who = scope.get("state", {}).get("recipient", "-")
            log.info("recipient=%s %s %s %d", who, scope["method"], _loggable(scope["path"]), status)


def create_app(
    lake_root: Path,
    cfg: Config,
    recipients: RecipientStore,
    signer: FileSigner | None = None,
    endpoint: str | None = None,
) -> ASGIApp:
    """The sharing endpoint over ``lake_root`` for the shares declared in ``cfg``; file URLs start with
    ``endpoint`` (the public URL of ``/delta-sharing``; default: the address the server is bound to)."""
    lake = SharedLake(lake_root, cfg)
    sharing_dir = Path(lake_root) / SHARING_DIR
    svc = SharingService(lake, recipients, signer or FileSigner(sharing_dir), Masker(sharing_dir), endpoint)
    t = "/shares/{share}/schemas/{schema}/tables/{table}"
    routes = [
        Route(f"{PREFIX}/shares", svc.list_shares, methods=["GET"]),
        Route(f"{PREFIX}/shares/{{share}}", svc.get_share, methods=["GET"]),
        Route(f"{PREFIX}/shares/{{share}}/schemas", svc.list_schemas, methods=["GET"]),
        Route(f"{PREFIX}/shares/{{share}}/all-tables", svc.list_all_tables, methods=["GET"]),
        Route(f"{PREFIX}/shares/{{share}}/schemas/{{schema}}/tables", svc.list_tables, methods=["GET"]),
        Route(f"{PREFIX}{t}/version", svc.table_version, methods=["GET"]),
        Route(f"{PREFIX}{t}/metadata", svc.table_metadata, methods=["GET"]),
        Route(f"{PREFIX}{t}/query", svc.query, methods=["POST"]),
        Route(f"{PREFIX}{t}/changes", svc.changes, methods=["GET"]),
        Route(f"{PREFIX}/files/{{token}}", svc.file, methods=["GET", "HEAD"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ProtocolError: _protocol_error,
        HTTPException: _http_error,
        Exception: _internal_error,
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    return RequestLog(app)
