"""Toolgate's project package: settings, chat, LLM providers and the run loop."""

from assistant.celery import app as celery_app

__all__ = ["celery_app"]
