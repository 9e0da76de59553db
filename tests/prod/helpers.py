"""Waiting on other processes, with generous limits: a worker may still be starting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.testing import WebsocketCommunicator

EVENT_TIMEOUT = 60.0


async def events_until(socket: WebsocketCommunicator, *types: str,
                       within: float = EVENT_TIMEOUT) -> list[dict[str, Any]]:
    """Events up to the first of ``types``."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {types} within {within} s; saw {[e['type'] for e in seen]}")
        event = json.loads(await socket.receive_from(timeout=left))
        seen.append(event)
        if event["type"] in types:
            return seen


async def eventually(check: Callable[[], Awaitable[Any]], within: float = EVENT_TIMEOUT,
                     what: str = "") -> Any:
    """Poll an async ``check`` until it returns something truthy."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {within} s waiting for {what or check}")
