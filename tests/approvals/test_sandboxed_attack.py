"""Issue 10's attack, end to end: an approved run_python call tries to steal the sessions.

A user asks for code that opens the application's database and prints every session key
(a staff session replayed would open the approval queue); an approver lets it run. The
code runs under bubblewrap and finds neither the database file nor the database server.
The database file is made readable to everyone first, as the data directory was before
issue 10 (0755/0644): the sandbox's isolation alone has to stop the attack.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.db import connection

from approvals import services
from approvals.models import ApprovalRequest
from assistant.models import Conversation
from tests.approvals.helpers import client_for, events_until, make_approver, open_socket, say
from tests.tools.builtin.conftest import require_isolation
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

STEAL = """
import socket, sqlite3
try:
    db = sqlite3.connect('file:{path}?mode=ro', uri=True)
    print('sessions', db.execute('select session_key from django_session').fetchall())
except sqlite3.Error as exc:
    print('file refused:', exc)
try:
    socket.create_connection(({host!r}, {port}), timeout=2)
    print('server reached')
except OSError as exc:
    print('server refused:', type(exc).__name__)
"""


def database_targets() -> tuple[str, str, int]:
    """The SQLite file (or, on PostgreSQL, where a file would be) and the database server."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return str(params["NAME"]), "127.0.0.1", 5432
    host, port = params.get("HOST") or "127.0.0.1", int(params.get("PORT") or 5432)
    return "/var/lib/postgresql/data/base", host, port


@pytest.fixture
def readable_database() -> Iterator[None]:
    """The SQLite file, its WAL files and their directory readable by every uid, for a while."""
    if connection.vendor != "sqlite":
        yield
        return
    name = Path(connection.settings_dict["NAME"])
    paths = [name.parent, *(p for p in (name, Path(f"{name}-wal"), Path(f"{name}-shm")) if p.exists())]
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in paths}
    for path in paths:
        path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        yield
    finally:
        for path, mode in modes.items():
            path.chmod(mode)


@pytest.mark.usefixtures("readable_database")
async def test_approved_code_cannot_read_the_sessions_of_the_app(user, django_user_model):
    require_isolation()
    approver = await sync_to_async(make_approver)(django_user_model)
    await sync_to_async(client_for)(approver)  # a staff session, worth stealing
    path, host, port = await sync_to_async(database_targets)()
    session_keys = [key async for key in Session.objects.values_list("session_key", flat=True)]
    assert session_keys

    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    socket = await open_socket(user, f"/ws/conversations/{convo.pk}/")
    code = STEAL.format(path=path, host=host, port=port)
    await say(socket, "/call run_python " + json.dumps({"code": code}))
    await events_until(socket, "run.waiting")
    request = await ApprovalRequest.objects.aget(tool_name="run_python")
    await sync_to_async(services.decide)(request.pk, approver, "approve")
    await events_until(socket, "run.finished")
    await socket.disconnect()

    record = await ToolCall.objects.aget(pk=request.tool_call_id)
    assert record.status == ToolCall.Status.SUCCEEDED
    lines = record.result["stdout"].splitlines()
    assert lines == ["file refused: unable to open database file", "server refused: ConnectionRefusedError"]
    assert record.result["filesystem_isolated"] is True
    assert not any(key in json.dumps(record.result) for key in session_keys)
