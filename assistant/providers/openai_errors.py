"""One mapping from the ``openai`` SDK's failures to :class:`ProviderError`, for both OpenAI adapters.

Chat Completions and the Responses API fail through the same SDK exceptions, so they share
one function rather than two copies that drift apart: the Responses copy had lost the
response headers, and with them ``Retry-After``.
"""

from __future__ import annotations

import openai

from assistant.providers import errors
from assistant.providers.base import ProviderError, SDKProvider


def provider_error(provider: SDKProvider, exc: openai.APIError, *, midstream: bool) -> ProviderError:
    """The error ``provider`` reports for ``exc``; ``midstream`` once the answer had started."""
    name, label = provider.name, provider.label
    secret = provider.client.api_key
    if isinstance(exc, openai.APITimeoutError):
        return errors.timeout(provider=name, label=label, midstream=midstream,
                              seconds=errors.seconds(provider.client.timeout))
    if isinstance(exc, openai.APIConnectionError):
        if midstream:
            return errors.interrupted(provider=name, label=label)
        return errors.connection(provider=name, label=label, host=errors.host_of(provider.client.base_url))
    if isinstance(exc, openai.APIStatusError):
        return errors.for_status(
            exc.status_code, provider=name, label=label, key_env=provider.key_env,
            detail=errors.scrub(errors.provider_detail(exc.body) or "", [secret]),
            attempts=errors.attempts(exc.response.request.headers), headers=exc.response.headers,
        )
    # An error event inside a 200 stream (``data: {"error": ...}``, ``response.failed``).
    detail = errors.scrub(errors.provider_detail(exc.body) or exc.message or "", [secret])
    return errors.in_stream(provider=name, label=label, detail=detail)
