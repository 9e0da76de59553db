"""Daily token budgets: the cap, the exact refusal, the midnight reset and per-user overrides."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from assistant.models import Conversation, Message, Run, UserBudget
from assistant.ops import budgets
from assistant.ops.budgets import BudgetExceeded
from assistant.runs import chat
from tests.assistant.runs.engine_helpers import (
    Calls,
    Recorder,
    make_engine,
    new_conversation,
    use_fake_profiles,
)
from tests.fakes.scripts import call, text, tool_calls

EXPECTED = "You have used 51,230 of your 50,000 tokens today; the budget resets at 00:00 UTC."


def spend(user, tokens: int, *, at: datetime | None = None, profile: str = "demo") -> Run:
    """A finished run of ``user`` that used ``tokens`` (split input/output), created ``at``."""
    convo = Conversation.objects.create(owner=user, profile=profile)
    created = at or datetime.now(UTC)
    return Run.objects.create(conversation=convo, user=user, profile=profile, max_steps=8,
                              status=Run.Status.COMPLETED, input_tokens=tokens - tokens // 3,
                              output_tokens=tokens // 3, created_at=created)


def test_the_refusal_message_names_the_usage_the_budget_and_the_reset():
    assert budgets.message(51_230, 50_000) == EXPECTED
    assert str(BudgetExceeded(51_230, 50_000)) == EXPECTED
    assert BudgetExceeded(1, 1).code == "budget_exceeded"


def test_the_day_starts_at_midnight_utc_whatever_the_timezone_of_now():
    from zoneinfo import ZoneInfo

    late_in_tokyo = datetime(2025, 3, 2, 8, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 23:30 UTC on the 1st
    assert budgets.day_start(late_in_tokyo) == datetime(2025, 3, 1, tzinfo=UTC)
    assert budgets.resets_at(late_in_tokyo) == datetime(2025, 3, 2, tzinfo=UTC)


@pytest.mark.django_db
def test_without_a_budget_usage_is_unlimited(user, settings):
    settings.TOKEN_BUDGET_DAILY = 0
    spend(user, 10_000_000)
    assert budgets.limit_for(user) == 0
    assert budgets.refusal(user) is None


@pytest.mark.django_db
def test_under_the_budget_nothing_is_refused_and_at_it_everything_is(user, settings):
    settings.TOKEN_BUDGET_DAILY = 1_000
    spend(user, 999)
    assert budgets.refusal(user) is None
    spend(user, 1)
    refused = budgets.refusal(user)
    assert refused is not None and (refused.used, refused.limit) == (1_000, 1_000)


@pytest.mark.django_db
def test_only_the_users_own_runs_count(user, other_user, settings):
    settings.TOKEN_BUDGET_DAILY = 1_000
    spend(other_user, 5_000)
    assert budgets.used_today(user) == 0 and budgets.refusal(user) is None


@pytest.mark.django_db
def test_the_budget_resets_at_midnight_utc(user, settings):
    settings.TOKEN_BUDGET_DAILY = 500
    spend(user, 800, at=datetime(2025, 3, 1, 23, 30, tzinfo=UTC))
    before_midnight = datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC)
    at_midnight = datetime(2025, 3, 2, 0, 0, tzinfo=UTC)
    refused = budgets.refusal(user, now=before_midnight)
    assert refused is not None and refused.used == 800
    assert budgets.refusal(user, now=at_midnight) is None
    assert budgets.used_today(user, now=at_midnight) == 0


@pytest.mark.django_db
def test_yesterdays_runs_do_not_count_today(user, settings):
    settings.TOKEN_BUDGET_DAILY = 500
    yesterday = budgets.day_start() - timedelta(seconds=1)
    spend(user, 1_000_000, at=yesterday)
    spend(user, 120)
    assert budgets.used_today(user) == 120
    assert budgets.refusal(user) is None


@pytest.mark.django_db
def test_a_per_user_budget_replaces_the_default_both_ways(user, other_user, settings):
    settings.TOKEN_BUDGET_DAILY = 0
    spend(user, 300)
    spend(other_user, 300)
    UserBudget.objects.create(user=user, daily_tokens=200)
    assert budgets.limit_for(user) == 200 and budgets.refusal(user) is not None
    assert budgets.refusal(other_user) is None  # others keep the default (unlimited)

    settings.TOKEN_BUDGET_DAILY = 100
    own = UserBudget.objects.get(user=user)
    own.daily_tokens = 0  # this user: unlimited
    own.save()
    assert budgets.refusal(user) is None
    assert budgets.refusal(other_user) is not None


@pytest.mark.django_db
def test_a_cap_set_in_another_process_applies_within_the_snapshot_ttl(user, settings, monkeypatch):
    settings.TOKEN_BUDGET_DAILY = 0
    spend(user, 300)
    assert budgets.refusal(user) is None  # snapshot taken: no caps
    UserBudget.objects.bulk_create([UserBudget(user=user, daily_tokens=100)])  # no signal, as elsewhere
    assert budgets.refusal(user) is None  # still the snapshot
    monkeypatch.setattr(budgets, "OVERRIDES_TTL", 0.0)
    assert budgets.refusal(user) is not None


# --- through the engine -------------------------------------------------------------------


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


@pytest.mark.django_db(transaction=True)
async def test_under_budget_a_run_completes(fake, user, settings):
    settings.TOKEN_BUDGET_DAILY = 1_000
    fake.script_openai(text("Hello.").with_usage(100, 5))
    run = await make_engine(Calls()).send(await new_conversation(user), user, "hi")
    assert run.status == Run.Status.COMPLETED and run.error_code == ""


@pytest.mark.django_db(transaction=True)
async def test_over_budget_a_new_message_is_refused_and_nothing_is_stored(user, settings):
    settings.TOKEN_BUDGET_DAILY = 50_000
    await _aspend(user, 51_230)
    convo = await new_conversation(user)
    refusals = REGISTRY.get_sample_value("toolgate_budget_refusals_total") or 0
    with pytest.raises(BudgetExceeded) as refused:
        await make_engine(Calls()).start(convo, user, "one more question")
    assert (refused.value.code, refused.value.message) == ("budget_exceeded", EXPECTED)
    assert not await Message.objects.filter(conversation=convo).aexists()
    assert not await Run.objects.filter(conversation=convo).aexists()
    assert REGISTRY.get_sample_value("toolgate_budget_refusals_total") == refusals + 1


@pytest.mark.django_db(transaction=True)
async def test_the_chat_socket_path_refuses_a_message_with_the_budget_error(user, settings):
    settings.TOKEN_BUDGET_DAILY = 50_000
    await _aspend(user, 51_230)
    convo = await new_conversation(user)
    outcome = await chat.submit(convo, user, "hello?", client_id=uuid.uuid4())
    assert outcome.run_id is None
    assert outcome.error == ("budget_exceeded", EXPECTED)


@pytest.mark.django_db(transaction=True)
async def test_a_run_that_crosses_the_budget_stops_before_its_next_model_turn(fake, user, settings):
    settings.TOKEN_BUDGET_DAILY = 100
    fake.script_openai(tool_calls(call("add", {"a": 1, "b": 2}, id="call_b1")).with_usage(80, 30))
    events = Recorder()
    calls = Calls()
    run = await make_engine(calls, emit=events).send(await new_conversation(user), user, "add 1 and 2")
    assert run.status == Run.Status.FAILED and run.steps == 1
    message = "You have used 110 of your 100 tokens today; the budget resets at 00:00 UTC."
    assert (run.error_code, run.error) == ("budget_exceeded", message)
    assert calls.counts == {"add": 1}  # the tool round of the first turn still ran
    assert len(fake.requests) == 1  # no second model turn was sent
    assert events.of("error") == [{"type": "error", "code": "budget_exceeded", "message": message}]
    assert events.of("run.finished")[0]["run"]["error"] == {"code": "budget_exceeded", "message": message}


@pytest.mark.django_db(transaction=True)
async def test_a_per_user_budget_lets_one_user_keep_chatting(fake, user, settings):
    settings.TOKEN_BUDGET_DAILY = 100
    await _aspend(user, 150)
    await UserBudget.objects.acreate(user=user, daily_tokens=10_000)
    fake.script_openai(text("Still here.").with_usage(50, 5))
    run = await make_engine(Calls()).send(await new_conversation(user), user, "hi")
    assert run.status == Run.Status.COMPLETED


async def _aspend(user, tokens: int) -> Run:
    from asgiref.sync import sync_to_async

    return await sync_to_async(spend)(user, tokens)
