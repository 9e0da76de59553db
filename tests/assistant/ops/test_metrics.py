"""GET /metrics: who may read it, and that chats, tools, providers and approvals show up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from prometheus_client import REGISTRY, generate_latest

from assistant.models import Conversation, Run
from assistant.ops import metrics
from assistant.providers.base import ProviderError, TextDelta, Usage
from tests.assistant.ops.conftest import parse_metrics, sample
from tests.assistant.runs.engine_helpers import (
    Calls,
    approve_high_risk,
    make_engine,
    new_conversation,
    test_registry,
    use_fake_profiles,
)
from tests.fakes.scripts import call, error, text, tool_calls
from tools.context import ToolContext
from tools.models import ToolCall
from tools.pipeline import Pipeline, ToolCallRequest


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def grew(after: dict, before: dict, name: str, **labels: str) -> float:
    """How much a sample grew between two scrapes."""
    return sample(after, name, **labels) - sample(before, name, **labels)


# --- access -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_are_refused_to_anonymous_callers(client, metrics_token):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"toolgate_" not in response.content


@pytest.mark.django_db
def test_a_wrong_token_is_refused_and_the_right_one_accepted(client, metrics_token):
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {metrics_token}").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE toolgate_tool_calls_total counter" in response.content


@pytest.mark.django_db
def test_without_a_configured_token_no_bearer_value_is_accepted(client, settings):
    settings.METRICS_TOKEN = None
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer None").status_code == 401


@pytest.mark.django_db
def test_staff_may_read_metrics_and_other_users_may_not(client, user, django_user_model):
    client.force_login(user)
    assert client.get("/metrics").status_code == 401
    staff = django_user_model.objects.create_user("ops", "ops@example.com", "pw-ops-12345", is_staff=True)
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_only_get_is_allowed(client, metrics_token):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {metrics_token}").status_code == 405


# --- a chat with a tool call --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_chat_with_a_tool_call_shows_in_the_metrics(ascrape, fake_llm, settings, monkeypatch, user):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    fake_llm.script_openai(tool_calls(call("add", {"a": 2, "b": 3}, id="call_m1")).with_usage(120, 15),
                           text("2 + 3 = 5").with_usage(150, 9))
    before = await ascrape()
    convo = await new_conversation(user)
    run = await make_engine(Calls()).send(convo, user, "add 2 and 3")
    assert run.status == Run.Status.COMPLETED
    after = await ascrape()

    def delta(name: str, **labels: str) -> float:
        return grew(after, before, name, **labels)

    assert delta("toolgate_tool_calls_total", tool="add", outcome="succeeded", error_type="") == 1
    assert delta("toolgate_tool_duration_seconds_count", tool="add") == 1
    assert delta("toolgate_tokens_total", profile="fake-openai", direction="input") == 270
    assert delta("toolgate_tokens_total", profile="fake-openai", direction="output") == 24
    assert delta("toolgate_provider_first_event_seconds_count", provider="openai") == 2
    assert delta("toolgate_provider_turn_seconds_count", provider="openai") == 2
    assert delta("toolgate_provider_turn_seconds_sum", provider="openai") > 0
    assert delta("toolgate_provider_errors_total", provider="openai", kind="server_error") == 0
    assert (run.input_tokens, run.output_tokens) == (270, 24)  # the counters agree with the run


@pytest.mark.django_db(transaction=True)
async def test_provider_errors_are_counted_by_provider_and_kind(ascrape, fake_llm, settings, monkeypatch,
                                                                user):
    use_fake_profiles(settings, monkeypatch, fake_llm, max_retries=0)
    fake_llm.script_openai(error(500))
    fake_llm.script_anthropic(error(401))
    before = await ascrape()
    engine = make_engine(Calls())
    first = await engine.send(await new_conversation(user), user, "hi")
    second = await engine.send(await new_conversation(user, "fake-anthropic"), user, "hi")
    assert (first.error_code, second.error_code) == ("provider_server_error", "provider_authentication")
    after = await ascrape()
    errors = "toolgate_provider_errors_total"
    assert grew(after, before, errors, provider="openai", kind="server_error") == 1
    assert grew(after, before, errors, provider="anthropic", kind="authentication") == 1


@pytest.mark.django_db(transaction=True)
async def test_a_profile_that_cannot_build_its_provider_counts_as_a_provider_error(settings, monkeypatch,
                                                                                   user):
    settings.LLM_PROFILES = ('{"keyless": {"provider": "openai", "model": "m", '
                             '"api_key_env": "NO_SUCH_KEY_VAR"}}')
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    before = value("toolgate_provider_errors_total", provider="openai", kind="authentication")
    run = await make_engine(Calls()).send(await new_conversation(user, "keyless"), user, "hi")
    assert run.error_code == "provider_authentication"
    assert value("toolgate_provider_errors_total", provider="openai", kind="authentication") == before + 1


async def test_tokens_of_a_turn_that_fails_midway_are_still_counted():
    async def stream():
        yield TextDelta("partial")
        yield Usage(input_tokens=40, output_tokens=3)
        raise ProviderError("stream_interrupted", "cut", provider="anthropic")

    before_in = value("toolgate_tokens_total", profile="unit-profile", direction="input")
    before_err = value("toolgate_provider_errors_total", provider="anthropic", kind="stream_interrupted")
    before_turns = value("toolgate_provider_turn_seconds_count", provider="anthropic")
    seen = []
    with pytest.raises(ProviderError):
        async for event in metrics.instrumented(stream(), provider="anthropic", profile="unit-profile"):
            seen.append(event)
    assert seen == [TextDelta("partial"), Usage(40, 3)]
    assert value("toolgate_tokens_total", profile="unit-profile", direction="input") == before_in + 40
    errors = value("toolgate_provider_errors_total", provider="anthropic", kind="stream_interrupted")
    assert errors == before_err + 1
    assert value("toolgate_provider_turn_seconds_count", provider="anthropic") == before_turns  # not a turn


# --- tool outcomes and approvals ----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_pending_approvals_are_read_from_the_database_at_scrape_time(ascrape, user):
    pipeline = Pipeline(test_registry(Calls()), gate=approve_high_risk)
    before = await ascrape()
    assert sample(before, "toolgate_approvals_pending") == 0
    assert sample(before, "toolgate_approvals_oldest_pending_seconds") == 0
    parked = await pipeline.call(ToolCallRequest("wipe", '{"target": "db"}', call_id="call_w1"),
                                 ToolContext(user=user))
    assert parked.status == "pending"
    during = await ascrape()
    assert sample(during, "toolgate_approvals_pending") == 1
    assert sample(during, "toolgate_approvals_oldest_pending_seconds") >= 0
    assert grew(during, before, "toolgate_approvals_requested_total", tool="wipe") == 1
    denied = {"tool": "wipe", "outcome": "denied", "error_type": "denied"}
    # parked is not an outcome yet: the call is counted once, when it is decided
    assert grew(during, before, "toolgate_tool_calls_total", **denied) == 0

    await pipeline.deny_pending(parked.record_id, "not today")
    after = await ascrape()
    assert sample(after, "toolgate_approvals_pending") == 0
    assert grew(after, before, "toolgate_tool_calls_total", **denied) == 1


@pytest.mark.django_db(transaction=True)
async def test_rejected_calls_are_counted_and_made_up_tool_names_never_become_labels(ascrape, user):
    pipeline = Pipeline(test_registry(Calls()), gate=None)
    before = await ascrape()
    await pipeline.call(ToolCallRequest("add", '{"a": "two", "b": 3}'), ToolContext(user=user))
    await pipeline.call(ToolCallRequest("hallucinated_tool_8f2", "{}"), ToolContext(user=user))
    after = await ascrape()
    calls = "toolgate_tool_calls_total"
    assert grew(after, before, calls, tool="add", outcome="rejected", error_type="validation_error") == 1
    assert grew(after, before, calls, tool="(unknown)", outcome="rejected", error_type="unknown_tool") == 1
    assert not any(dict(labels).get("tool") == "hallucinated_tool_8f2" for _, labels in after)


@pytest.mark.django_db(transaction=True)
async def test_active_runs_are_reported_by_status(ascrape, user):
    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    await Run.objects.acreate(conversation=convo, user=user, profile="demo", max_steps=8,
                              status=Run.Status.WAITING)
    scraped = await ascrape()
    assert sample(scraped, "toolgate_runs_active", status="waiting") == 1
    assert sample(scraped, "toolgate_runs_active", status="running") == 0


@pytest.mark.django_db(transaction=True)
async def test_a_failing_metrics_observer_never_breaks_a_tool_call(user, monkeypatch):
    def broken(stage, record):
        raise RuntimeError("metrics bug")

    monkeypatch.setattr(metrics, "_count", broken)
    result = await Pipeline(test_registry(Calls()), gate=None).call(
        ToolCallRequest("add", '{"a": 1, "b": 2}'), ToolContext(user=user))
    assert result.status == "ok" and result.output == 3
    record = await ToolCall.objects.aget(pk=result.record_id)
    assert record.status == ToolCall.Status.SUCCEEDED


def test_the_journal_tells_the_audit_trail_first_and_then_the_metrics(settings):
    from approvals.hooks import observe
    from tools.journal import load_journal

    assert load_journal() == (observe, metrics.observe_tool_call)
    settings.TOOLS_JOURNAL = "assistant.ops.metrics.observe_tool_call"  # a single path still works
    assert load_journal() == (metrics.observe_tool_call,)


# --- several processes --------------------------------------------------------------------


@pytest.mark.django_db
def test_in_multiprocess_mode_a_scrape_adds_up_every_process(tmp_path, monkeypatch):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    script = "from prometheus_client import Counter; Counter('toolgate_probe', 'x', ['w']).labels('a').inc(3)"
    for _ in range(2):  # two worker processes, each writing its own file
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    scraped = parse_metrics(generate_latest(metrics.scrape_registry()).decode())
    assert sample(scraped, "toolgate_probe_total", w="a") == 6
    assert ("toolgate_approvals_pending", ()) in scraped  # the database gauges are still there
