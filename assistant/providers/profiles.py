"""Model profiles: which provider, model, endpoint and key a conversation uses.

Configured entirely from the environment (through settings, read at call time): one main
profile from ``LLM_PROVIDER``/``LLM_MODEL``/``LLM_BASE_URL``/``LLM_API_KEY_ENV``, optional
extra ones in ``LLM_PROFILES`` (JSON), and an offline ``demo`` profile that always exists,
so a fresh install works with no key at all. A profile names the *environment variable*
that holds its key, never the key, so profiles can be listed, logged and shown safely.

A profile without a base URL passes none to the SDK, which then honours
``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL`` itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import weakref
from dataclasses import asdict, dataclass, replace
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from assistant.providers.base import Provider, ProviderError
from assistant.providers.errors import host_of

PROVIDERS = ("openai", "anthropic", "openai_compatible", "demo")
DEFAULT_MODELS = {"openai": "gpt-5.4-mini", "anthropic": "claude-sonnet-5-5", "demo": "demo"}
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# Local servers (Ollama, llama.cpp, LM Studio) ignore the key, but the SDK requires one.
PLACEHOLDER_KEY = "not-needed"
DEFAULT_NAME = "default"
DEMO_NAME = "demo"

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PROFILE_KEYS = {"provider", "model", "base_url", "api_key_env", "label", "max_retries", "timeout",
                 "fallbacks", "context_tokens"}
# Issue 16: which OpenAI API a profile speaks, and how its server is asked for JSON.
_API_KEYS = {"api", "structured_output", "previous_response_id"}
_PROFILE_KEYS |= _API_KEYS
APIS = ("chat", "responses")
# Servers that imitate OpenAI may serve /v1/responses too (vLLM, Ollama, LM Studio do).
RESPONSES_PROVIDERS = ("openai", "openai_compatible")
STRUCTURED_OUTPUT = ("json_schema", "json_object", "tool", "prompt")


class UnknownProfile(ProviderError, LookupError):
    """A profile name that is not configured (e.g. kept by a conversation from before).

    A :class:`ProviderError` (kind ``"other"``), so a run loop that already reports
    provider failures to the user reports this one too.
    """

    def __init__(self, name: str, configured: list[str]) -> None:
        super().__init__(
            "other",
            f"There is no model profile named {name!r} (configured: {', '.join(configured)}); "
            "choose another model.",
        )
        self.name = name


@dataclass(frozen=True)
class Profile:
    name: str
    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    label: str = ""
    max_retries: int = 4  # the engine's retries per model turn (the SDK's own are off)
    timeout: float = 60.0
    api: str = "chat"  # openai(_compatible): "chat" (Chat Completions) or "responses" (Responses API)
    # How extraction asks for JSON (assistant/extraction), see docs/providers.md; "" = the
    # provider's default (structured_mode()).
    structured_output: str = ""
    previous_response_id: bool = False  # Responses: chain turns (store=true) instead of resending
    # Profiles tried in order when this one stays unavailable after its retries.
    fallbacks: tuple[str, ...] = ()
    # Tokens of history this profile's model is sent at most (older turns are dropped).
    context_tokens: int = 100_000

    def structured_mode(self) -> str:
        """``json_schema``, ``json_object``, ``tool`` or ``prompt``: Anthropic's default is a
        forced tool call, everyone else's a JSON Schema response format."""
        return self.structured_output or ("tool" if self.provider == "anthropic" else "json_schema")

    def api_key(self) -> str | None:
        """The key from the environment variable this profile names, if it is set."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env, "").strip()
        return value or None

    def public(self) -> dict[str, Any]:
        """Safe to show or log: names the key's variable, never the key."""
        return asdict(self)


# --- reading the configuration ------------------------------------------------------------


def get_profiles() -> dict[str, Profile]:
    """Every configured profile by name: the main one first, ``demo`` last."""
    main = _main_profile()
    profiles: dict[str, Profile] = {} if main.provider == "demo" else {main.name: main}
    profiles.update(_extra_profiles())
    profiles[DEMO_NAME] = demo_profile()
    for profile in profiles.values():
        where = ("LLM_FALLBACKS" if profile.name == DEFAULT_NAME
                 else f"LLM_PROFILES[{profile.name!r}].fallbacks")
        for name in profile.fallbacks:
            if name == profile.name:
                raise ImproperlyConfigured(f"{where}: a profile cannot be its own fallback")
            if name not in profiles:
                raise ImproperlyConfigured(
                    f"{where}: there is no profile named {name!r} (configured: {', '.join(profiles)})")
    return profiles


