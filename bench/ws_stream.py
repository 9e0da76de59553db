"""What the WebSocket path costs a streamed reply, over reading the model's stream directly.

The real application runs under Daphne on loopback (a subprocess sharing this script's
temporary SQLite database) with a model profile pointed at the scripted fake LLM server,
which runs in this process. Clients are real WebSocket connections signed in with a
session cookie. The direct side is the OpenAI SDK streaming the very same request from
the same fake server.

1. time to first token: ``user.message`` sent → first ``assistant.delta`` received,
   minus the SDK's request → first content delta (median; target < 10 ms);
2. tokens per second delivered to one socket for a 5,000-token reply, over the SDK's
   rate for the same reply (target ≥ 0.8);
3. 100 sockets on 100 conversations, each streamed a 500-token reply paced like a real
   model: all complete, none lost or reordered (seq continuity, exact text); the gaps
   between the updates a reader sees are reported, next to the SDK alone reading the
   same 100 streams.

The app merges a burst of deltas into one event (assistant/realtime/delivery.py), so tokens are
counted in the text (one word per token here), not as events. The machine's load average
is printed: on a small shared machine the figures move with it.

Standalone: ``python bench/ws_stream.py [--runs N] [--sockets N] [--pace-ms MS]``;
``--only fan`` runs one part, ``--profile-server FILE`` runs Daphne under cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_TMP = tempfile.TemporaryDirectory(prefix="toolgate-bench-ws-")
# Set before Django starts, and inherited by the server process: one database for both.
os.environ.update({
    "DJANGO_SETTINGS_MODULE": "assistant.settings",
    "TOOLGATE_VAR_DIR": _TMP.name,
    "SQLITE_PATH": str(Path(_TMP.name) / "bench.sqlite3"),
    "SECRET_KEY": "bench-only-not-secret-" + "x" * 40,
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "ERROR",
    "BENCH_LLM_KEY": "sk-bench",
})

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from assistant.models import Conversation  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer, RecordedRequest  # noqa: E402
from tests.fakes.scripts import Step, text, words  # noqa: E402

PROFILE = "bench"
TTFT_TARGET_MS = 10.0
RATE_TARGET = 0.8
STARTUP_TIMEOUT = 30.0
REPLY_TIMEOUT = 180.0
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# --- the fake model: "tokens N" is answered with N one-word chunks ----------------------------


def answer(request: RecordedRequest) -> Step:
    """``tokens N [paced MS]`` → ``words(N)`` in N chunks, optionally MS apart."""
    messages = request.body.get("messages", []) if isinstance(request.body, dict) else []
    last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    parts = str(last).split()
    count = int(parts[1]) if len(parts) > 1 and parts[0] == "tokens" else 5
    step = text(words(count), chunks=count)
    if len(parts) > 3 and parts[2] == "paced":
        step = step.delayed(between=float(parts[3]) / 1000)
    return step


# --- the server ----------------------------------------------------------------------------


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_daphne(fake: FakeLLMServer, profile: str | None = None) -> Server:
    """Daphne serving the real application on a loopback port this process picked
    (under cProfile, writing ``profile`` when it stops, if given)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    env = {**os.environ, "LLM_PROFILES": json.dumps({PROFILE: {
        "provider": "openai", "model": "gpt-bench", "base_url": fake.openai_base_url,
        "api_key_env": "BENCH_LLM_KEY", "max_retries": 0}})}
    log = Path(_TMP.name) / "daphne.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else []),
             "-m", "daphne", "--fd", str(listener.fileno()), "-v", "0",
             "assistant.asgi:application"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()],
        )
    listener.close()
    server = Server(port, process, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.origin}/accounts/login/", timeout=2) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"daphne did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()}")


# --- the WebSocket client ------------------------------------------------------------------
# A minimal RFC 6455 client on asyncio streams. (autobahn's asyncio client cannot load here:
# Django's app registry imports Daphne, which commits txaio to Twisted.)


