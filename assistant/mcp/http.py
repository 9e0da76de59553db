"""``/mcp``: the MCP endpoint on Toolgate's own ASGI application (no second server).

Streamable HTTP through the official SDK's session manager in **stateless** mode: every
POST is served on its own, with no session kept in the process, so any Daphne process
behind a load balancer can answer any request (no affinity). Answers are SSE streams, so a
call parked for approval can send keep-alive progress while it waits.

Before the SDK sees a request it is authenticated here with a personal API token
(``Authorization: Bearer tg_…``; 401 with ``WWW-Authenticate: Bearer`` otherwise), its
body is capped at ``MCP_SERVER_MAX_REQUEST_BYTES`` (413, a JSON-RPC error), and two
messages are looked at because a stateless server would otherwise lose them:
``initialize`` (its answer carries a signed ``Mcp-Session-Id`` naming the client, see
``sessions``, which later requests send back; the client is also remembered for the token,
for a client that does not) and ``notifications/cancelled`` (cancels the parked call of that
request, whichever process holds it).

Served beside Django's request cycle, the endpoint does around each request what Django does
around its own (``close_old_connections``): otherwise the connection its ORM calls share would
never be closed (``CONN_MAX_AGE``) nor health-checked (``CONN_HEALTH_CHECKS``), and one the
database dropped would fail every later request of the process.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connections

from assistant.api import tokens
from assistant.mcp import sessions, waiting
from assistant.models import ApiToken

logger = logging.getLogger(__name__)

PATH = "/mcp"
TOKEN_SCOPE_KEY = "toolgate.token"  # noqa: S105 (a scope key, not a secret)
SESSION_SCOPE_KEY = "toolgate.mcp_session"
CLIENT_CACHE_SECONDS = 7 * 24 * 3600
PARSE_ERROR, INVALID_REQUEST = -32700, -32600

Scope = dict[str, Any]


def client_cache_key(token_id: int) -> str:
    return f"toolgate:mcp:client:{token_id}"


async def _respond(send: Any, status: int, code: int, message: str,
                   headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"cache-control", b"no-store")]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == name), None)


async def authenticate(scope: Scope) -> ApiToken | None:
    value = _header(scope, b"authorization") or ""
    scheme, _, secret = value.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return await sync_to_async(tokens.authenticate)(secret.strip())


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole body, or ``None`` if it is longer than ``limit`` (or the client left)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _look_at(body: bytes, token: ApiToken) -> tuple[str | None, dict[str, str] | None]:
    """Remember an ``initialize``'s client; carry out a ``notifications/cancelled``. The
    reason to refuse the message, for what the SDK would not answer with an error itself,
    and the client an ``initialize`` names."""
    client = None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, None  # the SDK answers with a parse error
    for message in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(message, dict):
            continue
        ident = message.get("id")
        if ident is not None and (not isinstance(ident, str | int) or isinstance(ident, bool)):
            return "Invalid request: a JSON-RPC id must be a string or an integer.", None
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        method = message.get("method")
        if method == "initialize" and isinstance(params.get("clientInfo"), dict):
            info = params["clientInfo"]
            client = {"name": str(info.get("name", ""))[:200], "version": str(info.get("version", ""))[:100]}
            await cache.aset(client_cache_key(token.pk), client, CLIENT_CACHE_SECONDS)
        elif method == "notifications/cancelled" and params.get("requestId") is not None:
            cancelled = await waiting.cancel(token.pk, str(params["requestId"]))
            if cancelled is not None:
                logger.info("MCP client cancelled parked call %s", cancelled)
    return None, client


def _close_old_connections() -> None:
    """Django's ``close_old_connections``, unless a transaction is open on this thread: then
    the connection is not ours to close (a test's transaction, or a caller's that an
    in-process client runs under); between requests of a server none ever is."""
    if not any(conn.in_atomic_block for conn in connections.all(initialized_only=True)):
        close_old_connections()


# Run where the endpoint's ORM calls run: sync_to_async's thread for this context.
_aclose_old_connections = sync_to_async(_close_old_connections)


class Endpoint:
    """The ASGI app for ``/mcp``; the SDK's session manager is started on first use."""

    def __init__(self) -> None:
        self.manager: Any = None
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def _ensure_started(self) -> None:
        if self._ready is None:
            loop = asyncio.get_running_loop()
            self._ready = loop.create_future()
            # A context of its own: the manager outlives the request that started it.
            self._task = loop.create_task(self._run(self._ready), context=contextvars.Context())
        await asyncio.shield(self._ready)

    async def _run(self, ready: asyncio.Future[None]) -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        from assistant.mcp.app import build

        manager = StreamableHTTPSessionManager(
            app=build(), stateless=True, json_response=False,
            max_request_body_size=settings.MCP_SERVER_MAX_REQUEST_BYTES,
        )
        try:
            async with manager.run():
                self.manager = manager
                ready.set_result(None)
                await asyncio.Event().wait()  # until the process ends
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await _aclose_old_connections()  # as on Django's request_started
        try:
            await self._serve(scope, receive, send)
        finally:
            await _aclose_old_connections()  # as on Django's request_finished

    async def _serve(self, scope: Scope, receive: Any, send: Any) -> None:
        token = await authenticate(scope)
        if token is None:
            if _header(scope, b"authorization") is None:
                error, message = "", ("Authentication required: send a personal API token as "
                                      "'Authorization: Bearer tg_…' (made at /settings/tokens/).")
            else:
                error, message = ', error="invalid_token"', "The API token is unknown or has been revoked."
            await _respond(send, 401, INVALID_REQUEST, message,
                           {"WWW-Authenticate": f'Bearer realm="toolgate"{error}'})
            return
        if scope["method"] != "POST":  # stateless: no standalone stream (GET), no session (DELETE)
            await _respond(send, 405, INVALID_REQUEST, (
                f"Method {scope['method']} is not allowed: this endpoint is stateless; send JSON-RPC "
                "messages with POST."), {"Allow": "POST"})
            return
        body = await _read_body(receive, settings.MCP_SERVER_MAX_REQUEST_BYTES)
        if body is None:
            await _respond(send, 413, INVALID_REQUEST, (
                f"The request body is larger than {settings.MCP_SERVER_MAX_REQUEST_BYTES} bytes."))
            return
        session = None
        if (named := _header(scope, b"mcp-session-id")) is not None:
            session = sessions.read(named, token.pk)
            if session is None:  # altered, another token's, or signed with an old key
                await _respond(send, 404, INVALID_REQUEST, (
                    "Session not found: this Mcp-Session-Id was not issued to this token; "
                    "start a new session with initialize."))
                return
        refused, client = await _look_at(body, token)
        if refused is not None:
            await _respond(send, 400, INVALID_REQUEST, refused)
            return
        if client is not None and session is None:
            minted = sessions.mint(token.pk, client["name"], client["version"])
            session = sessions.read(minted, token.pk)
            send = _with_header(send, b"mcp-session-id", minted.encode("ascii"))
        receive = _replay(body, receive)
        await self._ensure_started()
        await self.manager.handle_request({**scope, TOKEN_SCOPE_KEY: token, SESSION_SCOPE_KEY: session},
                                          receive, send)


def _with_header(send: Any, name: bytes, value: bytes) -> Any:
    """``send`` with one more header on the response (the ``initialize`` answer's session id)."""

    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != name]
            message = {**message, "headers": [*headers, (name, value)]}
        await send(message)

    return sending


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # then the disconnect, when it comes

    return replayed


endpoint = Endpoint()


def route(django_app: Any) -> Any:
    """The HTTP app: ``/mcp`` (and ``/mcp/``) to the MCP endpoint, the rest to Django."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == PATH and settings.MCP_SERVER_ENABLED:
            await endpoint(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    return app
