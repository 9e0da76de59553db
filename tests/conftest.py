"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_budget_snapshot():
    """Per-user token caps are cached in-process (assistant.ops.budgets); a database rolled back
    or emptied between tests sends no signal, so no test may see the caps of the one before."""
    from assistant.ops import budgets

    budgets.invalidate()
    yield
    budgets.invalidate()


@pytest.fixture(autouse=True)
def _fresh_socket_slots():
    """Open-socket counts per user (assistant.realtime.limits) start from zero in every test,
    as after a restart, whatever sockets an earlier test left unclosed."""
    from assistant.realtime import limits

    limits.reset()
    yield
    limits.reset()


@pytest.fixture(autouse=True)
def _fresh_tool_threads():
    """Give each test new tool worker threads.

    A sync tool's worker thread keeps the DB connection a database test opened in it, and
    ``close_old_connections()`` after the next tool call touches that connection; in a test
    without database access pytest-django then fails that call. Dropping the pool (without
    waiting for a deliberately stuck tool) keeps tests independent.
    """
    yield
    from tools.execution import reset_executor

    reset_executor()


@pytest.fixture(autouse=True)
def _no_celery_pools_left_behind():
    """No test publishes through the broker pools an earlier one made Celery build (they
    outlive any change of ``broker_url``; tests/celery_broker.py), nor finds Celery eager."""
    yield
    from assistant.celery import app
    from tests.celery_broker import drop_pools

    if app._pool is not None or app.amqp._producer_pool is not None:
        drop_pools()
    assert not app.conf.task_always_eager, "a test left Celery eager: use tests/celery_broker.using_broker"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, which on PostgreSQL can only be dropped once nobody is
    connected: end the sessions tool and ORM threads (and stopped servers) left open."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
async def fresh_realtime(settings, monkeypatch):
    """A fresh event log and channel layer (as after a restart), and no background run or
    post-decision work left behind when the test ends."""
    import asyncio

    from approvals import dispatch
    from assistant.realtime import delivery as realtime
    from assistant.runs import chat

    monkeypatch.setattr(realtime, "_log", None)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                           "CONFIG": {"capacity": 5000}}}
    yield
    await asyncio.wait_for(dispatch.wait_idle(), 20)
    await asyncio.wait_for(chat.wait_idle(), 20)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("mallory", "mallory@example.com", "pw-mallory-123")


@pytest.fixture
def fake_llm():
    """A scripted OpenAI/Anthropic-compatible server on 127.0.0.1 (tests/fakes/llm_server.py).

    Fails the test at teardown if it received a request it had no answer for.
    """
    from tests.fakes.llm_server import FakeLLMServer

    with FakeLLMServer() as server:
        yield server
        server.check()