class Socket:
    """One signed-in WebSocket; every received event is parsed and stamped with its arrival."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.inbox: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(2)
                opcode, length = head[0] & 0x0F, head[1] & 0x7F
                if length == 126:
                    length = int.from_bytes(await self.reader.readexactly(2), "big")
                elif length == 127:
                    length = int.from_bytes(await self.reader.readexactly(8), "big")
                payload = await self.reader.readexactly(length)  # server frames are unmasked
                arrived = time.perf_counter()
                if opcode == 0x1:
                    self.inbox.put_nowait((arrived, json.loads(payload)))
                elif opcode == 0x9:
                    self._frame(0xA, payload)
                elif opcode == 0x8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                    self.inbox.put_nowait((arrived, {"type": "socket.closed", "code": code}))
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.inbox.put_nowait((time.perf_counter(), {"type": "socket.closed", "code": None}))

    def _frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)

    def send_event(self, event: dict[str, Any]) -> float:
        """Send a text frame; returns the time it was handed to the transport."""
        data = json.dumps(event).encode()
        sent = time.perf_counter()
        self._frame(0x1, data)
        return sent

    def close(self) -> None:
        self._frame(0x8, (1000).to_bytes(2, "big"))
        self.writer.close()
        self.task.cancel()

    async def next(self) -> tuple[float, dict[str, Any]]:
        return await asyncio.wait_for(self.inbox.get(), REPLY_TIMEOUT)


async def connect(server: Server, conversation_id: Any, cookie: str) -> Socket:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((
        f"GET /ws/conversations/{conversation_id}/ HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {server.origin}\r\nCookie: sessionid={cookie}\r\n\r\n"
    ).encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    if not head.startswith(b"HTTP/1.1 101") or accept.encode() not in head:
        writer.close()
        raise ConnectionError(f"handshake refused: {head.decode(errors='replace').splitlines()[0]}")
    return Socket(reader, writer)


def user_message(content: str) -> dict[str, Any]:
    return {"type": "user.message", "content": content, "client_id": str(uuid.uuid4())}


# --- one reply each way ----------------------------------------------------------------------


@dataclass
class Reply:
    """One streamed reply as a client saw it: when each token arrived, the text, the seqs.

    A delta may carry several tokens (the app merges a burst into one event); its tokens
    arrived together, so each counts with the delta's arrival time.
    """

    sent: float
    token_times: list[float] = field(default_factory=list)
    text: str = ""
    seqs: list[int] = field(default_factory=list)
    status: str = ""

    def add(self, arrived: float, delta: str) -> None:
        self.text += delta
        self.token_times.extend([arrived] * max(1, len(delta.split())))

    @property
    def ttft(self) -> float:
        return self.token_times[0] - self.sent

    @property
    def rate(self) -> float:
        """Tokens per second, from the request to the last token."""
        return len(self.token_times) / (self.token_times[-1] - self.sent)

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.token_times, self.token_times[1:], strict=False)]


async def through_app(sock: Socket, content: str) -> Reply:
    reply = Reply(sock.send_event(user_message(content)))
    while True:
        arrived, event = await sock.next()
        if "seq" in event:
            reply.seqs.append(event["seq"])
        if event["type"] == "assistant.delta":
            reply.add(arrived, event["delta"])
        elif event["type"] == "run.finished":
            reply.status = event["run"]["status"]
            return reply
        elif event["type"] in ("error", "sync.required", "socket.closed") and "seq" not in event:
            reply.status = f"{event['type']}:{event.get('code', '')}"
            return reply


async def direct(client: AsyncOpenAI, body: dict[str, Any]) -> Reply:
    """The same request the app sent, streamed straight from the fake server by the SDK."""
    options = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    reply = Reply(time.perf_counter())
    stream = await client.chat.completions.create(**options, stream=True,
                                                  stream_options={"include_usage": True})
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            reply.add(time.perf_counter(), chunk.choices[0].delta.content)
    reply.status = "completed"
    return reply


def request_body_for(fake: FakeLLMServer, content: str) -> dict[str, Any]:
    """The body the app sent the model for ``content``: what the SDK side sends too."""
    for request in reversed(fake.requests):
        messages = request.body.get("messages", []) if isinstance(request.body, dict) else []
        if messages and messages[-1].get("content") == content:
            return request.body
    raise RuntimeError(f"the app sent no request for {content!r}")


# --- the measurements ---------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    value: str
    target: str
    ok: bool | None


async def measure_ttft(server: Server, fake: FakeLLMServer, client: AsyncOpenAI, owner: Any,
                       cookie: str, runs: int) -> tuple[list[Row], list[float], list[float]]:
    content = "tokens 20"
    app_ms, direct_ms = [], []
    warmup = 5
    for i in range(warmup + runs):
        convo = await Conversation.objects.acreate(owner=owner, profile=PROFILE)
        sock = await connect(server, convo.pk, cookie)
        app = await through_app(sock, content)
        sock.close()
        assert app.status == "completed" and app.text == words(20), (app.status, app.text)
        sdk = await direct(client, request_body_for(fake, content))
        assert sdk.text == words(20)
        if i >= warmup:
            app_ms.append(app.ttft * 1000)
            direct_ms.append(sdk.ttft * 1000)
    added = statistics.median(app_ms) - statistics.median(direct_ms)
    rows = [Row("time to first token added (median)", f"{added:.2f} ms", f"< {TTFT_TARGET_MS:g} ms",
                added < TTFT_TARGET_MS)]
    return rows, app_ms, direct_ms


async def measure_rate(server: Server, fake: FakeLLMServer, client: AsyncOpenAI, owner: Any,
                       cookie: str, tokens: int, repeats: int) -> list[Row]:
    content = f"tokens {tokens}"
    app_rates, direct_rates = [], []
    for i in range(repeats + 1):  # the first of each is a warm-up
        convo = await Conversation.objects.acreate(owner=owner, profile=PROFILE)
        sock = await connect(server, convo.pk, cookie)
        app = await through_app(sock, content)
        sock.close()
        assert app.status == "completed" and app.text == words(tokens), app.status
        assert app.seqs == list(range(app.seqs[0], app.seqs[0] + len(app.seqs))), "seq gap"
        sdk = await direct(client, request_body_for(fake, content))
        assert sdk.text == words(tokens)
        if i:
            app_rates.append(app.rate)
            direct_rates.append(sdk.rate)
    app_rate, direct_rate = statistics.median(app_rates), statistics.median(direct_rates)
    ratio = app_rate / direct_rate
    rows = [Row(f"tokens/s to one socket, {tokens}-token reply", f"{app_rate:,.0f}", "", None),
            Row(f"tokens/s direct SDK, {tokens}-token reply", f"{direct_rate:,.0f}", "", None),
            Row("  ratio app / direct", f"{ratio:.2f}", f">= {RATE_TARGET}", ratio >= RATE_TARGET)]
    return rows


def update_gaps(replies: list[Reply]) -> tuple[float, float, float, float]:
    """p50, p95 and worst gap (ms) between consecutive updates a client got, and tokens per
    update: what a reader sees. (Tokens merged into one delta arrive together.)"""
    gaps: list[float] = []
    updates = tokens = 0
    for reply in replies:
        arrivals = sorted(set(reply.token_times))
        gaps += [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
        updates += len(arrivals)
        tokens += len(reply.token_times)
    if len(gaps) < 2:
        return float("nan"), float("nan"), float("nan"), float("nan")
    return (statistics.median(gaps), statistics.quantiles(gaps, n=20)[18], max(gaps),
            tokens / max(1, updates))


async def measure_fan_out(server: Server, fake: FakeLLMServer, client: AsyncOpenAI,
                          owners: list[tuple[Any, str]], sockets: int, tokens: int,
                          pace_ms: float) -> list[Row]:
    convos = []
    for i in range(sockets):  # one conversation per socket, spread over the users
        owner, cookie = owners[i % len(owners)]
        convos.append((await Conversation.objects.acreate(owner=owner, profile=PROFILE), cookie))
    socks = await asyncio.gather(*(connect(server, convo.pk, cookie) for convo, cookie in convos))
    content = f"tokens {tokens} paced {pace_ms:g}"
    started = time.perf_counter()
    replies = await asyncio.gather(*(through_app(sock, content) for sock in socks), return_exceptions=True)
    elapsed = time.perf_counter() - started
    for sock in socks:
        sock.close()
    done = [r for r in replies if isinstance(r, Reply) and r.status == "completed"]
    expected = words(tokens)
    broken = [r for r in done if r.text != expected
              or r.seqs != list(range(r.seqs[0], r.seqs[0] + len(r.seqs)))
              or len(r.token_times) != tokens]
    failures = [r if isinstance(r, BaseException) else r.status for r in replies
                if not (isinstance(r, Reply) and r.status == "completed")]
    if failures:
        print(f"  failed replies: {failures[:5]}")
    # The same streams read by the SDK alone (this process; the app is idle meanwhile).
    body = request_body_for(fake, content)
    started = time.perf_counter()
    baseline = await asyncio.gather(*(direct(client, body) for _ in range(sockets)))
    direct_elapsed = time.perf_counter() - started
    app_gaps, direct_gaps = update_gaps(done), update_gaps(baseline)
    ideal = tokens * pace_ms / 1000
    return [
        Row(f"{sockets} sockets x {tokens} tokens: completed", f"{len(done)}/{sockets}", "all",
            len(done) == sockets),
        Row("  replies with lost/reordered tokens", str(len(broken)), "0", not broken),
        Row(f"  gap between updates p50/p95/max (pace {pace_ms:g} ms)",
            "{:.0f} / {:.0f} / {:.0f} ms".format(*app_gaps[:3]), "report", None),
        Row("  tokens per update (merged bursts)", f"{app_gaps[3]:.1f}", "report", None),
        Row(f"  wall time (model alone: {ideal:.0f} s)", f"{elapsed:.1f} s", "report", None),
        Row(f"  direct SDK, {sockets} streams: gaps p50/p95/max",
            "{:.0f} / {:.0f} / {:.0f} ms".format(*direct_gaps[:3]), "report", None),
        Row("  direct SDK, wall time", f"{direct_elapsed:.1f} s", "report", None),
    ]


def print_table(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows) + 2
    print(f"{'measure':<{width}}{'value':>18}  {'target':<10}result")
    for r in rows:
        verdict = "" if r.ok is None else ("ok" if r.ok else "MISSED")
        print(f"{r.name:<{width}}{r.value:>18}  {r.target:<10}{verdict}")


async def main(args: argparse.Namespace, server: Server, fake: FakeLLMServer,
               owners: list[tuple[Any, str]]) -> None:
    client = AsyncOpenAI(api_key="sk-bench", base_url=fake.openai_base_url, max_retries=0)
    owner, cookie = owners[0]
    rows: list[Row] = []
    if "ttft" in args.only:
        ttft_rows, app_ms, direct_ms = await measure_ttft(server, fake, client, owner, cookie, args.runs)
        print(f"time to first token over {args.runs} runs (20-token reply), median / p95 ms:")
        for name, values in (("  through the app (socket)", app_ms), ("  direct SDK", direct_ms)):
            print(f"{name:<28}{statistics.median(values):>8.2f}"
                  f"{statistics.quantiles(values, n=20)[18]:>8.2f}")
        print()
        rows += ttft_rows
    if "rate" in args.only:
        rows += await measure_rate(server, fake, client, owner, cookie, args.tokens, args.repeats)
    if "fan" in args.only:
        rows += await measure_fan_out(server, fake, client, owners, args.sockets, args.fan_tokens,
                                      args.pace_ms)
    await client.close()
    print_table(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="time-to-first-token samples")
    parser.add_argument("--tokens", type=int, default=5000, help="tokens in the throughput reply")
    parser.add_argument("--repeats", type=int, default=5, help="throughput samples")
    parser.add_argument("--sockets", type=int, default=100, help="concurrent sockets")
    parser.add_argument("--fan-tokens", type=int, default=500, help="tokens per concurrent reply")
    parser.add_argument("--pace-ms", type=float, default=20.0,
                        help="delay between tokens of the concurrent replies (a model's pace)")
    parser.add_argument("--users", type=int, default=10, help="users owning the concurrent sockets")
    parser.add_argument("--only", nargs="+", choices=["ttft", "rate", "fan"], default=["ttft", "rate", "fan"],
                        help="run only these measurements")
    parser.add_argument("--profile-server", metavar="FILE", help="run Daphne under cProfile, stats to FILE")
    arguments = parser.parse_args()
    call_command("migrate", verbosity=0)
    owners = []
    for i in range(arguments.users):
        user = get_user_model().objects.create_user(f"bench{i}", password=None)
        browser = Client()
        browser.force_login(user)
        owners.append((user, browser.cookies["sessionid"].value))
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f} on {os.cpu_count()} cores")
    with FakeLLMServer(default=answer) as fake_server:
        app_server = start_daphne(fake_server, arguments.profile_server)
        try:
            asyncio.run(main(arguments, app_server, fake_server, owners))
        finally:
            app_server.stop()
        fake_server.check()
    print(f"load average after: {os.getloadavg()[0]:.2f}")
