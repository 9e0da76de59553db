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
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


async def _search(url: str, secret: str) -> None:
    """A tools/list and a tools/call over ``/mcp``; both use the endpoint's database connection."""
    async def use(client: Any) -> Any:
        assert "search_notes" in {tool.name for tool in (await client.list_tools()).tools}
        return await client.call_tool("search_notes", {"query": "plan"})

    result = await with_client(url, secret, use)
    assert not result.is_error, result


@asynccontextmanager
async def _serving(django_user_model: Any, tmp_path: Any,
                   max_age: int) -> AsyncIterator[tuple[str, str, str]]:
    """A Daphne on PostgreSQL: (its URL, alice's token, its connections' application_name)."""
    create_user = sync_to_async(django_user_model.objects.create_user)
    alice = await create_user("alice", "alice@example.com", "pw-alice-1")
    secret = (await sync_to_async(tokens.create)(alice, "agent")).secret
    application = f"toolgate-mcp-{uuid.uuid4().hex[:12]}"
    url = shared_database_env()["DATABASE_URL"] + f"?application_name={application}"
    server = Daphne(tmp_path / "daphne.log", DATABASE_URL=url, DATABASE_CONN_MAX_AGE=str(max_age))
    await sync_to_async(server.start, thread_sensitive=False)()
    try:
        yield server.url, secret, application
    finally:
        await sync_to_async(server.stop, thread_sensitive=False)()


async def _left(application: str) -> set[int]:
    return set(await sync_to_async(_backends)(application))


async def test_an_mcp_request_replaces_a_connection_the_database_dropped(
        django_user_model: Any, tmp_path: Any) -> None:
    async with _serving(django_user_model, tmp_path, max_age=300) as (url, secret, application):
        await _search(url, secret)
        kept = await _left(application)
        assert kept, "the endpoint's connection should outlive its request (DATABASE_CONN_MAX_AGE=300)"

        await sync_to_async(_terminate)(sorted(kept))  # PostgreSQL restarted, or an idle timeout struck
        await eventually(lambda: _dropped(application, kept), what="the dropped connections to go")

        await _search(url, secret)
        assert await ToolCall.objects.filter(tool_name="search_notes", status="succeeded").acount() == 2


async def test_an_mcp_request_closes_its_connection_when_conn_max_age_is_zero(
        django_user_model: Any, tmp_path: Any) -> None:
    async with _serving(django_user_model, tmp_path, max_age=0) as (url, secret, application):
        await _search(url, secret)
        await eventually(lambda: _dropped(application, None), what="the request's connection to close")


async def _dropped(application: str, pids: set[int] | None) -> bool:
    """None of ``pids`` (None: no connection at all) is still connected."""
    left = await _left(application)
    return not left if pids is None else not left & pids
