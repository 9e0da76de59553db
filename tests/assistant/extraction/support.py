"""Profiles pointed at the fake LLM server for the extraction tests, one per way of asking."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from tests.assistant.runs.engine_helpers import KEY_ENV


class Person(BaseModel):
    """A person mentioned in the text."""

    name: str
    age: int
    email: str | None = None


FREE_FORM = {  # a dict without fixed keys: OpenAI strict mode cannot express it
    "type": "object",
    "properties": {"title": {"type": "string"},
                   "labels": {"type": "object", "additionalProperties": {"type": "string"}}},
    "required": ["title"],
}


def use_extraction_profiles(settings: Any, monkeypatch: Any, server: Any, *, max_retries: int = 0) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-test-not-a-real-key")
    settings.LLM_MAX_RETRIES = max_retries
    openai = {"provider": "openai", "model": "gpt-test", "base_url": server.openai_base_url,
              "api_key_env": KEY_ENV}
    compat = {"provider": "openai_compatible", "model": "local-test", "base_url": server.openai_base_url}
    settings.LLM_PROFILES = json.dumps({
        "fake-openai": openai,
        "fake-responses": {**openai, "api": "responses"},
        "fake-anthropic": {"provider": "anthropic", "model": "claude-test",
                           "base_url": server.anthropic_base_url, "api_key_env": KEY_ENV},
        "compat-object": {**compat, "structured_output": "json_object"},
        "compat-tool": {**compat, "structured_output": "tool"},
        "compat-prompt": {**compat, "structured_output": "prompt"},
    })
