"""The Celery application. Workers: ``make worker``; the beat (expiry): ``make beat``."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assistant.settings")

app = Celery("toolgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

from assistant.ops import worker_db  # noqa: E402 (after the app: its receivers are Celery's)

worker_db.connect()  # a task keeps its database connection as long as CONN_MAX_AGE says
