"""A Celery worker keeps its database connection from one task to the next
(``assistant/ops/worker_db.py``), and replaces one that died.

A real worker (prefork, as the Procfile starts it, ``DATABASE_CONN_MAX_AGE=300``) carries out
denials decided here: a denial touches the database from the task's own thread only (no tool
runs), so the worker's connections seen in ``pg_stat_activity`` (found by the
``application_name`` its ``DATABASE_URL`` sets) are exactly the task's. Celery's Django fixup
alone closed that connection after every task, so the next one paid for a new connection
before its first query.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from approvals import services as approval_services
from approvals.models import ApprovalRequest
from tests.approvals.helpers import make_approver
from tests.databases import shared_database_env
from tests.prod.helpers import eventually
from tools.context import ToolContext
from tools.models import Note, ToolCall
from tools.pipeline import Pipeline, ToolCallRequest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def approver(django_user_model: Any) -> Any:
    return make_approver(django_user_model)


def _backends(application: str) -> list[tuple[int, Any]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE application_name = %s "
                       "ORDER BY pid", [application])
        return list(cursor.fetchall())


def _terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


async def _park(user: Any) -> ApprovalRequest:
    note = await Note.objects.acreate(owner=user, text="keep")
    result = await Pipeline().call(ToolCallRequest("delete_note", {"note_id": note.pk}),
                                   ToolContext(user=user, scope={}))
    assert result.status == "pending", result
    return await ApprovalRequest.objects.aget(tool_call_id=result.record_id)


async def _deny_in_worker(worker: Any, request: ApprovalRequest, approver: Any, done: int) -> None:
    await sync_to_async(approval_services.decide)(request.pk, approver, "deny", reason="not now")

    async def finished() -> bool:  # closed, and the task's postrun has run (after the log line)
        record = await ToolCall.objects.aget(pk=request.tool_call_id)
        return (record.status == ToolCall.Status.DENIED
                and worker.output().count("carry_out_decision") >= 2 * done)  # received + succeeded

    await eventually(finished, what=f"the worker to carry out denial {done}")


async def test_a_worker_keeps_its_database_connection_between_tasks_and_replaces_a_dead_one(
        user: Any, approver: Any, services: Any) -> None:
    application = f"toolgate-worker-{uuid.uuid4().hex[:12]}"
    url = shared_database_env()["DATABASE_URL"] + f"?application_name={application}"
    worker = await services("worker", DATABASE_URL=url, DATABASE_CONN_MAX_AGE=300)
    requests = [await _park(user) for _ in range(3)]

    await _deny_in_worker(worker, requests[0], approver, 1)
    first = await sync_to_async(_backends)(application)
    assert len(first) == 1, first  # the task's connection outlived the task

    await _deny_in_worker(worker, requests[1], approver, 2)
    assert await sync_to_async(_backends)(application) == first  # the same one served the next task

    # A connection the server dropped (restart, idle timeout, an admin) is found unusable
    # before the next task runs, and replaced: the task still runs.
    await sync_to_async(_terminate)(first[0][0])
    await _deny_in_worker(worker, requests[2], approver, 3)
    after = await sync_to_async(_backends)(application)
    assert len(after) == 1 and after[0][0] != first[0][0], (first, after)
    for request in requests:
        record = await ToolCall.objects.aget(pk=request.tool_call_id)
        assert record.status == ToolCall.Status.DENIED and record.gate_rule == "approval:denied"
    assert "Traceback" not in worker.output()


async def test_a_worker_without_conn_max_age_still_closes_its_connection_after_each_task(
        user: Any, approver: Any, services: Any) -> None:
    application = f"toolgate-worker-{uuid.uuid4().hex[:12]}"
    url = shared_database_env()["DATABASE_URL"] + f"?application_name={application}"
    worker = await services("worker", DATABASE_URL=url, DATABASE_CONN_MAX_AGE=0)
    request = await _park(user)

    await _deny_in_worker(worker, request, approver, 1)
    assert await eventually(lambda: _none_left(application), what="the task's connection to close")


async def _none_left(application: str) -> bool:
    return not await sync_to_async(_backends)(application)