def chain(name: str) -> list[Profile]:
    """``name``'s profile, then its fallbacks in order (each once)."""
    profiles = get_profiles()
    if name not in profiles:
        raise UnknownProfile(name, list(profiles))
    first = profiles[name]
    seen, out = {first.name}, [first]
    for fallback in first.fallbacks:
        if fallback not in seen:
            seen.add(fallback)
            out.append(profiles[fallback])
    return out


def get_profile(name: str | None = None) -> Profile:
    """The named profile (``None`` = the default); raises :class:`UnknownProfile`."""
    if name is None:
        return default_profile()
    profiles = get_profiles()
    if name not in profiles:
        raise UnknownProfile(name, list(profiles))
    return profiles[name]


def default_profile() -> Profile:
    """``LLM_PROVIDER`` if set, else openai / anthropic when their key is set, else demo."""
    main = _main_profile()
    return demo_profile() if main.provider == "demo" else main


def demo_profile() -> Profile:
    return Profile(DEMO_NAME, "demo", "demo", label="Demo (offline rules, not an LLM)",
                   max_retries=0, timeout=_timeout())


def _main_profile() -> Profile:
    provider = _setting("LLM_PROVIDER")
    if provider is None:
        if os.environ.get("OPENAI_API_KEY", "").strip():
            provider = "openai"
        elif os.environ.get("ANTHROPIC_API_KEY", "").strip():
            provider = "anthropic"
        else:
            provider = "demo"
    provider = provider.lower()
    if provider not in PROVIDERS:
        raise ImproperlyConfigured(
            f"LLM_PROVIDER must be one of {', '.join(PROVIDERS)}; got {provider!r}"
        )
    return _with_api_options(_profile(
        DEFAULT_NAME, provider, where="LLM_", model=_setting("LLM_MODEL"),
        base_url=_setting("LLM_BASE_URL"), api_key_env=_setting("LLM_API_KEY_ENV"),
        label=None, max_retries=_retries(), timeout=_timeout(),
        fallbacks=_fallbacks(_setting("LLM_FALLBACKS"), "LLM_FALLBACKS"), context_tokens=_context_tokens(),
    ), {"api": _setting("LLM_API"), "structured_output": _setting("LLM_STRUCTURED_OUTPUT"),
        "previous_response_id": getattr(settings, "LLM_PREVIOUS_RESPONSE_ID", False)}, "LLM_")


def _extra_profiles() -> dict[str, Profile]:
    raw = _setting("LLM_PROFILES")
    if raw is None:
        return {}
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ImproperlyConfigured(f"LLM_PROFILES must be a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise ImproperlyConfigured(
            'LLM_PROFILES must be a JSON object of name -> profile, e.g. '
            '{"local": {"provider": "openai_compatible", "model": "llama3.1", '
            '"base_url": "http://localhost:11434/v1"}}'
        )
    profiles: dict[str, Profile] = {}
    for name, spec in data.items():
        where = f"LLM_PROFILES[{name!r}]"
        if not isinstance(name, str) or not _PROFILE_NAME.match(name):
            raise ImproperlyConfigured(
                f"{where}: a profile name must be 1-64 letters, digits, '_', '.' or '-'"
            )
        if name in (DEFAULT_NAME, DEMO_NAME):
            raise ImproperlyConfigured(f"{where}: the name {name!r} is reserved; choose another")
        if not isinstance(spec, dict):
            raise ImproperlyConfigured(f"{where} must be an object with at least a 'provider'")
        unknown = sorted(set(spec) - _PROFILE_KEYS)
        if unknown:
            raise ImproperlyConfigured(
                f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_PROFILE_KEYS))}"
            )
        provider = spec.get("provider")
        if provider not in PROVIDERS:
            raise ImproperlyConfigured(
                f"{where}.provider must be one of {', '.join(PROVIDERS)}; got {provider!r}"
            )
        profiles[name] = _profile(
            name, provider, where=where, model=spec.get("model"), base_url=spec.get("base_url"),
            api_key_env=spec.get("api_key_env"), label=spec.get("label"),
            max_retries=_number(spec, "max_retries", where, _retries(), integer=True),
            timeout=_number(spec, "timeout", where, _timeout(), integer=False),
            fallbacks=_fallbacks(spec.get("fallbacks"), f"{where}.fallbacks"),
            context_tokens=_number(spec, "context_tokens", where, _context_tokens(), integer=True),
        )
        profiles[name] = _with_api_options(profiles[name], spec, where)
    return profiles


