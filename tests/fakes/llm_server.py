"""A scripted LLM API server on 127.0.0.1, so the real OpenAI and Anthropic SDKs can be tested.

It speaks OpenAI Chat Completions (``/v1/chat/completions``), the OpenAI Responses API
(``/v1/responses``) and Anthropic Messages (``/v1/messages``).

Mocking the SDKs would test our guess of what they do; this server speaks the actual wire
formats over real HTTP/1.1 (keep-alive, chunked SSE), so retries, timeouts, dropped
connections and parsing are the SDKs' own. It is an asyncio server in a background
thread: one thread serves hundreds of concurrent streams cheaply, which the engine tests,
benchmarks and load tests rely on.

Usage::

    with FakeLLMServer() as server:                      # or the ``fake_llm`` fixture
        server.script_openai(text("Hello world", chunks=5))
        client = AsyncOpenAI(api_key="sk-test", base_url=server.openai_base_url)
        ...
        assert server.requests[0].body["stream"] is True

Responses come from a FIFO of :class:`~tests.fakes.scripts.Step`. When it is empty the
server answers with ``default`` (a Step, or a callable ``RecordedRequest -> Step``) if one
is set — the mode for load tests — and otherwise fails loudly: HTTP 500 with
``x-should-retry: false`` and a message in :attr:`FakeLLMServer.failures`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fakes import wire
from tests.fakes.scripts import Api, Step

Responder = Step | Callable[["RecordedRequest"], Step]

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            408: "Request Timeout", 409: "Conflict", 413: "Payload Too Large",
            422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 529: "Overloaded"}
_MAX_BODY = 64 * 1024 * 1024


@dataclass
class RecordedRequest:
    """One request as received: headers are lower-cased; ``body`` is the parsed JSON."""

    seq: int
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any = None
    api: Api | None = None
    step: Step | None = field(default=None, repr=False)

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


class FakeLLMServer:
    """Scripted OpenAI/Anthropic-compatible server; a context manager (start/stop)."""

    def __init__(self, *, default: Responder | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.default = default
        self.requests: list[RecordedRequest] = []
        self.failures: list[str] = []
        self._queue: deque[Step] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._seq = 0
        self._active = 0
        self.max_active = 0  # the most concurrent requests seen, for load tests
        self.connections = 0  # TCP connections accepted (keep-alive reuses them)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.host, 0, backlog=4096, limit=_MAX_BODY))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-llm-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            self._thread = None
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``AsyncOpenAI(base_url=...)`` / ``OPENAI_BASE_URL`` (the SDK appends the path)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For ``AsyncAnthropic(base_url=...)`` / ``ANTHROPIC_BASE_URL`` (SDK adds ``/v1/...``)."""
        return self.url

    # --- scripting ----------------------------------------------------------------------------

    def script(self, *steps: Step) -> FakeLLMServer:
        """Queue steps answered in whichever format the request uses."""
        with self._lock:
            self._queue.extend(steps)
        return self

    def script_openai(self, *steps: Step) -> FakeLLMServer:
        """Queue steps that must be answered on /v1/chat/completions (else a loud failure)."""
        return self.script(*(s.for_api("openai") for s in steps))

    def script_responses(self, *steps: Step) -> FakeLLMServer:
        """Queue steps that must be answered on /v1/responses (else a loud failure)."""
        return self.script(*(s.for_api("responses") for s in steps))

    def script_anthropic(self, *steps: Step) -> FakeLLMServer:
        """Queue steps that must be answered on /v1/messages (else a loud failure)."""
        return self.script(*(s.for_api("anthropic") for s in steps))

    @property
    def pending(self) -> int:
        """Scripted steps not yet consumed."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget the script, the recorded requests, failures and the default."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.failures.clear()
            self.default = None
            self.max_active = 0
            self.connections = 0

    def check(self) -> None:
        """Raise if any request was unexpected (the fixture calls this at teardown)."""
        if self.failures:
            raise AssertionError("fake LLM server failures:\n- " + "\n- ".join(self.failures))

    # --- recorded traffic ---------------------------------------------------------------------

    def bodies(self, api: Api | None = None) -> list[Any]:
        return [r.body for r in self.requests if api is None or r.api == api]

    @property
    def last_request(self) -> RecordedRequest:
        if not self.requests:
            raise AssertionError("the fake LLM server has received no request")
        return self.requests[-1]

    @property
    def last_body(self) -> Any:
        return self.last_request.body

    # --- HTTP ------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with self._lock:
            self.connections += 1
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                with self._lock:
                    self._active += 1
                    self.max_active = max(self.max_active, self._active)
                try:
                    keep_alive = await self._respond(request, writer)
                finally:
                    with self._lock:
                        self._active -= 1
                if not keep_alive or request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels handlers; ending quietly keeps asyncio from logging each one.
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> RecordedRequest | None:
        line = await reader.readline()
        if not line.strip():
            return None
        try:
            method, target, _version = line.decode("latin-1").split()
        except ValueError:
            return None
        headers: dict[str, str] = {}
        while True:
            raw = await reader.readline()
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        raw_body = await reader.readexactly(length) if length else b""
        with self._lock:
            self._seq += 1
            seq = self._seq
        request = RecordedRequest(seq, method, target.split("?", 1)[0], headers, raw_body)
        if raw_body:
            try:
                request.body = json.loads(raw_body)
            except ValueError:
                request.body = raw_body.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(request)
        return request

    def _next_step(self, request: RecordedRequest) -> Step | str:
        """The step to answer with, or the text of a failure."""
        where = f"{request.method} {request.path} (request #{request.seq})"
        if request.method != "POST" or request.api is None:
            return (f"unexpected request {where}: the fake serves POST /v1/chat/completions, "
                    "/v1/responses and /v1/messages")
        with self._lock:
            step = self._queue.popleft() if self._queue else None
        if step is None:
            default = self.default
            if default is None:
                return (f"no scripted response left for {where}; script one with "
                        f"server.script_{request.api}(...) or set server.default")
            try:
                step = default(request) if callable(default) else default
            except Exception as exc:
                return f"the default responder raised {type(exc).__name__}: {exc} for {where}"
        if step.api is not None and step.api != request.api:
            return (f"the next scripted step is for the {step.api} API but {where} is "
                    f"{request.api}; use server.script(...) for steps valid on either")
        return step

    async def _respond(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> bool:
        path = request.path.rstrip("/")
        if path.endswith("/chat/completions"):
            request.api = "openai"
        elif path.endswith("/responses"):
            request.api = "responses"
        elif path.endswith("/messages"):
            request.api = "anthropic"
        step = self._next_step(request)
        if isinstance(step, str):
            with self._lock:
                self.failures.append(step)
            body = self._error_body(request.api, Step(status=500, error_message=f"fake LLM server: {step}",
                                                      error_type="api_error"))
            await self._send_json(writer, 500, body, {"x-should-retry": "false"}, request.seq)
            return True
        request.step = step
        if step.delay_first:
            await asyncio.sleep(step.delay_first)
        if step.fault_kind == "drop" and step.fault_point == "start":
            writer.transport.abort()  # no status line at all: a connection error
            return False
        headers = dict(step.headers)
        if step.is_error:
            await self._send_json(writer, step.status, self._error_body(request.api, step), headers,
                                  request.seq)
            return True
        model = request.body.get("model", "fake-model") if isinstance(request.body, dict) else "fake-model"
        ctx = wire.Context(seq=request.seq, model=str(model), body=request.body)
        if not request.stream:
            render = {"openai": wire.openai_json, "responses": wire.responses_json}.get(
                request.api, wire.anthropic_json)
            body = render(step, ctx)
            await self._send_json(writer, 200, body, headers, request.seq)
            return True
        return await self._send_stream(writer, request, step, ctx, headers)

    @staticmethod
    def _error_body(api: Api | None, step: Step) -> dict[str, Any]:
        return wire.anthropic_error(step) if api == "anthropic" else wire.openai_error(step)

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, body: Any,
                         headers: dict[str, str], seq: int) -> None:
        data = json.dumps(body).encode()
        head = _head(status, {"content-type": "application/json",
                              "content-length": str(len(data)), **headers}, seq)
        writer.write(head + data)
        await writer.drain()

    async def _send_stream(self, writer: asyncio.StreamWriter, request: RecordedRequest, step: Step,
                           ctx: wire.Context, headers: dict[str, str]) -> bool:
        render, render_error = {
            "openai": (wire.openai_stream, wire.openai_stream_error),
            "responses": (wire.responses_stream, wire.responses_stream_error),
        }.get(request.api or "", (wire.anthropic_stream, wire.anthropic_stream_error))
        events = render(step, ctx)
        tail: list[bytes] = []
        if step.stream_error_after is not None:
            events = events[: step.stream_error_after]
            tail = [render_error(step)]
        cut = step.cut_after is not None and not step.cut_clean
        if step.cut_after is not None:
            events = events[: step.cut_after]
        events += tail
        stall_at: int | None = None
        openai = request.api == "openai"  # stream faults are scripted for Chat Completions and Anthropic
        if step.fault_kind is not None:
            at = fault_index(events, step.fault_point, openai)
            if step.fault_kind == "stall":
                stall_at = at
            else:
                events = events[:at]
                if step.fault_kind == "garbage":
                    events.append((b"" if openai else b"event: content_block_delta\n")
                                  + b'data: {"id": "garbage", "choices": [{"delta": \x00\n\n')
                cut = step.fault_kind in ("drop", "garbage")
        writer.write(_head(200, {"content-type": "text/event-stream; charset=utf-8",
                                 "cache-control": "no-cache", "transfer-encoding": "chunked",
                                 **headers}, request.seq))
        if not step.delay_between and not cut and stall_at is None:
            # the body and its end in one write, as servers do
            writer.write(b"".join(_chunk(e) for e in events) + b"0\r\n\r\n")
            await writer.drain()
            return True
        if not step.delay_between and stall_at is None:
            writer.write(b"".join(_chunk(e) for e in events))
        else:
            for i, event in enumerate(events):
                if i == stall_at:
                    await writer.drain()
                    await asyncio.sleep(step.stall_seconds)
                if i and step.delay_between:
                    await asyncio.sleep(step.delay_between)
                writer.write(_chunk(event))
                await writer.drain()
        if cut:  # close mid-body (after flushing): the client sees an incomplete chunked read
            await writer.drain()
            writer.transport.abort() if step.fault_kind == "drop" else writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def fault_index(events: list[bytes], point: str, openai: bool) -> int:
    """How many events go out before a fault at ``point``: none (``start``), up to and
    including the first text delta (``text``), or the first fragment of a tool call's
    arguments (``arguments``). A stream without such an event breaks before its end."""
    if point == "start":
        return 0
    marker = (b'"content":"' if point == "text" else b'"arguments":"') if openai else (
        b'"text_delta"' if point == "text" else b'"input_json_delta"')
    for i, event in enumerate(events):
        if marker in event and not (openai and (b'"arguments":""' in event or b'"content":""' in event)):
            return i + 1
    return max(0, len(events) - 2)


def _head(status: int, headers: dict[str, str], seq: int) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
             f"x-request-id: req_fake_{seq}", f"request-id: req_fake_{seq}", "connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@contextlib.contextmanager
def running(**options: Any) -> Iterator[FakeLLMServer]:
    """``with running(default=text("hi")) as server:`` — start, yield, check, stop."""
    server = FakeLLMServer(**options).start()
    try:
        yield server
        server.check()
    finally:
        server.stop()


__all__ = ["FakeLLMServer", "RecordedRequest", "Responder", "running"]
