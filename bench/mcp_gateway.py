"""Toolgate as an MCP server: what the gateway costs, and how fast an approval reaches the agent.

1. **Overhead of one ``tools/call``** through Toolgate's ``/mcp`` (token check, catalog,
   pipeline, policy, audit record) against the same call to a plain SDK server
   (``bench/_plain_mcp.py``), both stateless Streamable HTTP under Daphne, both driven by the
   official client over one keep-alive HTTP connection; interleaved in blocks, medians and
   the ratio printed. The tool on both sides is ``calculator`` (Toolgate's built-in evaluating
   ``1+1``; the plain server returns a constant): as close to a no-op as Toolgate ships.
2. **Approver click → result**: a parked call's request is open; the approver's decision is
   posted to the admin's decide view (the click); the time until the result arrives on the
   open MCP request. Target: under 300 ms. Baseline in the same run: the decide POST's own
   round trip.

   - *embedded*: one Daphne (SQLite, in-process channel layer); the decision is carried out
     on the server's own loop, which wakes the open request in the same process.
   - *production*: PostgreSQL, Redis, a Celery worker and **two** Daphne processes. The MCP
     request is open on the first; the click goes to the second, which hands the decision to
     the worker; the worker runs the call and the wake-up reaches the first Daphne through
     the channel layer (Redis). The first Daphne's poll of the record is set to 30 s, so a
     figure far below that can only have come through Redis.

   The client lists the tools before it calls, as an agent does: the SDK's client otherwise
   sends a ``tools/list`` of its own after the result arrives (to validate the structured
   result against the tool's output schema), which is the client's round trip, not the wait.

   Where the time goes (medians; from the records' own timestamps, same clock, no tracing
   code): *click → decision claimed* (the decide POST up to its conditional update: HTTP,
   session, permissions, the request's checks), *claimed → call started* (commit, Celery
   publish, worker pickup, the task's reads, the call claimed ``running`` and audited),
   *started → finished* (the tool and its audited result), *finished → result on the open
   request* (the settled signal, the channel-layer message through Redis, the waiting
   request's read of the record, the SSE answer).

    python bench/mcp_gateway.py [--mode embedded|production] [--calls N] [--rounds N] [--approvals N]

Production mode needs ``DATABASE_URL`` and ``REDIS_URL``; from the repository root::

    export TOOLGATE_SERVICES_DIR=/tmp/toolgate-services
    eval "$(.ci/services start)"; export DATABASE_URL REDIS_URL
    .venv/bin/python bench/mcp_gateway.py --mode production
    .ci/services stop
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _stack  # noqa: E402

TARGET_CLICK_MS = 300.0
PRODUCTION_POLL_SECONDS = "30"  # production: the wake-up must come through Redis, not the poll


def start_plain(stack: _stack.Stack) -> str:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    port = listener.getsockname()[1]
    process = _stack._spawn(stack, "plain", [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()),
                                             "-v", "0", "bench._plain_mcp:application"],
                            pass_fds=(listener.fileno(),))
    listener.close()
    _stack._wait_until_ready(stack, f"http://127.0.0.1:{port}/health", process)
    return f"http://127.0.0.1:{port}"


async def timed_calls(url: str, headers: dict[str, str], calls: int) -> list[float]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    times = []
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
            Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy",
                   cache=None) as client:
        await client.call_tool("calculator", {"expression": "1+1"})  # warm up
        for _ in range(calls):
            start = time.perf_counter()
            result = await client.call_tool("calculator", {"expression": "1+1"})
            times.append((time.perf_counter() - start) * 1000)
            assert not result.is_error, result
    return times


STAGES = ("click -> decision claimed", "claimed -> call started", "started -> finished",
          "finished -> result on the open request")


async def click_to_result(stack: _stack.Stack, secret: str, bob_cookie: str,
                          alice: Any) -> tuple[float, float, list[float]]:
    """The MCP request on the first web process; the click on the last one (the second, in
    production mode). Returns click→result and the POST's round trip (ms), and the ``STAGES``
    (ms) from the approval's and the call's timestamps."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from approvals.models import ApprovalRequest
    from tools.models import Note

    note = await Note.objects.acreate(owner=alice, text="bench")
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}, timeout=120) as http, \
            Client(streamable_http_client(f"{stack.origin}/mcp", http_client=http), mode="legacy",
                   cache=None) as client:
        await client.list_tools()  # as an agent does first (see the module's docstring)
        call = asyncio.ensure_future(client.call_tool("delete_note", {"note_id": note.pk}))
        pending = ApprovalRequest.objects.filter(tool_call__arguments__note_id=note.pk, status="pending")
        request = None
        while request is None:  # another process parks it: look until it is there
            request = await pending.afirst()
            if request is None:
                await asyncio.sleep(0.01)
        decider = f"http://127.0.0.1:{stack.web_ports[-1]}"
        async with httpx2.AsyncClient(base_url=decider, cookies={"sessionid": bob_cookie}) as admin:
            page = await admin.get(f"/admin/approvals/approvalrequest/{request.pk}/change/")
            csrf = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
            clicked = time.time()  # wall clock: compared with the records' timestamps
            start = time.perf_counter()
            posted = await admin.post(f"/admin/approvals/approvalrequest/{request.pk}/decide/",
                                      data={"csrfmiddlewaretoken": csrf, "decision": "approve"},
                                      headers={"Referer": f"{decider}/admin/"})
            post_ms = (time.perf_counter() - start) * 1000
            result = await call
            total_ms = (time.perf_counter() - start) * 1000
            arrived = time.time()
        assert posted.status_code == 302 and not result.is_error, (posted.status_code, result)
    decided = await ApprovalRequest.objects.select_related("tool_call").aget(pk=request.pk)
    moments = [clicked, decided.decided_at.timestamp(), decided.tool_call.started_at.timestamp(),
               decided.tool_call.finished_at.timestamp(), arrived]
    return total_ms, post_ms, [(b - a) * 1000 for a, b in itertools.pairwise(moments)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=_stack.MODES, default="embedded")
    parser.add_argument("--calls", type=int, default=30, help="calls per block")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved blocks per side")
    parser.add_argument("--approvals", type=int, default=5)
    args = parser.parse_args()
    poll = PRODUCTION_POLL_SECONDS if args.mode == "production" else "1.0"
    stack = _stack.configure(args.mode, MCP_SERVER_POLL_SECONDS=poll)
    import django

    django.setup()
    _stack.migrate()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from assistant.api import tokens

    users = get_user_model()
    alice = users.objects.create_user("alice", password="pw-alice-bench")
    bob = users.objects.create_user("bob", password="pw-bob-bench", is_staff=True)
    bob.user_permissions.add(Permission.objects.get(codename="decide", content_type__app_label="approvals"))
    secret = tokens.create(alice, "bench").secret
    with _stack.running(stack):
        _stack.start_web(stack, 2 if args.mode == "production" else 1)
        if args.mode == "production":
            _stack.start_worker(stack)
        plain = start_plain(stack)
        bob_cookie = _stack.session_cookie(bob)
        gate_ms: list[float] = []
        plain_ms: list[float] = []
        for _ in range(args.rounds):
            auth = {"Authorization": f"Bearer {secret}"}
            gate_ms += asyncio.run(timed_calls(stack.origin, auth, args.calls))
            plain_ms += asyncio.run(timed_calls(plain, {}, args.calls))
        clicks = [asyncio.run(click_to_result(stack, secret, bob_cookie, alice))
                  for _ in range(args.approvals)]
    g, p = statistics.median(gate_ms), statistics.median(plain_ms)
    print(f"mode: {args.mode}; {args.rounds} x {args.calls} calls per side, interleaved")
    if args.mode == "production":
        print(f"approvals: request open on Daphne 1, click on Daphne 2, call run by the Celery worker, "
              f"wake-up through Redis (Daphne 1 polls the record only every {poll} s)")
    print(f"tools/call through Toolgate  median {g:7.2f} ms  p90 {_stack.percentile(gate_ms, 90):7.2f} ms")
    print(f"tools/call plain SDK server  median {p:7.2f} ms  p90 {_stack.percentile(plain_ms, 90):7.2f} ms")
    print(f"overhead {g - p:+.2f} ms per call; ratio Toolgate/plain {g / p:.2f}x")
    total = statistics.median(c[0] for c in clicks)
    post = statistics.median(c[1] for c in clicks)
    verdict = "OK" if total < TARGET_CLICK_MS else "OVER TARGET"
    print(f"approver click -> result on the open request  median {total:7.2f} ms "
          f"(max {max(c[0] for c in clicks):.2f}) over {len(clicks)}; "
          f"target < {TARGET_CLICK_MS:.0f} ms: {verdict}")
    print(f"baseline: the decide POST's own round trip  median {post:7.2f} ms; ratio {total / post:.2f}x")
    print("where the time goes (medians):")
    for index, stage in enumerate(STAGES):
        print(f"  {stage:<40} {statistics.median(c[2][index] for c in clicks):7.2f} ms")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
