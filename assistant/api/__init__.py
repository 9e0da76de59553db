"""Toolgate's public REST API (docs/api.md), built with django-ninja.

``app`` holds the NinjaAPI and its routers (``tools``, ``history``, ``conversations``);
``auth`` the token and session checks; ``errors`` the one error shape; ``schemas`` the
bodies; ``streaming`` the chat run driven for a request (JSON or SSE); ``urls`` mounts it
all at ``/api/``. Personal tokens (``assistant.api.tokens``) are made and revoked at
``/settings/tokens/`` (``token_views``, ``token_urls``).
"""
