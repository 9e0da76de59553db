"""A driven run renews its lease, so recovery with a short lease takes dead runs only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from assistant.models import Run
from assistant.runs import heartbeat, recovery
from tests.assistant.runs.engine_helpers import Calls, make_engine, new_conversation, use_fake_profiles
from tests.fakes.scripts import text

pytestmark = pytest.mark.django_db(transaction=True)
LEASE = 3.0  # seconds: half of what the run below takes, thirty beats


async def test_a_live_run_is_never_taken_by_recovery_however_long_a_step_takes(fake_llm, settings,
                                                                               monkeypatch, user):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    settings.RUN_HEARTBEAT_SECONDS = 0.1
    fake_llm.script_openai(text("slow " * 20, chunks=20).delayed(first=2.0, between=0.2))
    import openai  # noqa: F401 -- a first import blocks the loop for seconds on a loaded machine
    convo = await new_conversation(user)
    task = asyncio.create_task(make_engine(Calls()).send(convo, user, "take your time"))
    closed = 0
    while not task.done():
        await asyncio.sleep(0.25)
        closed += await sync_to_async(recovery.close_interrupted_runs)(LEASE)
    run = await task
    assert closed == 0 and run.status == Run.Status.COMPLETED


async def test_a_run_nobody_drives_is_taken_once_its_short_lease_runs_out(user):
    from assistant.models import Conversation

    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    run = await Run.objects.acreate(conversation=convo, user=user, profile="demo", max_steps=8,
                                    updated_at=timezone.now() - timedelta(seconds=LEASE + 0.5))
    assert await sync_to_async(recovery.close_interrupted_runs)(LEASE) == 1
    await run.arefresh_from_db()
    assert (run.status, run.error_code) == (Run.Status.FAILED, "interrupted")


async def test_a_beat_never_revives_a_run_that_was_moved_on(user):
    from assistant.models import Conversation

    convo = await Conversation.objects.acreate(owner=user, profile="demo")
    run = await Run.objects.acreate(conversation=convo, user=user, profile="demo", max_steps=8,
                                    status=Run.Status.FAILED)
    assert await sync_to_async(heartbeat.touch)(run.pk) is False


def test_the_heartbeat_must_fit_the_lease_twice(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "assistant.settings", "DJANGO_DEBUG": "true",
           "TOOLGATE_VAR_DIR": str(tmp_path), "RUN_LEASE_SECONDS": "30", "RUN_HEARTBEAT_SECONDS": "20"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert "RUN_HEARTBEAT_SECONDS (20) must be at most half of RUN_LEASE_SECONDS (30)" in result.stderr
