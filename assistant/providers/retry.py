"""When a model turn is requested again, how long to wait first, and when to stop waiting.

One layer owns retries: the SDK clients are built with ``max_retries=0``
(assistant/providers/profiles.py) and the engine retries a whole turn by these rules, so an
SDK's retries and ours never multiply. Any adapter gets the same treatment: it only has to
raise :class:`~assistant.providers.base.ProviderError` with the right ``kind`` (and, from an
HTTP error, ``status`` and ``retry_after``).

- **Retried**: rate limits (429), server errors (5xx, overloaded), timeouts, connection
  errors, a stream cut before its end (no finish reason / ``[DONE]`` / ``message_stop``),
  an undecodable chunk, and silence longer than the idle timeout. Nothing durable has
  happened in a broken turn (its tool calls never run), so asking again is safe.
- **Never retried**: 400, 401, 403, 404, 422 and every other refusal of the request itself
  (``bad_request``, ``authentication``): the same request would fail the same way.
- **Waits**: exponential backoff with jitter — ``base * 2**(n-1)``, at most ``max_delay``,
  of which a random half is jitter — or the provider's ``Retry-After`` / ``retry-after-ms``
  when it asks for longer. A provider that asks for more than ``max_delay`` is not waited
  for: the turn fails (or falls back) at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from assistant.providers.base import ChatRequest, Event, ProviderError

NEVER_RETRIED_STATUSES = frozenset({400, 401, 403, 404, 422})
RETRIED_KINDS = frozenset({"rate_limited", "server_error", "timeout", "connection", "stream_interrupted",
                           "stream_unreadable"})


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` extra attempts per model turn (so ``retries + 1`` requests at most)."""

    retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    idle_timeout: float = 30.0

    @classmethod
    def from_settings(cls, retries: int | None = None) -> RetryPolicy:
        from django.conf import settings

        return cls(retries=settings.LLM_MAX_RETRIES if retries is None else retries,
                   base_delay=settings.LLM_RETRY_BASE_DELAY, max_delay=settings.LLM_RETRY_MAX_DELAY,
                   idle_timeout=settings.LLM_IDLE_TIMEOUT)

    def delay(self, retry: int, error: ProviderError, *, rng: Callable[[], float] = random.random
              ) -> float | None:
        """Seconds to wait before retry number ``retry`` (1-based), or ``None``: do not retry."""
        if retry > self.retries or not retryable(error):
            return None
        backoff = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        wait = backoff / 2 + backoff / 2 * rng()
        if error.retry_after is not None:
            if error.retry_after > self.max_delay:
                return None  # asked to come back later than we are willing to wait
            wait = max(wait, error.retry_after)
        return wait

    def worst_case_wait(self) -> float:
        """The longest a turn can spend waiting between its attempts."""
        return sum(min(self.max_delay, self.base_delay * 2 ** (n - 1)) for n in range(1, self.retries + 1))


def retryable(error: ProviderError) -> bool:
    if error.status in NEVER_RETRIED_STATUSES:
        return False
    return error.kind in RETRIED_KINDS


def unavailable(error: ProviderError) -> bool:
    """The provider could not answer (a fallback profile may): the same errors as are retried."""
    return retryable(error)


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        milliseconds = headers.get("retry-after-ms")
        if milliseconds is not None:
            return max(0.0, float(milliseconds) / 1000)
        value = headers.get("retry-after")
    except (AttributeError, TypeError, ValueError):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(str(value)) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


class IdleGuard:
    """The events of ``stream``, failing with ``on_idle()`` when none arrives for ``seconds``.

    Only the wait for the *next* event is timed (the caller's work between events is not),
    and a timed-out wait cancels the adapter's generator, which closes its HTTP stream.
    """

    def __init__(self, stream: AsyncIterator[Event], seconds: float,
                 on_idle: Callable[[], ProviderError]) -> None:
        self.stream, self.seconds, self.on_idle = stream, seconds, on_idle

    def __aiter__(self) -> IdleGuard:
        return self

    async def __anext__(self) -> Event:
        try:
            async with asyncio.timeout(self.seconds):
                return await anext(self.stream)
        except TimeoutError:
            raise self.on_idle() from None

    async def aclose(self) -> None:
        closer = getattr(self.stream, "aclose", None)
        if closer is not None:
            await closer()


def idle_error(provider: str, label: str, seconds: float) -> ProviderError:
    return ProviderError("timeout", f"{label[:1].upper()}{label[1:]} stopped sending the answer "
                         f"(nothing for {seconds:g} seconds).", provider=provider)


def estimate_tokens(text: str) -> int:
    """About four characters a token: for attempts the provider broke off before saying."""
    return (len(text) + 3) // 4


def estimate_input_tokens(request: ChatRequest) -> int:
    size = len(request.system or "")
    for message in request.messages:
        size += len(message.content)
        size += sum(len(c.arguments) + len(c.name) for c in message.tool_calls)
        size += sum(len(r.content) for r in message.tool_results)
    return (size + 3) // 4