def _with_api_options(profile: Profile, spec: dict[str, Any], where: str) -> Profile:
    """``api``, ``structured_output`` and ``previous_response_id``, checked against the provider."""

    def setting(key: str) -> str:
        return f"LLM_{key.upper()}" if where == "LLM_" else f"{where}.{key}"

    api = spec.get("api") or "chat"
    if api not in APIS:
        raise ImproperlyConfigured(f"{setting('api')} must be one of {', '.join(APIS)}; got {api!r}")
    if api == "responses" and profile.provider not in RESPONSES_PROVIDERS:
        raise ImproperlyConfigured(
            f"{setting('api')}=responses needs the openai or openai_compatible provider "
            f"(this profile is {profile.provider})")
    chain = spec.get("previous_response_id") or False
    if not isinstance(chain, bool):
        raise ImproperlyConfigured(f"{setting('previous_response_id')} must be true or false")
    mode = spec.get("structured_output") or ""
    if mode and mode not in STRUCTURED_OUTPUT:
        raise ImproperlyConfigured(
            f"{setting('structured_output')} must be one of {', '.join(STRUCTURED_OUTPUT)}; got {mode!r}")
    if profile.provider == "anthropic" and mode in ("json_schema", "json_object"):
        raise ImproperlyConfigured(
            f"{setting('structured_output')}={mode} is not available with Anthropic; use tool or prompt")
    return replace(profile, api=api, structured_output=mode, previous_response_id=chain)


def _profile(name: str, provider: str, *, where: str, model: Any, base_url: Any, api_key_env: Any,
             label: Any, max_retries: int, timeout: float, fallbacks: tuple[str, ...] = (),
             context_tokens: int = 100_000) -> Profile:
    """Validate one profile's fields. ``where`` is ``"LLM_"`` for the main profile (errors
    then name LLM_MODEL, LLM_BASE_URL ...) or ``"LLM_PROFILES['x']"`` for an extra one."""

    def setting(field_name: str) -> str:
        return f"LLM_{field_name.upper()}" if where == "LLM_" else f"{where}.{field_name}"

    values = {"model": model, "base_url": base_url, "api_key_env": api_key_env, "label": label}
    for field_name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise ImproperlyConfigured(f"{setting(field_name)} must be a string")
    if provider == "demo":
        if name == DEFAULT_NAME:
            return demo_profile()
        return Profile(name, "demo", "demo", label=label or demo_profile().label, max_retries=0,
                       timeout=timeout, context_tokens=context_tokens, fallbacks=fallbacks)
    if provider == "openai_compatible" and not base_url:
        raise ImproperlyConfigured(
            f"{setting('base_url')} is required for the openai_compatible provider, "
            "e.g. http://localhost:11434/v1 for Ollama"
        )
    if provider == "openai_compatible" and not model:
        raise ImproperlyConfigured(
            f"{setting('model')} is required for the openai_compatible provider "
            "(the name the server knows the model by)"
        )
    if base_url and not re.match(r"^https?://[^/\s]+", base_url):
        raise ImproperlyConfigured(f"{setting('base_url')} must be an http(s) URL, got {base_url!r}")
    if api_key_env is not None and not _ENV_NAME.match(api_key_env):
        # Do not echo the value: a key pasted here by mistake must not reach the logs.
        raise ImproperlyConfigured(
            f"{setting('api_key_env')} must be the NAME of an environment variable "
            "(like OPENAI_API_KEY), not the key itself"
        )
    model = model or DEFAULT_MODELS[provider]
    return Profile(
        name=name, provider=provider, model=model, base_url=base_url or None,
        api_key_env=api_key_env or DEFAULT_KEY_ENV.get(provider),
        label=label or _label(provider, model, base_url), max_retries=max_retries, timeout=timeout,
        fallbacks=fallbacks, context_tokens=context_tokens,
    )


def _label(provider: str, model: str, base_url: str | None) -> str:
    if provider == "openai":
        return f"OpenAI · {model}"
    if provider == "anthropic":
        return f"Anthropic · {model}"
    return f"{model} · {host_of(base_url)}"


