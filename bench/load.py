"""Many users chatting at once over WebSockets, against production mode (issue 6).

N simulated users (default 200), each signed in with their own session and conversation,
open a WebSocket each, and then all send a message at the same moment; each waits for
its reply to finish and sends the next (``--messages``). The model is the scripted fake
LLM server (tests/fakes/llm_server.py) with a ``default`` answer streamed like a real
model (``--words`` words in ``--chunks`` pieces, ``--pace-ms`` apart), on loopback.

Production mode: ``--web`` Daphne processes (default 2; users are spread over them) and a
Celery worker, PostgreSQL and Redis from ``DATABASE_URL``/``REDIS_URL``
(``eval "$(.ci/services start)"``). ``--mode embedded`` runs the same against one Daphne
on SQLite for comparison.

Printed: completed runs and errors, time to first token (message sent → first
``assistant.delta``) p50/p95/max, reply time, throughput. A reply counts as completed only
if it ended ``completed`` with exactly the scripted text and gap-free seqs.
Target: 200 concurrent streaming conversations, all completed, no errors.

``python bench/load.py [--users N] [--messages N] [--web N] [--mode production|embedded]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _stack

PROFILE = "bench"
REPLY_TIMEOUT = 300.0


@dataclass
class Outcome:
    ttft: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    completed: int = 0
    errors: list[str] = field(default_factory=list)
    tokens: int = 0
    ready: int = 0  # sockets connected (or failed to) and waiting for the start


async def one_user(index: int, port: int, origin: str, conversation_id: str, cookie: str, messages: int,
                   expected: str, start: asyncio.Event, outcome: Outcome) -> None:
    import websockets

    url = f"ws://127.0.0.1:{port}/ws/conversations/{conversation_id}/"
    try:
        async with websockets.connect(url, additional_headers={"Cookie": f"sessionid={cookie}",
                                                                "Origin": origin},
                                      open_timeout=60, max_queue=None) as ws:
            outcome.ready += 1
            await start.wait()
            last_seq = 0
            for turn in range(messages):
                sent = time.perf_counter()
                await ws.send(json.dumps({"type": "user.message", "content": f"user {index} turn {turn}",
                                          "client_id": str(uuid.uuid4())}))
                text, first, gap = [], None, False
                while True:
                    event = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))
                    if "seq" in event:
                        gap |= last_seq and event["seq"] != last_seq + 1
                        last_seq = event["seq"]
                    if event["type"] == "assistant.delta":
                        first = first or time.perf_counter()
                        text.append(event["delta"])
                    elif event["type"] == "error" or event["type"] == "sync.required":
                        outcome.errors.append(f"user {index}: {event.get('code', event['type'])}")
                    elif event["type"] == "run.finished":
                        break
                finished = time.perf_counter()
                status = event["run"]["status"]
                got = "".join(text)
                if status != "completed" or got != expected or gap or first is None:
                    where = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                                 min(len(got), len(expected)))
                    outcome.errors.append(f"user {index}: run {status}; seq gap: {bool(gap)}; text differs "
                                          f"at {where} ({got[where:where + 30]!r} for "
                                          f"{expected[where:where + 30]!r}, {len(got)}/{len(expected)} chars)"
                                          if got != expected else f"user {index}: run {status}, gap {gap}")
                    continue
                outcome.completed += 1
                outcome.tokens += len(expected.split())
                outcome.ttft.append((first - sent) * 1000)
                outcome.reply.append((finished - sent) * 1000)
    except Exception as exc:  # a socket that failed is an error of the run, not of the benchmark
        outcome.errors.append(f"user {index}: {type(exc).__name__}: {exc}")
        if not start.is_set():
            outcome.ready += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--messages", type=int, default=2, help="messages each user sends, one after another")
    parser.add_argument("--web", type=int, default=2, help="Daphne processes (production mode)")
    parser.add_argument("--words", type=int, default=60, help="words in each reply")
    parser.add_argument("--chunks", type=int, default=30, help="streamed pieces per reply")
    parser.add_argument("--pace-ms", type=float, default=20.0, help="delay between streamed pieces")
    parser.add_argument("--mode", choices=_stack.MODES,
                        help="default: production when DATABASE_URL and REDIS_URL are set, else embedded")
    args = parser.parse_args()
    if args.mode is None:
        args.mode = "production" if _stack.production_available() else "embedded"
        if args.mode == "embedded":
            print('production mode needs DATABASE_URL and REDIS_URL (eval "$(.ci/services start)"); '
                  "running embedded mode\n")

    stack = _stack.configure(args.mode, BENCH_LLM_KEY="sk-bench")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from assistant.models import Conversation
    from tests.fakes.llm_server import FakeLLMServer
    from tests.fakes.scripts import text, words

    expected = words(args.words)
    answer = text(expected, chunks=args.chunks).delayed(between=args.pace_ms / 1000)
    _stack.migrate()
    web = args.web if args.mode == "production" else 1
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"load{i}") for i in range(args.users + web)])
    cookies = [_stack.session_cookie(user) for user in users]
    convos = Conversation.objects.bulk_create([Conversation(owner=user, profile=PROFILE) for user in users])

    with FakeLLMServer(default=answer) as fake, _stack.running(stack):
        stack.env["LLM_PROFILES"] = json.dumps({PROFILE: {
            "provider": "openai", "model": "gpt-bench", "base_url": fake.openai_base_url,
            "api_key_env": "BENCH_LLM_KEY", "max_retries": 0}})
        _stack.start_web(stack, web)
        if args.mode == "production":
            _stack.start_worker(stack, concurrency=1)
        # One conversation per server first: imports and connections made on first use
        # (the model SDK, the channel layer) are not what a steady server costs.
        warm, _ = asyncio.run(drive(stack, convos[-web:], cookies[-web:], 1, expected))
        if warm.errors:
            raise SystemExit(f"warm-up failed: {warm.errors}\n{stack.log_tail()}")
        load_before = os.getloadavg()[0]
        outcome, wall = asyncio.run(drive(stack, convos[:-web], cookies[:-web], args.messages, expected))
        fake.check()
        peak = fake.max_active

    total = args.users * args.messages
    worker = " + Celery worker" if args.mode == "production" else ""
    print(f"{args.mode} mode: {web} Daphne process(es){worker}, "
          f"{args.users} users x {args.messages} messages, replies of {args.words} words in {args.chunks} "
          f"chunks {args.pace_ms:g} ms apart (load average before {load_before:.2f}, {os.cpu_count()} cores)")
    print(f"  completed runs          {outcome.completed}/{total}   "
          f"{'ok' if outcome.completed == total and not outcome.errors else 'MISSED'}")
    print(f"  errors                  {len(outcome.errors)}")
    for error in outcome.errors[:10]:
        print(f"    {error}")
    if outcome.ttft:
        print(f"  time to first token     p50 {statistics.median(outcome.ttft):.0f} ms   "
              f"p95 {_stack.percentile(outcome.ttft, 95):.0f} ms   max {max(outcome.ttft):.0f} ms")
        model_ms = args.pace_ms * (args.chunks - 1)
        print(f"  reply time              p50 {statistics.median(outcome.reply):.0f} ms   "
              f"p95 {_stack.percentile(outcome.reply, 95):.0f} ms   "
              f"(the model alone streams for {model_ms:.0f} ms)")
    print(f"  wall time               {wall:.1f} s; model requests in flight at peak: {peak}")
    print(f"  throughput              {outcome.completed / wall:.1f} runs/s, "
          f"{outcome.tokens / wall:.0f} words/s delivered")


async def drive(stack: _stack.Stack, convos: list[Any], cookies: list[str], messages: int,
                expected: str) -> tuple[Outcome, float]:
    outcome = Outcome()
    start = asyncio.Event()
    tasks = [asyncio.create_task(one_user(i, stack.web_ports[i % len(stack.web_ports)], stack.origin,
                                          str(convo.pk), cookies[i], messages, expected, start, outcome))
             for i, convo in enumerate(convos)]
    deadline = time.monotonic() + 120  # every socket connects first: then all speak at once
    while outcome.ready < len(convos) and time.monotonic() < deadline:  # noqa: ASYNC110 -- a count
        await asyncio.sleep(0.05)
    started = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return outcome, time.perf_counter() - started


if __name__ == "__main__":
    main()
