"""WhiteNoise serves collected static files, on the async path as well as the sync one."""

from __future__ import annotations

import asyncio

import pytest
from django.http import HttpResponse
from django.test import AsyncClient, Client

from assistant.ops.staticfiles import AsyncWhiteNoiseMiddleware


def collect(settings, tmp_path) -> None:
    settings.STATIC_ROOT = tmp_path
    (tmp_path / "app.css").write_text("body { color: teal }")


# "error": Django warns when it must read a file response whole to serve it asynchronously.
@pytest.mark.filterwarnings("error")
async def test_a_collected_file_is_served_to_an_async_request_in_chunks(settings, tmp_path):
    collect(settings, tmp_path)
    big = bytes(range(256)) * 3000  # several chunks
    (tmp_path / "app.js").write_bytes(big)
    client = AsyncClient()
    response = await client.get("/static/app.css")
    assert response.status_code == 200
    assert b"".join([chunk async for chunk in response]) == b"body { color: teal }"
    assert response["Content-Type"].startswith("text/css")
    assert "max-age" in response["Cache-Control"]
    response = await client.get("/static/app.js")
    assert b"".join([chunk async for chunk in response]) == big
    assert int(response["Content-Length"]) == len(big)


def test_a_collected_file_is_served_to_a_sync_request(settings, tmp_path):
    collect(settings, tmp_path)
    response = Client().get("/static/app.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"body { color: teal }"


def test_under_an_async_stack_the_middleware_stays_async(settings, tmp_path):
    """Django runs a sync-only middleware (WhiteNoise's own) and all behind it in a thread."""
    collect(settings, tmp_path)

    async def view(request):
        return HttpResponse("view")

    assert asyncio.iscoroutinefunction(AsyncWhiteNoiseMiddleware(view))
    assert not asyncio.iscoroutinefunction(AsyncWhiteNoiseMiddleware(lambda request: HttpResponse()))
