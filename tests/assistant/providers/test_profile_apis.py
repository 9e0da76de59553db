"""Profile fields of issue 16: which OpenAI API (``api``), how JSON is asked for
(``structured_output``) and Responses chaining (``previous_response_id``)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from assistant.providers.base import ChatMessage, ChatRequest, ProviderError
from assistant.providers.openai_chat import OpenAIChatProvider
from assistant.providers.openai_responses import OpenAIResponsesProvider
from assistant.providers.profiles import PLACEHOLDER_KEY, build_provider, default_profile, get_profile
from tests.assistant.providers.support import collect, text_of
from tests.fakes.scripts import error, text


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, settings):
    monkeypatch.setenv("MY_LLM_KEY", "sk-test-key")
    for name in ("LLM_PROVIDER", "LLM_MODEL", "LLM_BASE_URL", "LLM_API", "LLM_STRUCTURED_OUTPUT"):
        setattr(settings, name, None)
    settings.LLM_API_KEY_ENV = "MY_LLM_KEY"
    settings.LLM_PREVIOUS_RESPONSE_ID = False
    settings.LLM_PROFILES = None


def profiles(settings, **specs):
    settings.LLM_PROFILES = json.dumps(specs)


def test_llm_api_responses_selects_the_responses_adapter(settings):
    settings.LLM_PROVIDER, settings.LLM_API = "openai", "responses"
    profile = default_profile()
    assert profile.api == "responses"
    provider = build_provider(profile)
    assert isinstance(provider, OpenAIResponsesProvider) and provider.chain is False


def test_chat_completions_stay_the_default(settings):
    settings.LLM_PROVIDER = "openai"
    assert default_profile().api == "chat"
    assert isinstance(build_provider(default_profile()), OpenAIChatProvider)


def test_a_profile_field_selects_the_api_and_chaining(settings):
    profiles(settings, reasoner={"provider": "openai", "api": "responses", "previous_response_id": True,
                                 "api_key_env": "MY_LLM_KEY"})
    provider = build_provider(get_profile("reasoner"))
    assert isinstance(provider, OpenAIResponsesProvider) and provider.chain is True


def test_llm_previous_response_id_turns_chaining_on_for_the_main_profile(settings):
    settings.LLM_PROVIDER, settings.LLM_API, settings.LLM_PREVIOUS_RESPONSE_ID = "openai", "responses", True
    assert build_provider(default_profile()).chain is True


@pytest.mark.parametrize(("provider", "expected"), [("openai", "json_schema"), ("anthropic", "tool"),
                                                    ("openai_compatible", "json_schema")])
def test_each_provider_has_a_default_way_to_ask_for_json(settings, provider, expected):
    profiles(settings, p={"provider": provider, "model": "m", "base_url": "http://localhost:1/v1",
                          "api_key_env": "MY_LLM_KEY"})
    assert get_profile("p").structured_mode() == expected


def test_a_compatible_server_says_what_it_supports(settings):
    settings.LLM_PROVIDER, settings.LLM_MODEL = "openai_compatible", "llama"
    settings.LLM_BASE_URL, settings.LLM_STRUCTURED_OUTPUT = "http://localhost:11434/v1", "json_object"
    assert default_profile().structured_mode() == "json_object"


@pytest.mark.parametrize(("spec", "message"), [
    ({"provider": "openai", "api": "assistants"},
     "LLM_PROFILES['p'].api must be one of chat, responses; got 'assistants'"),
    ({"provider": "anthropic", "api": "responses"},
     "LLM_PROFILES['p'].api=responses needs the openai or openai_compatible provider "
     "(this profile is anthropic)"),
    ({"provider": "openai", "structured_output": "xml"},
     "LLM_PROFILES['p'].structured_output must be one of json_schema, json_object, tool, prompt; got 'xml'"),
    ({"provider": "anthropic", "structured_output": "json_schema"},
     "LLM_PROFILES['p'].structured_output=json_schema is not available with Anthropic; use tool or prompt"),
    ({"provider": "openai", "previous_response_id": "yes"},
     "LLM_PROFILES['p'].previous_response_id must be true or false"),
])
def test_bad_values_stop_with_the_setting_named(settings, spec, message):
    profiles(settings, p=spec)
    with pytest.raises(ImproperlyConfigured) as caught:
        get_profile("p")
    assert str(caught.value) == message


def test_the_main_profile_names_llm_api_in_its_error(settings):
    settings.LLM_PROVIDER, settings.LLM_API = "anthropic", "responses"
    with pytest.raises(ImproperlyConfigured) as caught:
        default_profile()
    assert str(caught.value) == ("LLM_API=responses needs the openai or openai_compatible provider "
                                 "(this profile is anthropic)")


def test_a_compatible_profile_can_speak_the_responses_api(settings):
    settings.LLM_PROVIDER, settings.LLM_MODEL, settings.LLM_API = "openai_compatible", "llama", "responses"
    settings.LLM_BASE_URL, settings.LLM_API_KEY_ENV = "http://localhost:8000/v1", None
    provider = build_provider(default_profile())
    assert isinstance(provider, OpenAIResponsesProvider) and provider.chain is False
    assert (provider.name, provider.label) == ("openai_compatible", "the model server at localhost:8000")


async def test_a_compatible_responses_profile_streams_from_the_servers_responses_endpoint(settings, fake_llm):
    profiles(settings, local={"provider": "openai_compatible", "api": "responses", "model": "qwen3",
                              "base_url": fake_llm.openai_base_url})
    fake_llm.script_responses(text("Hello from a local server", chunks=2))
    events = await collect(build_provider(get_profile("local")),
                           ChatRequest(model="", messages=[ChatMessage("user", "Hi")]))
    assert text_of(events) == "Hello from a local server"
    [request] = fake_llm.requests
    assert request.path == "/v1/responses" and request.body["model"] == "qwen3"
    assert request.headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"  # no key of ours is sent


async def test_a_compatible_responses_servers_error_names_the_server_not_openai(settings, fake_llm):
    profiles(settings, local={"provider": "openai_compatible", "api": "responses", "model": "qwen3",
                              "base_url": fake_llm.openai_base_url})
    fake_llm.script_responses(error(404, "model 'qwen3' not found"))
    provider = build_provider(get_profile("local"))
    with pytest.raises(ProviderError) as caught:
        await collect(provider, ChatRequest(model="", messages=[ChatMessage("user", "Hi")]))
    host = fake_llm.openai_base_url.split("//")[1].split("/")[0]
    assert str(caught.value) == (f"The model server at {host} rejected the request (HTTP 404): "
                                 "model 'qwen3' not found")
    assert caught.value.provider == "openai_compatible"
