"""WhiteNoise in an async middleware stack: static files without a thread hop per request.

WhiteNoise's middleware is synchronous only. Placed in Django's async stack under Daphne, it
would make Django run every request behind it — the async views, the streaming API — in a
worker thread with ``async_to_sync`` around the rest, which costs on every request and makes
an async streaming response be consumed synchronously (buffered whole, or stuck). This
subclass keeps WhiteNoise's file table and responses and adds the async path: a static file
is answered with WhiteNoise's response, its file read in chunks off the loop (Django would
otherwise read a sync file response whole, with a warning each time); anything else
continues on the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO, Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any = None, **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        if self.autorefresh:  # development: looks on disk for every request, off the loop
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        response = self.serve(static_file, request)
        if getattr(response, "file_to_stream", None) is not None:
            response.streaming_content = _read_off_the_loop(response.file_to_stream)
        return response


CHUNK_BYTES = 256 * 1024


async def _read_off_the_loop(file: IO[bytes]) -> AsyncIterator[bytes]:
    read = sync_to_async(file.read, thread_sensitive=False)
    try:
        while chunk := await read(CHUNK_BYTES):
            yield chunk
    finally:
        await sync_to_async(file.close, thread_sensitive=False)()
