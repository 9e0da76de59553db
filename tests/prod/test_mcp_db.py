"""``/mcp`` looks after its database connection as Django does around each request.

The endpoint is served beside Django's request cycle (``assistant/mcp/http.py``), so nothing
closed or health-checked the connection its ORM calls use: one PostgreSQL dropped (a
restart, an idle timeout, an administrator) failed every later ``/mcp`` request of that
process until it was restarted, and ``DATABASE_CONN_MAX_AGE=0`` was never honoured.
A real Daphne on PostgreSQL, its connections found in ``pg_stat_activity`` by the
``application_name`` its ``DATABASE_URL`` sets.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from assistant.api import tokens
from tests.assistant.mcp.conftest import with_client
from tests.databases import shared_database_env
from tests.live import Daphne
from tests.prod.helpers import eventually
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)


def _backends(application: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY pid",
                       [application])
        return [row[0] for row in cursor.fetchall()]


def _terminate(pids: list[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


async def _search(url: str, secret: str, text: str) -> Any:
    async def use(client: Any) -> Any:
        assert "search_notes" in {tool.name for tool in (await client.list_tools()).tools}
        return await client.call_tool("search_notes", {"query": text})

    return await with_client(url, secret, use)


async def _serving(django_user_model: Any, tmp_path: Any, running: ExitStack,
                   max_age: int) -> tuple[str, str, str]:
    """A Daphne on PostgreSQL: (its URL, alice's token, its connections' application_name)."""
    create_user = sync_to_async(django_user_model.objects.create_user)
    alice = await create_user("alice", "alice@example.com", "pw-alice-1")
    secret = (await sync_to_async(tokens.create)(alice, "agent")).secret
    application = f"toolgate-mcp-{uuid.uuid4().hex[:12]}"
    url = shared_database_env()["DATABASE_URL"] + f"?application_name={application}"
    server = Daphne(tmp_path / "daphne.log", DATABASE_URL=url, DATABASE_CONN_MAX_AGE=str(max_age))
    running.callback(server.stop)
    await sync_to_async(server.start, thread_sensitive=False)()
    return server.url, secret, application


async def test_an_mcp_request_replaces_a_connection_the_database_dropped(
        django_user_model: Any, tmp_path: Any) -> None:
    with ExitStack() as running:
        url, secret, application = await _serving(django_user_model, tmp_path, running, max_age=300)
        first = await _search(url, secret, "plan")
        assert not first.is_error, first
        kept = await sync_to_async(_backends)(application)
        assert kept, "the endpoint's connection should outlive its request (DATABASE_CONN_MAX_AGE=300)"

        await sync_to_async(_terminate)(kept)  # PostgreSQL restarted, or an idle timeout struck
        await eventually(lambda: _gone(application, kept), what="the dropped connections to go")

        second = await _search(url, secret, "plan")
        assert not second.is_error, second
        assert await ToolCall.objects.filter(tool_name="search_notes", status="succeeded").acount() == 2


async def test_an_mcp_request_closes_its_connection_when_conn_max_age_is_zero(
        django_user_model: Any, tmp_path: Any) -> None:
    with ExitStack() as running:
        url, secret, application = await _serving(django_user_model, tmp_path, running, max_age=0)
        result = await _search(url, secret, "plan")
        assert not result.is_error, result
        await eventually(lambda: _gone(application, None), what="the request's connection to close")


async def _gone(application: str, pids: list[int] | None) -> bool:
    left = await sync_to_async(_backends)(application)
    return not left if pids is None else not set(left) & set(pids)
