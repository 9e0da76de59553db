"""Shared set-up for engine tests: a real profile pointed at the fake LLM server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from assistant.models import Conversation
from assistant.runs.engine import Engine
from tools.gate import GateDecision, PreparedCall
from tools.pipeline import Pipeline
from tools.registry import Registry

KEY_ENV = "TOOLGATE_TEST_LLM_KEY"


def use_fake_profiles(settings: Any, monkeypatch: Any, server: Any, *, max_retries: int = 2) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-real-key")
    settings.LLM_MAX_RETRIES = max_retries
    settings.LLM_RETRY_BASE_DELAY = 0.01  # backoff stays exponential, in milliseconds
    settings.LLM_PROFILES = json.dumps({
        "fake-openai": {"provider": "openai", "model": "gpt-test", "base_url": server.openai_base_url,
                        "api_key_env": KEY_ENV},
        "fake-anthropic": {"provider": "anthropic", "model": "claude-test",
                           "base_url": server.anthropic_base_url, "api_key_env": KEY_ENV},
        "fake-responses": {"provider": "openai", "api": "responses", "model": "gpt-test",
                           "base_url": server.openai_base_url, "api_key_env": KEY_ENV},
    })


def script_for(server: Any, profile: str) -> Any:
    """The fake server's ``script_*`` for the wire format a fake profile speaks."""
    return {"fake-openai": server.script_openai, "fake-anthropic": server.script_anthropic,
            "fake-responses": server.script_responses}[profile]


HISTORY_KEY = {"fake-openai": "messages", "fake-anthropic": "messages", "fake-responses": "input"}


@dataclass
class Calls:
    """Counts how often each test tool really ran."""

    counts: dict[str, int] = field(default_factory=dict)

    def hit(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


def test_registry(calls: Calls) -> Registry:
    registry = Registry()

    @registry.tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: The first number.
            b: The second number.
        """
        calls.hit("add")
        return a + b

    @registry.tool(risk="high")
    def wipe(target: str) -> dict[str, str]:
        """Erase a target (a dangerous action that needs approval).

        Args:
            target: What to erase.
        """
        calls.hit("wipe")
        return {"wiped": target}

    @registry.tool(permission="auth.view_permission")
    def secret(x: int) -> int:
        """A tool only some users may use.

        Args:
            x: Any number.
        """
        calls.hit("secret")
        return x

    return registry


async def approve_high_risk(call: PreparedCall) -> GateDecision:
    if call.tool.risk == "high":
        return GateDecision.require_approval(rule="risk:high", reason="high-risk tool")
    return GateDecision.allow(rule="default")


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def make_engine(calls: Calls, *, gate: Any = None, emit: Any = None) -> Engine:
    return Engine(pipeline=Pipeline(test_registry(calls), gate=gate), emit=emit)


async def new_conversation(user: Any, profile: str = "fake-openai") -> Conversation:
    return await Conversation.objects.acreate(owner=user, profile=profile)


__test__ = False  # not a test module (the helper named test_registry is not a test either)
test_registry.__test__ = False  # type: ignore[attr-defined]
