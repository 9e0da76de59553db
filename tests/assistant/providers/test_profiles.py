"""Model profiles from settings and the environment, and the providers built from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from assistant.providers.anthropic_messages import AnthropicProvider
from assistant.providers.base import ChatMessage, ChatRequest, ProviderError
from assistant.providers.demo import DemoProvider
from assistant.providers.openai_chat import OpenAIChatProvider
from assistant.providers.profiles import (
    Profile,
    UnknownProfile,
    build_provider,
    default_profile,
    get_profile,
    get_profiles,
    provider_for,
)
from tests.assistant.providers.support import collect, text_of
from tests.fakes.scripts import error, text

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, settings):
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
                 "ANTHROPIC_AUTH_TOKEN", "MY_LLM_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings.LLM_PROVIDER = None
    settings.LLM_MODEL = None
    settings.LLM_BASE_URL = None
    settings.LLM_API_KEY_ENV = None
    settings.LLM_MAX_RETRIES = 2
    settings.LLM_TIMEOUT = 60.0
    settings.LLM_PROFILES = None


def ask() -> ChatRequest:
    return ChatRequest(model="", messages=[ChatMessage("user", "hi")])


# --- choosing the default -------------------------------------------------------------------


def test_with_no_keys_and_no_provider_the_default_is_the_offline_demo():
    profile = default_profile()

    assert (profile.name, profile.provider, profile.model) == ("demo", "demo", "demo")
    assert list(get_profiles()) == ["demo"]
    assert isinstance(build_provider(profile), DemoProvider)


def test_an_openai_key_makes_openai_the_default(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")  # openai wins when both are set

    profile = default_profile()

    assert (profile.name, profile.provider, profile.model) == ("default", "openai", "gpt-5.4-mini")
    assert profile.api_key_env == "OPENAI_API_KEY"
    assert profile.label == "OpenAI · gpt-5.4-mini"
    assert list(get_profiles()) == ["default", "demo"]


def test_an_anthropic_key_alone_makes_anthropic_the_default(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")

    profile = default_profile()

    assert (profile.provider, profile.model, profile.api_key_env) == (
        "anthropic", "claude-sonnet-5-5", "ANTHROPIC_API_KEY")


def test_llm_provider_wins_over_the_keys_present(monkeypatch, settings):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    settings.LLM_PROVIDER = "Anthropic"
    settings.LLM_MODEL = "claude-opus-test"

    assert (default_profile().provider, default_profile().model) == ("anthropic", "claude-opus-test")

    settings.LLM_PROVIDER = "demo"
    assert default_profile().name == "demo"


def test_retries_and_timeout_come_from_settings(settings):
    settings.LLM_PROVIDER = "openai"
    settings.LLM_MAX_RETRIES = 5
    settings.LLM_TIMEOUT = 12.5

    profile = default_profile()

    assert (profile.max_retries, profile.timeout) == (5, 12.5)


def test_get_profile_finds_by_name_and_rejects_unknown_names(settings):
    settings.LLM_PROVIDER = "openai"

    assert get_profile(None) == get_profile("default")
    assert get_profile("demo").provider == "demo"
    with pytest.raises(UnknownProfile) as caught:
        get_profile("gpt5")
    assert isinstance(caught.value, ProviderError) and isinstance(caught.value, LookupError)
    assert caught.value.user_message == (
        "There is no model profile named 'gpt5' (configured: default, demo); choose another model."
    )


def test_a_profile_is_safe_to_show_it_names_the_key_variable_not_the_key(monkeypatch, settings):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-value")
    settings.LLM_PROVIDER = "openai"

    shown = json.dumps(default_profile().public())

    assert "OPENAI_API_KEY" in shown
    assert "sk-very-secret-value" not in shown


# --- bad values fail loudly -------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"LLM_PROVIDER": "gpt"},
     "LLM_PROVIDER must be one of openai, anthropic, openai_compatible, demo; got 'gpt'"),
    ({"LLM_PROVIDER": "openai_compatible", "LLM_MODEL": "llama3"},
     "LLM_BASE_URL is required for the openai_compatible provider"),
    ({"LLM_PROVIDER": "openai_compatible", "LLM_BASE_URL": "http://localhost:11434/v1"},
     "LLM_MODEL is required for the openai_compatible provider"),
    ({"LLM_PROVIDER": "openai", "LLM_BASE_URL": "localhost:11434"},
     "LLM_BASE_URL must be an http(s) URL, got 'localhost:11434'"),
    ({"LLM_PROVIDER": "openai", "LLM_MAX_RETRIES": -1}, "LLM_MAX_RETRIES must be an integer >= 0"),
    ({"LLM_PROVIDER": "openai", "LLM_TIMEOUT": 0}, "LLM_TIMEOUT must be a number of seconds > 0"),
])
def test_bad_settings_fail_loudly_naming_the_variable(settings, overrides, message):
    for name, value in overrides.items():
        setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured) as caught:
        get_profiles()

    assert message in str(caught.value)


def test_a_key_pasted_into_llm_api_key_env_is_rejected_without_being_echoed(settings):
    settings.LLM_PROVIDER = "openai"
    settings.LLM_API_KEY_ENV = "sk-proj-abc123-very-secret"

    with pytest.raises(ImproperlyConfigured) as caught:
        default_profile()

    assert "LLM_API_KEY_ENV must be the NAME of an environment variable" in str(caught.value)
    assert "very-secret" not in str(caught.value)


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("LLM_MAX_RETRIES", "lots", "LLM_MAX_RETRIES must be an integer, got 'lots'"),
    ("LLM_MAX_RETRIES", "-2", "LLM_MAX_RETRIES must be >= 0, got -2"),
    ("LLM_TIMEOUT", "soon", "LLM_TIMEOUT must be a number, got 'soon'"),
])
def test_bad_environment_values_stop_the_settings_from_loading(tmp_path, variable, value, message):
    env = {**os.environ, "DJANGO_DEBUG": "true", "SECRET_KEY": "x" * 50,
           "TOOLGATE_VAR_DIR": str(tmp_path), variable: value}

    result = subprocess.run([sys.executable, "-c", "import assistant.settings"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert message in result.stderr


# --- extra profiles ---------------------------------------------------------------------------


def test_extra_profiles_come_from_llm_profiles_json(settings):
    settings.LLM_PROVIDER = "openai"
    settings.LLM_MAX_RETRIES = 4
    settings.LLM_PROFILES = json.dumps({
        "local": {"provider": "openai_compatible", "model": "llama3.1",
                  "base_url": "http://localhost:11434/v1", "label": "Llama on this box", "timeout": 300},
        "claude": {"provider": "anthropic", "api_key_env": "WORK_ANTHROPIC_KEY", "max_retries": 0},
    })

    profiles = get_profiles()

    assert list(profiles) == ["default", "local", "claude", "demo"]
    assert profiles["local"] == Profile("local", "openai_compatible", "llama3.1", "http://localhost:11434/v1",
                                        None, "Llama on this box", 4, 300.0)
    assert profiles["claude"] == Profile("claude", "anthropic", "claude-sonnet-5-5", None,
                                         "WORK_ANTHROPIC_KEY", "Anthropic · claude-sonnet-5-5", 0, 60.0)


@pytest.mark.parametrize(("raw", "message"), [
    ("{not json", "LLM_PROFILES must be a JSON object"),
    ('["a"]', "LLM_PROFILES must be a JSON object of name -> profile"),
    ('{"demo": {"provider": "openai"}}', "LLM_PROFILES['demo']: the name 'demo' is reserved"),
    ('{"a b": {"provider": "openai"}}', "LLM_PROFILES['a b']: a profile name must be"),
    ('{"x": {"provider": "openai", "key": "sk-1"}}', "LLM_PROFILES['x']: unknown key(s) key"),
    ('{"x": {"provider": "gemini"}}', "LLM_PROFILES['x'].provider must be one of"),
    ('{"x": {"provider": "openai", "max_retries": "3"}}', "LLM_PROFILES['x'].max_retries must be an integer"),
    ('{"x": {"provider": "openai_compatible", "model": "m"}}', "LLM_PROFILES['x'].base_url is required"),
    ('{"x": {"provider": "openai", "api_key_env": "sk-123456"}}',
     "LLM_PROFILES['x'].api_key_env must be the NAME"),
])
def test_bad_extra_profiles_fail_loudly_naming_the_profile(settings, raw, message):
    settings.LLM_PROFILES = raw

    with pytest.raises(ImproperlyConfigured) as caught:
        get_profiles()

    assert message in str(caught.value)


# --- building providers -----------------------------------------------------------------------


def test_openai_without_its_key_fails_with_a_message_naming_the_variable(settings):
    settings.LLM_PROVIDER = "openai"

    with pytest.raises(ProviderError) as caught:
        build_provider(default_profile())

    assert caught.value.kind == "authentication"
    assert caught.value.user_message == (
        "The OpenAI · gpt-5.4-mini model is not configured with an API key: set the OPENAI_API_KEY "
        "environment variable on the server."
    )


def test_providers_are_built_for_each_kind(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-x")

    openai_provider = build_provider(Profile("a", "openai", "gpt-x", api_key_env="OPENAI_API_KEY",
                                             max_retries=3))
    anthropic_provider = build_provider(Profile("b", "anthropic", "claude-x",
                                                api_key_env="ANTHROPIC_API_KEY"))

    assert isinstance(openai_provider, OpenAIChatProvider)
    # One layer owns retries: the engine (profile.max_retries), never the SDK as well.
    assert openai_provider.client.max_retries == 0 and anthropic_provider.client.max_retries == 0
    assert openai_provider.max_tokens_param == "max_completion_tokens"
    assert isinstance(anthropic_provider, AnthropicProvider)
    assert anthropic_provider.model == "claude-x"


async def test_openai_base_url_from_the_environment_is_honoured(fake_llm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.openai_base_url)
    fake_llm.script_openai(text("routed by OPENAI_BASE_URL"))

    provider = build_provider(default_profile())
    events = await collect(provider, ask())
    await provider.aclose()

    assert text_of(events) == "routed by OPENAI_BASE_URL"
    assert fake_llm.last_request.path == "/v1/chat/completions"
    assert fake_llm.last_request.headers["authorization"] == "Bearer sk-from-env"
    assert fake_llm.last_body["model"] == "gpt-5.4-mini"


async def test_anthropic_base_url_from_the_environment_is_honoured(fake_llm, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_llm.anthropic_base_url)
    fake_llm.script_anthropic(text("routed by ANTHROPIC_BASE_URL"))

    provider = build_provider(default_profile())
    events = await collect(provider, ask())
    await provider.aclose()

    assert text_of(events) == "routed by ANTHROPIC_BASE_URL"
    assert fake_llm.last_request.path == "/v1/messages"


async def test_a_profile_base_url_and_key_variable_are_used(fake_llm, monkeypatch, settings):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/never-used")
    monkeypatch.setenv("MY_LLM_KEY", "sk-mine")
    settings.LLM_PROVIDER = "openai"
    settings.LLM_BASE_URL = fake_llm.openai_base_url
    settings.LLM_API_KEY_ENV = "MY_LLM_KEY"
    settings.LLM_MAX_RETRIES = 0
    fake_llm.script_openai(error(500))

    provider = build_provider(default_profile())
    with pytest.raises(ProviderError) as caught:
        await collect(provider, ask())
    await provider.aclose()

    assert caught.value.kind == "server_error"
    assert len(fake_llm.requests) == 1  # LLM_MAX_RETRIES=0: no retry
    assert fake_llm.last_request.headers["authorization"] == "Bearer sk-mine"


async def test_provider_for_reuses_one_adapter_per_profile_in_a_loop(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    profile = Profile("a", "openai", "gpt-x", api_key_env="OPENAI_API_KEY")

    first = provider_for(profile)

    assert provider_for(profile) is first
    monkeypatch.setenv("OPENAI_API_KEY", "sk-rotated")
    assert provider_for(profile) is not first
