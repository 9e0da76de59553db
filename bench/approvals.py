"""How fast a decision reaches the user, and how fast a queue of decisions drains (issue 5).

1. **decision → first resumed token**: a user chats over a real WebSocket until a call
   waits for approval (the demo model's ``delete note N``); an approver posts *Approve* to
   the admin over HTTP; measured from just before that POST to the first ``assistant.delta``
   of the resumed run arriving on the user's socket. Production mode: Daphne + a Celery
   worker + Redis + PostgreSQL (the worker runs the call and resumes the run; its events
   reach the socket through Redis). Target: median < 300 ms. Embedded mode for comparison:
   one Daphne, SQLite, the work runs on the server's loop.
2. **1,000 queued decisions**: 1,000 pending requests are created through the real
   pipeline (a high-risk call each), then decided one after another through
   ``approvals.services.decide``; reported: the time the deciding takes (total and per
   decision), and until every call has been carried out (by the worker, or by the loop).

Each mode runs in a process of its own (settings are read once per process):
``python bench/approvals.py [--rounds N] [--queue N] [--modes embedded production]``.
Production mode needs ``DATABASE_URL`` and ``REDIS_URL`` (``eval "$(.ci/services start)"``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _stack

TARGET_MS = 300.0


# --- one mode, in its own process ------------------------------------------------------------


async def one_round(stack: _stack.Stack, alice: Any, alice_cookie: str, bob_cookie: str,
                    csrf: str) -> dict[str, float]:
    import httpx
    import websockets

    from approvals.models import ApprovalRequest
    from assistant.models import Conversation
    from tools.models import Note

    note = await Note.objects.acreate(owner=alice, text="bench note")
    convo = await Conversation.objects.acreate(owner=alice, profile="demo")
    url = f"ws://127.0.0.1:{stack.web_ports[0]}/ws/conversations/{convo.pk}/"
    headers = {"Cookie": f"sessionid={alice_cookie}", "Origin": stack.origin}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "user.message", "content": f"delete note {note.pk}",
                                  "client_id": str(uuid.uuid4())}))
        while json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] != "run.waiting":
            pass
        request = await ApprovalRequest.objects.aget(conversation_id=str(convo.pk))
        marks: dict[str, float] = {}

        async def watch() -> None:
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), 30))
                now = time.perf_counter()
                if event["type"] == "approval.decided":
                    marks.setdefault("decided", now)
                elif event["type"] == "assistant.delta" and "decided" in marks:
                    marks.setdefault("token", now)
                elif event["type"] == "run.finished":
                    marks["finished"] = now
                    return

        watcher = asyncio.create_task(watch())
        async with httpx.AsyncClient(base_url=stack.origin, cookies={"sessionid": bob_cookie,
                                                                     "csrftoken": csrf}) as http:
            started = time.perf_counter()
            response = await http.post(f"/admin/approvals/approvalrequest/{request.pk}/decide/",
                                       data={"decision": "approve", "csrfmiddlewaretoken": csrf})
            answered = time.perf_counter()
        if response.status_code != 302:
            raise RuntimeError(f"the decision was refused: {response.status_code} {response.text[:300]}")
        await watcher
    return {"http_ms": (answered - started) * 1000, "decided_ms": (marks["decided"] - started) * 1000,
            "token_ms": (marks["token"] - started) * 1000,
            "finished_ms": (marks["finished"] - started) * 1000}


def approver_csrf(stack: _stack.Stack, bob_cookie: str) -> str:
    import httpx

    response = httpx.get(f"{stack.origin}/admin/", cookies={"sessionid": bob_cookie})
    token = response.cookies.get("csrftoken")
    if response.status_code != 200 or not token:
        raise RuntimeError(f"no CSRF token from the admin ({response.status_code})")
    return token


def decide_a_queue(stack: _stack.Stack, alice: Any, bob: Any, size: int) -> dict[str, float]:
    """Create ``size`` pending requests through the pipeline, decide them all, wait for the calls."""
    from asgiref.sync import async_to_sync

    from approvals import dispatch, services
    from approvals.models import ApprovalRequest
    from tools.context import ToolContext
    from tools.models import Note, ToolCall
    from tools.pipeline import Pipeline, ToolCallRequest

    notes = Note.objects.bulk_create([Note(owner=alice, text=f"queued {i}") for i in range(size)])
    pipeline = Pipeline()

    async def park_all() -> None:
        context = ToolContext(user=alice)
        for note in notes:
            result = await pipeline.call(ToolCallRequest(
                "delete_note", json.dumps({"note_id": note.pk}), f"q{note.pk}",
                idempotency_key=f"bench:{note.pk}"), context)
            assert result.status == "pending", result

    started = time.perf_counter()
    async_to_sync(park_all)()
    created = time.perf_counter() - started
    ids = list(ApprovalRequest.objects.filter(status="pending", tool_name="delete_note",
                                              conversation_id="").values_list("pk", flat=True))
    assert len(ids) == size, len(ids)

    loop = None
    if stack.mode == "embedded":  # as in the server: the work goes to an event loop, not inline
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        dispatch.set_main_loop(loop)
    started = time.perf_counter()
    for pk in ids:
        services.decide(pk, bob, "approve")
    decided = time.perf_counter() - started
    calls = ToolCall.objects.filter(tool_name="delete_note", idempotency_key__startswith="bench:")
    deadline = time.monotonic() + 600
    while calls.exclude(status__in=["succeeded", "failed"]).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the decided calls were not all carried out within 10 minutes")
        time.sleep(0.05)
    drained = time.perf_counter() - started
    if loop is not None:
        asyncio.run_coroutine_threadsafe(dispatch.wait_idle(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
    failed = calls.filter(status="failed").count()
    return {"created_s": created, "decided_s": decided, "drained_s": drained, "failed": failed}


def run_mode(mode: str, rounds: int, queue: int) -> dict[str, Any]:
    stack = _stack.configure(mode)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    _stack.migrate()
    users = get_user_model().objects
    alice = users.create_user("alice", password=None)
    bob = users.create_user("bob", password=None, is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    bob = users.get(pk=bob.pk)  # fresh permission cache
    with _stack.running(stack):
        _stack.start_web(stack)
        if mode == "production":
            _stack.start_worker(stack, concurrency=2)
        alice_cookie, bob_cookie = _stack.session_cookie(alice), _stack.session_cookie(bob)
        csrf = approver_csrf(stack, bob_cookie)

        async def rounds_of_decisions() -> list[dict[str, float]]:
            samples = []
            for i in range(rounds + 3):  # three warm-up rounds
                sample = await one_round(stack, alice, alice_cookie, bob_cookie, csrf)
                if i >= 3:
                    samples.append(sample)
            return samples

        samples = asyncio.run(rounds_of_decisions())
        queued = decide_a_queue(stack, alice, bob, queue)
    return {"mode": mode, "samples": samples, "queue": queued, "size": queue}


# --- the report ------------------------------------------------------------------------------


def report(results: list[dict[str, Any]], rounds: int) -> None:
    print(f"decision -> first resumed token on the user's socket ({rounds} rounds; ms)")
    print(f"{'mode':<12}{'':<22}{'median':>9}{'p95':>9}{'max':>9}")
    for result in results:
        for key, label in (("token_ms", "first resumed token"), ("decided_ms", "approval.decided"),
                           ("http_ms", "admin POST answered"), ("finished_ms", "run.finished")):
            values = [s[key] for s in result["samples"]]
            print(f"{result['mode']:<12}{label:<22}{statistics.median(values):>9.1f}"
                  f"{_stack.percentile(values, 95):>9.1f}{max(values):>9.1f}")
    for result in results:
        if result["mode"] == "production":
            median = statistics.median(s["token_ms"] for s in result["samples"])
            verdict = "ok" if median < TARGET_MS else "MISSED"
            print(f"target: production median < {TARGET_MS:g} ms: {median:.1f} ms {verdict}")
    print()
    print("deciding a queue of pending requests through approvals.services.decide")
    print(f"{'mode':<12}{'requests':>9}{'create':>10}{'decide':>10}{'per decision':>14}"
          f"{'all carried out':>17}{'failed':>8}")
    for result in results:
        q, n = result["queue"], result["size"]
        print(f"{result['mode']:<12}{n:>9}{q['created_s']:>9.1f}s{q['decided_s']:>9.1f}s"
              f"{q['decided_s'] / n * 1000:>12.2f}ms{q['drained_s']:>16.1f}s{q['failed']:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="decisions timed per mode")
    parser.add_argument("--queue", type=int, default=1000, help="pending requests decided in a row")
    parser.add_argument("--modes", nargs="+", choices=_stack.MODES, default=list(_stack.MODES))
    parser.add_argument("--one-mode", choices=_stack.MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_mode:
        print(json.dumps(run_mode(args.one_mode, args.rounds, args.queue)))
        return
    modes = [m for m in args.modes if m != "production" or _stack.production_available()]
    if "production" in args.modes and "production" not in modes:
        print("production mode skipped: set DATABASE_URL and REDIS_URL (eval \"$(.ci/services start)\")\n")
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores\n")
    results = []
    for mode in modes:
        done = subprocess.run([sys.executable, __file__, "--one-mode", mode, "--rounds", str(args.rounds),
                               "--queue", str(args.queue)], capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
            raise SystemExit(f"{mode} mode failed")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    report(results, args.rounds)


if __name__ == "__main__":
    main()
