"""The McpServer admin (tools.admin): state columns, checks, audited changes."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from approvals.models import AuditEvent
from tools.models import McpServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-123")
    client = Client()
    client.force_login(admin)
    return client


def form(**fields):
    base = {"name": "gh", "transport": "http", "enabled": "on", "call_timeout": "30", "default_risk": "",
            "command": "", "args": "[]", "url": "https://mcp.example.com/mcp", "env_vars": "[]",
            "headers": '{"Authorization": "GH_AUTH"}'}
    return {**base, **fields}


def test_adding_a_server_in_the_admin_is_audited_with_who_did_it(admin_client_):
    response = admin_client_.post(reverse("admin:tools_mcpserver_add"), form())
    assert response.status_code == 302, response.content.decode()[:2000]
    server = McpServer.objects.get(name="gh")
    assert server.headers == {"Authorization": "GH_AUTH"}
    event = AuditEvent.objects.get(kind="policy.changed")
    assert (event.actor, event.outcome, event.data["object"]) == ("root", "created", "gh")


def test_a_secret_pasted_as_a_header_value_is_refused_with_the_reason(admin_client_):
    response = admin_client_.post(reverse("admin:tools_mcpserver_add"),
                                  form(headers='{"Authorization": "Bearer sk-123"}'))
    assert response.status_code == 200
    assert "is not an environment variable name" in response.content.decode()
    assert not McpServer.objects.exists() and not AuditEvent.objects.exists()


def test_the_list_shows_each_servers_state_and_last_error_escaped(admin_client_):
    McpServer.objects.create(name="down", command="run", state="disconnected", tool_count=0,
                             last_error="<script>alert(1)</script> command not found")
    page = admin_client_.get(reverse("admin:tools_mcpserver_changelist")).content.decode()
    assert "down" in page and "disconnected" in page.lower()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_deleting_a_server_is_audited_with_its_whole_configuration(admin_client_):
    server = McpServer.objects.create(name="old", command="run", env_vars=["KEY"])
    admin_client_.post(reverse("admin:tools_mcpserver_delete", args=[server.pk]), {"post": "yes"})
    assert not McpServer.objects.exists()
    event = AuditEvent.objects.get(kind="policy.changed")
    assert event.outcome == "deleted" and event.data["deleted"]["env_vars"] == ["KEY"]
