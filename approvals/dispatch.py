"""Where work after a decision runs: a Celery worker in production, this process otherwise.

With ``CELERY_BROKER_URL`` set (``REDIS_URL`` sets it), work is a Celery task, sent after
the deciding transaction commits. In the embedded default there is no worker: work is
scheduled on the server's own event loop (recorded by the ASGI app at start-up), so the
admin's request returns at once and the user's chat continues on the same in-process
channel layer. Without a known loop (a management command, a test client), it runs inline.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

_loop: asyncio.AbstractEventLoop | None = None
_pending: set[asyncio.Task[Any]] = set()


def set_main_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _loop
    _loop = loop


def uses_celery() -> bool:
    return bool(getattr(settings, "CELERY_BROKER_URL", None))


def carry_out(approval_id: int) -> None:
    """Run (or close) a decided request's call and resume its run — after commit."""
    transaction.on_commit(lambda: _submit(approval_id))


def _submit(approval_id: int) -> None:
    if uses_celery():
        from approvals.tasks import carry_out_decision

        carry_out_decision.delay(approval_id)
        return
    from approvals.services import carry_out as work

    run_soon(work, approval_id)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop serving this request: the running one, the one a sync view was called
    from (asgiref records it for its worker threads), or the one recorded at start-up."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    local = SyncToAsync.threadlocal
    outer = getattr(local, "main_event_loop", None)
    same_process = getattr(local, "main_event_loop_pid", None) == os.getpid()
    if outer is not None and same_process and outer.is_running():
        return outer
    if _loop is not None and _loop.is_running():
        return _loop
    return None


def run_soon(work: Callable[..., Awaitable[Any]], *args: Any) -> None:
    loop = _server_loop()
    if loop is None:
        async_to_sync(work)(*args)
        return

    def spawn() -> None:
        # A fresh context: the caller's (a sync view inside asgiref's single-thread
        # executor) would make every ORM call of the task refuse to run, to avoid deadlock.
        task = loop.create_task(work(*args), context=contextvars.Context())
        _pending.add(task)
        task.add_done_callback(lambda t: (_pending.discard(t), _log_failure(t)))

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        spawn()
    else:
        loop.call_soon_threadsafe(spawn)


def _log_failure(future: Any) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("work after an approval decision failed", exc_info=future.exception())


def start(loop: asyncio.AbstractEventLoop) -> None:
    """Called once by the ASGI app on its loop: remember it, and without Celery beat, expire
    stale approval requests from here."""
    set_main_loop(loop)
    if not uses_celery() and settings.APPROVALS_EXPIRY_CHECK_SECONDS > 0:
        loop.create_task(_expiry_timer())


async def _expiry_timer() -> None:
    from asgiref.sync import sync_to_async

    from approvals.services import expire_stale, remind_due

    while True:
        await asyncio.sleep(settings.APPROVALS_EXPIRY_CHECK_SECONDS)
        try:
            await sync_to_async(remind_due)()
            await sync_to_async(expire_stale)()
        except Exception:
            logger.exception("expiring stale approval requests failed")


async def wait_idle() -> None:
    """Wait for in-process work after decisions (tests, graceful shutdown)."""
    await asyncio.sleep(0)  # let work handed over from another thread be spawned first
    while _pending:
        await asyncio.wait(list(_pending))
