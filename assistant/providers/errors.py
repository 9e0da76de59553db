"""Turn an SDK failure into a :class:`ProviderError` a user can read and an operator can act on.

Both adapters map by HTTP status rather than by SDK exception class: the two SDKs name
their classes differently (and add new ones, such as Anthropic's 529 ``OverloadedError``),
but a status means the same thing everywhere. Messages name the provider and the status,
never echo the API key, and scrub anything key-shaped from the provider's own text
(OpenAI's 401 body, for one, quotes part of the key).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from assistant.providers.base import ErrorKind, ProviderError

_KEYISH = re.compile(r"\b(?:sk|rk|pk|key|sess)[-_][A-Za-z0-9_\-\*\.]{6,}", re.IGNORECASE)
_MAX_DETAIL = 300


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with the given secrets and anything that looks like an API key removed."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _KEYISH.sub("[redacted]", text)
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def provider_detail(body: Any) -> str:
    """The provider's own error message from an error body, when it has one."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return ""


def for_status(status: int, *, provider: str, label: str, detail: str = "", attempts: int = 1,
               key_env: str | None = None, headers: Any = None) -> ProviderError:
    """The error for an HTTP error status the SDK gave up on (after ``attempts`` tries)."""
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    said = f": {detail}" if detail else "."
    kind: ErrorKind
    if status == 429:
        kind = "rate_limited"
        message = (f"{label} is rate-limiting requests (HTTP 429){tried}. Try again in a moment.")
    elif status in (401, 403):
        kind = "authentication"
        where = f" Check the key in the {key_env} environment variable." if key_env else ""
        what = "rejected the API key" if status == 401 else "refused access to this model"
        message = f"{label} {what} (HTTP {status}).{where}"
    elif status == 529 or (status == 503 and "overload" in detail.lower()):
        kind = "server_error"
        message = f"{label} is overloaded (HTTP {status}){tried}. Try again in a moment."
    elif status >= 500:
        kind = "server_error"
        message = f"{label} had a server error (HTTP {status}){tried}. Try again later."
    elif status in (408, 504):
        kind = "timeout"
        message = f"{label} timed out handling the request (HTTP {status}){tried}."
    elif 400 <= status < 500:
        kind = "bad_request"
        message = f"{label} rejected the request (HTTP {status}){said}"
    else:
        kind = "other"
        message = f"{label} answered with an unexpected HTTP {status}{said}"
    from assistant.providers.retry import retry_after

    return ProviderError(kind, _sentence(message), status=status, provider=provider,
                         retry_after=retry_after(headers))


def after_attempts(message: str, attempts: int) -> str:
    """``message`` saying how many requests were made, once the engine gave up retrying."""
    if attempts <= 1 or "attempts" in message:
        return message
    found = re.search(r"\(HTTP \d+\)", message)
    if found:
        return f"{message[:found.end()]} after {attempts} attempts{message[found.end():]}"
    return f"{message.rstrip()} ({attempts} attempts.)"


def timeout(*, provider: str, label: str, seconds: float | None, midstream: bool) -> ProviderError:
    limit = f" within {seconds:g} seconds" if seconds else ""
    if midstream:
        message = f"{label} stopped sending the answer (no data{limit}). Try again."
    else:
        message = f"{label} did not respond{limit}. Try again, or raise LLM_TIMEOUT."
    return ProviderError("timeout", _sentence(message), provider=provider)


def connection(*, provider: str, label: str, host: str) -> ProviderError:
    where = "" if host in label else f" at {host}"
    return ProviderError(
        "connection",
        f"Could not connect to {label}{where}. Check that the server is running and reachable.",
        provider=provider,
    )


def interrupted(*, provider: str, label: str) -> ProviderError:
    return ProviderError(
        "stream_interrupted",
        f"The connection to {label} was interrupted before the answer finished. Try again.",
        provider=provider,
    )


def in_stream(*, provider: str, label: str, detail: str) -> ProviderError:
    """An error the provider reported inside a successful (HTTP 200) stream."""
    if "overload" in detail.lower():
        message = f"{label} is overloaded and stopped streaming the answer. Try again in a moment."
    elif detail:
        message = f"{label} reported an error while streaming the answer: {detail}"
    else:
        message = f"{label} reported an error while streaming the answer. Try again."
    return ProviderError("server_error", _sentence(message), provider=provider)


def unreadable(*, provider: str, label: str) -> ProviderError:
    """The stream carried data that is not JSON: a broken proxy or an incompatible server."""
    return ProviderError(
        "stream_unreadable", _sentence(f"{label} sent a streaming response that could not be read."),
        provider=provider,
    )


def _sentence(message: str) -> str:
    """Labels such as "the model server at ..." may open a message: capitalise it."""
    return message[:1].upper() + message[1:]


def host_of(url: object) -> str:
    """``host:port`` of a base URL, without any credentials it may embed."""
    text = str(url)
    match = re.match(r"^[a-z]+://(?:[^@/]*@)?([^/]+)", text)
    return match[1] if match else "the configured URL"


def attempts(request_headers: Any) -> int:
    """How many requests the SDK made, from the retry count both SDKs send on each attempt."""
    try:
        return int(request_headers.get("x-stainless-retry-count", "0")) + 1
    except (AttributeError, TypeError, ValueError):
        return 1


def seconds(timeout: Any) -> float | None:
    """The read timeout of an SDK client's ``timeout`` (a number or an httpx ``Timeout``)."""
    if isinstance(timeout, int | float):
        return float(timeout)
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, int | float) else None
