import asyncio

import pytest

from approvals import dispatch
from assistant import chat, realtime


@pytest.fixture(autouse=True)
async def _fresh_realtime(settings, monkeypatch):
    """A fresh event log and channel layer per test; no background work left behind."""
    monkeypatch.setattr(realtime, "_log", None)
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                           "CONFIG": {"capacity": 5000}}}
    yield
    await asyncio.wait_for(dispatch.wait_idle(), 20)
    await asyncio.wait_for(chat.wait_idle(), 20)
