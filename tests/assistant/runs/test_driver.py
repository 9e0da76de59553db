"""One driver at a time: taking a run is a conditional update (assistant/runs/driver.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assistant.models import Conversation, Run
from assistant.runs import driver, heartbeat

pytestmark = pytest.mark.django_db
LEASE = 60


def new_run(user, **fields) -> Run:
    convo = Conversation.objects.create(owner=user, profile="demo")
    return Run.objects.create(conversation=convo, user=user, profile="demo", max_steps=8, **fields)


def test_a_free_run_is_taken_by_exactly_one_of_two_drivers(user):
    run = new_run(user)
    assert driver.take(run.pk, "a", LEASE) is True
    assert driver.take(run.pk, "b", LEASE) is False
    assert Run.objects.get(pk=run.pk).driver == "a"


def test_a_driver_may_take_its_own_run_again(user):
    run = new_run(user, driver="a")
    assert driver.take(run.pk, "a", LEASE) is True


def test_a_run_whose_driver_stopped_renewing_is_taken_after_the_lease(user):
    run = new_run(user, driver="dead", updated_at=timezone.now() - timedelta(seconds=LEASE + 1))
    assert driver.take(run.pk, "b", LEASE) is True
    assert Run.objects.get(pk=run.pk).driver == "b"


def test_a_run_that_is_not_running_is_never_taken(user):
    for status in (Run.Status.WAITING, Run.Status.COMPLETED, Run.Status.FAILED):
        run = new_run(user, status=status)
        assert driver.take(run.pk, "a", LEASE) is False


def test_each_drive_has_a_distinct_token():
    assert driver.new_token() != driver.new_token()


def test_a_beat_tells_alive_cancel_lost_and_ended_apart(user):
    run = new_run(user, driver="me")
    assert heartbeat.beat_once(run.pk, "me") == heartbeat.ALIVE
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    assert heartbeat.beat_once(run.pk, "me") == heartbeat.CANCEL
    Run.objects.filter(pk=run.pk).update(driver="other")
    assert heartbeat.beat_once(run.pk, "me") == heartbeat.LOST
    Run.objects.filter(pk=run.pk).update(status=Run.Status.WAITING, driver="")
    assert heartbeat.beat_once(run.pk, "me") == heartbeat.ENDED