def _setting(name: str) -> Any:
    value = getattr(settings, name, None)
    if isinstance(value, str):
        value = value.strip() or None
    return value


def _retries() -> int:
    value = getattr(settings, "LLM_MAX_RETRIES", 4)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ImproperlyConfigured(f"LLM_MAX_RETRIES must be an integer >= 0, got {value!r}")
    return value


def _fallbacks(value: Any, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ImproperlyConfigured(f"{where} must be a list of profile names, e.g. [\"claude\", \"local\"]")
    return tuple(value)


def _context_tokens() -> int:
    value = getattr(settings, "LLM_CONTEXT_TOKENS", 100_000)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1000:
        raise ImproperlyConfigured(f"LLM_CONTEXT_TOKENS must be an integer >= 1000, got {value!r}")
    return value


def _timeout() -> float:
    value = getattr(settings, "LLM_TIMEOUT", 60.0)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ImproperlyConfigured(f"LLM_TIMEOUT must be a number of seconds > 0, got {value!r}")
    return float(value)


def _number(spec: dict[str, Any], key: str, where: str, default: float, *, integer: bool) -> Any:
    value = spec.get(key)
    if value is None:
        return default
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if not ok or isinstance(value, bool) or value < 0 or (not integer and value == 0):
        kind = "an integer >= 0" if integer else "a number of seconds > 0"
        raise ImproperlyConfigured(f"{where}.{key} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


# --- building providers ---------------------------------------------------------------------


def build_provider(profile: Profile) -> Provider:
    """A new adapter for ``profile``; raises ProviderError("authentication") without a key."""
    if profile.provider == "demo":
        from assistant.providers.demo import DemoProvider

        return DemoProvider()
    key = profile.api_key()
    if key is None and profile.provider != "openai_compatible":
        raise ProviderError(
            "authentication",
            f"The {profile.label} model is not configured with an API key: set the "
            f"{profile.api_key_env} environment variable on the server.",
            provider=profile.provider,
        )
    # The engine owns retries (assistant/providers/retry.py): the SDK's are off, or they multiply.
    options: dict[str, Any] = {"api_key": key or PLACEHOLDER_KEY, "max_retries": 0,
                               "timeout": profile.timeout}
    if profile.base_url:  # otherwise the SDK reads OPENAI_BASE_URL / ANTHROPIC_BASE_URL
        options["base_url"] = profile.base_url
    if profile.provider == "anthropic":
        from anthropic import AsyncAnthropic

        from assistant.providers.anthropic_messages import AnthropicProvider

        return AnthropicProvider(client=AsyncAnthropic(**options), model=profile.model,
                                 key_env=profile.api_key_env)
    from openai import AsyncOpenAI

    from assistant.providers.openai_chat import OpenAIChatProvider

    client = AsyncOpenAI(**options)
    # A compatible server is named by its host in errors (it is not OpenAI).
    names: dict[str, Any] = {} if profile.provider == "openai" else {
        "name": "openai_compatible", "label": f"the model server at {host_of(profile.base_url)}"}
    if profile.api == "responses":
        from assistant.providers.openai_responses import OpenAIResponsesProvider

        return OpenAIResponsesProvider(client=client, model=profile.model, key_env=profile.api_key_env,
                                       chain=profile.previous_response_id, **names)
    if profile.provider == "openai":
        return OpenAIChatProvider(client=client, model=profile.model, key_env=profile.api_key_env)
    return OpenAIChatProvider(client=client, model=profile.model, key_env=profile.api_key_env,
                              max_tokens_param="max_tokens", **names)


_CACHE: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Profile, str | None], Provider]] = (
    weakref.WeakKeyDictionary()
)


def provider_for(profile: Profile) -> Provider:
    """Like :func:`build_provider`, but reuses one adapter per profile and event loop.

    SDK clients hold a connection pool bound to the loop they first ran on, and creating
    one costs milliseconds (TLS context), so a server reuses them rather than building
    one per request. A changed key in the environment builds a fresh client.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return build_provider(profile)
    per_loop = _CACHE.setdefault(loop, {})
    cache_key = (profile, profile.api_key())
    provider = per_loop.get(cache_key)
    if provider is None:
        provider = per_loop[cache_key] = build_provider(profile)
    return provider
