"""Large catalogs: each model turn is offered a relevant subset, search_tools finds others,
and the offer is stored with the turn and shown in the timeline (real SDK, fake server)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from assistant.models import Message, Run
from assistant.runs.engine import Engine
from assistant.transcript.timeline import build_timeline
from tests.assistant.runs.engine_helpers import new_conversation, use_fake_profiles
from tests.fakes.scripts import call, text, tool_calls
from tests.tools.corpus_helpers import definitions
from tools.pipeline import Pipeline
from tools.registry import Registry
from tools.selection import search_tool

pytestmark = pytest.mark.django_db(transaction=True)


def _catalog(size: int) -> Registry:
    registry = Registry()
    every = definitions()  # BFCL's functions, then the GitHub MCP server's 117 tools
    for _, definition in every[:size] if size < 200 else every[:size - 117] + every[-117:]:
        registry.register_definition(definition, lambda **kw: {"ok": True})

    @registry.tool(permission="auth.view_permission")
    def get_secret_weather_station(city: str) -> str:
        """Read the secret weather station of a city (only some users may use it).

        Args:
            city: The city.
        """
        return city

    registry.register(search_tool(registry))
    return registry


@pytest.fixture
def fake(fake_llm, settings, monkeypatch):
    use_fake_profiles(settings, monkeypatch, fake_llm)
    settings.TOOLS_SELECTION_THRESHOLD = 40
    settings.TOOLS_SELECTION_K = 6
    return fake_llm


def _offered(body) -> list[str]:
    return [t["function"]["name"] for t in body["tools"]]


async def test_a_large_catalog_is_offered_a_relevant_subset_and_search_tools(fake, user):
    registry = _catalog(300)
    fake.script_openai(text("It is sunny."))
    convo = await new_conversation(user, "fake-openai")
    question = "what is the weather in Boston, in fahrenheit?"
    run = await Engine(pipeline=Pipeline(registry)).send(convo, user, question)
    assert run.status == Run.Status.COMPLETED
    (body,) = fake.bodies()
    names = _offered(body)
    assert 2 <= len(names) <= 7 and names[-1] == "search_tools"  # k matches at most, never padded
    assert any("weather" in name for name in names)
    assert "get_secret_weather_station" not in names  # never offered to a user who may not use it
    message = await Message.objects.aget(conversation=convo, role=Message.Role.ASSISTANT)
    assert message.offered_tools == {"selected": True, "available": 300, "names": names}


async def test_tools_found_by_search_tools_are_offered_on_the_following_turns(fake, user):
    registry = _catalog(300)
    wanted = "create_pull_request"
    fake.script_openai(tool_calls(call("search_tools", {"query": "open a pull request on github"}, id="c1")),
                       tool_calls(call(wanted, {"owner": "o", "repo": "r", "title": "t", "head": "h",
                                                "base": "main"}, id="c2")),
                       text("Done."))
    convo = await new_conversation(user, "fake-openai")
    run = await Engine(pipeline=Pipeline(registry)).send(convo, user, "compute the area of a triangle")
    assert run.status == Run.Status.COMPLETED, run.error
    first, second, third = fake.bodies()
    assert wanted not in _offered(first)
    assert wanted in _offered(second) and wanted in _offered(third)
    found = next(m for m in second["messages"] if m["role"] == "tool")["content"]
    assert wanted in found and "get_secret_weather_station" not in found
    entries = await sync_to_async(build_timeline)(convo)
    offers = [e.offered for e in entries if e.kind == "assistant"]
    assert all(o is not None and o["available"] == 300 for o in offers)
    assert wanted in offers[1]["names"]


async def test_a_small_catalog_is_offered_whole_without_search_tools(fake, user):
    registry = _catalog(20)
    fake.script_openai(text("Hi."))
    convo = await new_conversation(user, "fake-openai")
    await Engine(pipeline=Pipeline(registry)).send(convo, user, "hello")
    names = _offered(fake.bodies()[0])
    assert len(names) == 20 and "search_tools" not in names
    message = await Message.objects.aget(conversation=convo, role=Message.Role.ASSISTANT)
    assert message.offered_tools["selected"] is False
    entries = await sync_to_async(build_timeline)(convo)
    assert [e.offered for e in entries if e.kind == "assistant"] == [None]  # nothing to disclose
