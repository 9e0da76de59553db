"""The Redis event log: one sequence and replay buffer per conversation for every process."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
import redis
from asgiref.sync import async_to_sync

from assistant.models import Conversation, Run
from assistant.realtime import delivery as realtime
from assistant.realtime.redis_log import RESTART_GAP, RedisEventLog

pytestmark = pytest.mark.django_db(transaction=True)


def new_log(limit: int = 100, ttl: int = 600) -> RedisEventLog:
    """A log as another process would have it: its own connections."""
    return RedisEventLog(os.environ["REDIS_URL"], limit=limit, ttl=ttl)


@pytest.fixture
def convo(user):
    return Conversation.objects.create(owner=user, profile="demo", last_seq=30)


def keys(convo) -> list[str]:
    return RedisEventLog._keys(str(convo.pk))


def test_production_settings_select_the_redis_log(monkeypatch, settings):
    monkeypatch.setattr(realtime, "_log", None)
    settings.REDIS_URL = os.environ["REDIS_URL"]
    assert isinstance(realtime.event_log(), RedisEventLog)


async def test_seqs_continue_from_the_stored_one_and_are_replayed_in_order(convo):
    log = new_log()
    cid = str(convo.pk)
    stamped = [await log.append(cid, {"type": "assistant.delta", "delta": f"w{i} ünï"}) for i in range(5)]
    assert [e["seq"] for e in stamped] == [31, 32, 33, 34, 35]
    assert stamped[0] == {"type": "assistant.delta", "delta": "w0 ünï", "conversation_id": cid, "seq": 31}
    assert await log.since(cid, 32) == stamped[2:]
    assert await log.since(cid, 35) == []
    assert await log.last_seq(cid) == 35
    assert await new_log().since(cid, 30) == stamped  # another process sees the same log


async def test_a_client_ahead_of_the_log_or_behind_what_is_kept_must_resynchronise(convo):
    log = new_log(limit=3)
    cid = str(convo.pk)
    for i in range(5):
        await log.append(cid, {"type": "assistant.delta", "delta": str(i)})
    assert await log.since(cid, 99) is None  # seqs this log never issued
    assert await log.since(cid, 31) is None  # 32 and 33 fell out of the capped list
    assert [e["delta"] for e in await log.since(cid, 32)] == ["2", "3", "4"]


async def test_processes_appending_at_once_get_distinct_seqs_stored_in_order(convo):
    cid = str(convo.pk)
    logs = [new_log(limit=1000) for _ in range(4)]
    stamped = await asyncio.gather(*(logs[i % 4].append(cid, {"type": "tool.call", "n": i})
                                     for i in range(200)))
    assert sorted(e["seq"] for e in stamped) == list(range(31, 231))
    replayed = await logs[0].since(cid, 30)
    assert [e["seq"] for e in replayed] == list(range(31, 231))
    assert sorted(replayed, key=lambda e: e["n"]) == sorted(stamped, key=lambda e: e["n"])


async def test_the_log_expires_with_the_conversation_idle_and_restarts_from_the_database(convo):
    log = new_log(ttl=120)
    cid = str(convo.pk)
    await log.append(cid, {"type": "run.finished"})
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    assert all(0 < client.ttl(key) <= 120 for key in keys(convo))
    client.delete(*keys(convo))  # as if expired; the run's end stored seq 31
    await Conversation.objects.filter(pk=convo.pk).aupdate(last_seq=31)
    assert await log.last_seq(cid) == 31
    assert (await log.append(cid, {"type": "message.created"}))["seq"] == 32


async def test_a_counter_lost_mid_run_jumps_ahead_so_clients_resynchronise(convo, user):
    log = new_log()
    cid = str(convo.pk)
    await Run.objects.acreate(conversation=convo, user=user, profile="demo", max_steps=8)
    for _ in range(3):
        await log.append(cid, {"type": "assistant.delta", "delta": "x"})  # seqs 31-33 seen by a client
    redis.Redis.from_url(os.environ["REDIS_URL"]).delete(*keys(convo))  # Redis restarted, data lost
    event = await log.append(cid, {"type": "assistant.delta", "delta": "y"})
    assert event["seq"] == 30 + RESTART_GAP + 1  # past every seq the lost counter may have issued
    assert await log.since(cid, 33) is None  # the client that saw 33 is told to resynchronise


async def test_the_first_event_of_a_new_run_needs_no_jump(convo, user):
    await Run.objects.acreate(conversation=convo, user=user, profile="demo", max_steps=8)
    event = await new_log().append(str(convo.pk), {"type": "message.created"})
    assert event["seq"] == 31


def test_the_log_works_from_any_event_loop(convo):
    """Celery tasks and sync callers each run their coroutines on a loop of their own."""
    log = new_log()
    cid = str(convo.pk)
    seqs: list[int] = []

    def publish() -> None:
        seqs.append(async_to_sync(log.append)(cid, {"type": "tool.call"})["seq"])

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    publish()
    assert sorted(seqs) == [31, 32, 33, 34, 35]


async def test_a_burst_of_appends_beyond_the_connection_pool_waits_instead_of_failing(convo):
    log = RedisEventLog(os.environ["REDIS_URL"], limit=1000, ttl=600, connections=5)
    stamped = await asyncio.gather(*(log.append(str(convo.pk), {"type": "tool.call"}) for _ in range(50)))
    assert sorted(e["seq"] for e in stamped) == list(range(31, 81))
