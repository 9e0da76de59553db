"""The engine forwards tool-call arguments as they stream (issue 16), coalesced.

Through the real OpenAI and Anthropic SDKs against the fake server: a long argument sent
in thousands of fragments reaches ``emit`` as a handful of ``tool.call.delta`` events that
add up to exactly the arguments, before the complete ``tool.call``.
"""

from __future__ import annotations

import json
import math
import time

import pytest

from assistant.transcript.argstream import INTERVAL_SECONDS, MAX_CHARS
from tests.assistant.runs.engine_helpers import (
    Calls,
    Recorder,
    make_engine,
    new_conversation,
    use_fake_profiles,
)
from tests.fakes.scripts import call, text, tool_calls

pytestmark = pytest.mark.django_db(transaction=True)

FRAGMENTS = 3000


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    return fake_llm


@pytest.mark.parametrize("profile", ["fake-openai", "fake-anthropic"])
async def test_a_long_argument_in_thousands_of_fragments_reaches_the_browser_in_a_few_frames(
        fake, user, profile):
    arguments = {"a": 1, "b": 2, "note": "lorem ipsum " * 2500}  # ~30 kB
    fake.script(tool_calls(call("add", arguments, id="long1", fragments=FRAGMENTS)), text("done"))
    events = Recorder()
    convo = await new_conversation(user, profile)
    started = time.monotonic()
    await make_engine(Calls(), emit=events).send(convo, user, "add with a long note")
    elapsed = time.monotonic() - started

    frames = [e for e in events.of("tool.call.delta") if e["tool_call"]["id"] == "long1"]
    streamed = "".join(f["delta"] for f in frames)
    assert json.loads(streamed) == arguments
    offsets = [f["offset"] for f in frames]
    assert offsets == [sum(len(f["delta"]) for f in frames[:i]) for i in range(len(frames))]
    # One at the start, one per MAX_CHARS, one per interval that passed, one at the end:
    # however slow the machine, never one per fragment.
    bound = 3 + math.ceil(len(streamed) / MAX_CHARS) + math.ceil(elapsed / INTERVAL_SECONDS)
    assert len(frames) <= bound, (len(frames), bound)
    assert len(frames) < FRAGMENTS / 5
    kinds = events.types()
    assert kinds.index("tool.call.delta") < kinds.index("tool.call")
    complete = events.of("tool.call")[0]["tool_call"]
    assert json.loads(complete["arguments"]) == arguments  # the logged event: the whole arguments


async def test_a_short_call_shows_its_card_before_the_arguments_are_complete(fake, user):
    fake.script_openai(tool_calls(call("add", {"a": 2, "b": 3}, id="c1", fragments=3)), text("5"))
    events = Recorder()
    await make_engine(Calls(), emit=events).send(await new_conversation(user), user, "add")
    frames = events.of("tool.call.delta")
    assert frames[0] == {"type": "tool.call.delta", "tool_call": {"id": "c1", "name": "add", "index": 0},
                         "offset": 0, "delta": ""}
    assert json.loads("".join(f["delta"] for f in frames)) == {"a": 2, "b": 3}
