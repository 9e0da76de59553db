"""ASGI entry point: HTTP through Django (``/mcp`` through the MCP endpoint), WebSockets
through Channels (signed-in, same origin)."""

import asyncio
import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assistant.settings")

django_asgi_app = get_asgi_application()

# Imported after Django is set up: they load models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from approvals import dispatch  # noqa: E402
from assistant.mcp import http as mcp_http  # noqa: E402
from assistant.realtime.routing import websocket_urlpatterns  # noqa: E402
from assistant.runs import restart  # noqa: E402


class StartOnce:
    """Record the server's event loop on the first connection (for work after approval
    decisions) and, in the embedded default, start the approval expiry timer there and
    continue the runs the previous server process left running."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self.started:
            self.started = True
            dispatch.start(asyncio.get_running_loop())
            restart.start()
        await self.app(scope, receive, send)


application = StartOnce(ProtocolTypeRouter({
    "http": mcp_http.route(django_asgi_app),  # /mcp: Toolgate as an MCP server (docs/mcp.md)
    "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
}))
