"""Fixtures for the API tests: tokens, authenticated async clients, a fresh realtime layer."""

from __future__ import annotations

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.test import AsyncClient

from assistant.api import tokens


@pytest.fixture(autouse=True)
def _fresh_realtime(fresh_realtime):
    """Every test here starts from a fresh event log and channel layer (tests/conftest.py)."""


class Bearer(AsyncClient):
    """An AsyncClient that sends ``Authorization: Bearer <secret>`` with every request.

    (Django's own ``AsyncClient(headers=...)`` mangles the header name in the ASGI scope.)
    """


    def __init__(self, secret: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.secret = secret

    def generic(self, method, path, data="", content_type="application/octet-stream", secure=False, *,
                headers=None, **extra):
        headers = {"Authorization": f"Bearer {self.secret}", **(headers or {})}
        return super().generic(method, path, data, content_type, secure, headers=headers, **extra)

    async def request(self, **request):
        """Like Django's ASGI handler (Daphne), give each request its own thread-sensitive
        context; the test client alone would run every request's sync middleware on one
        shared thread, which a run in the background then waits for."""
        async with ThreadSensitiveContext():
            return await super().request(**request)


def bearer(secret: str) -> Bearer:
    return Bearer(secret)


@pytest.fixture
async def secret(user):
    """A read-write token of ``user`` (alice)."""
    return (await sync_to_async(tokens.create)(user, "tests")).secret


@pytest.fixture
async def api(secret):
    """An async client authenticated as ``user`` with a token."""
    return bearer(secret)


@pytest.fixture
async def other_api(other_user):
    """An async client authenticated as ``other_user`` (mallory) with a token."""
    return bearer((await sync_to_async(tokens.create)(other_user, "tests")).secret)
