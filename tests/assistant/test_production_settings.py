"""Production is switched on by environment variables alone: checked in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tools.registry import registry

ROOT = Path(__file__).resolve().parents[2]
SHOW = """
import json, django
django.setup()
from django.conf import settings as s
db = s.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "user": db.get("USER"), "host": db.get("HOST"),
    "port": db.get("PORT"), "options": db.get("OPTIONS", {}), "conn_max_age": db.get("CONN_MAX_AGE"),
    "health_checks": db.get("CONN_HEALTH_CHECKS"), "cache": s.CACHES["default"]["BACKEND"],
    "layer": s.CHANNEL_LAYERS["default"]["BACKEND"], "broker": s.CELERY_BROKER_URL,
    "layer_hosts": s.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "transport": s.CELERY_BROKER_TRANSPORT_OPTIONS, "middleware": s.MIDDLEWARE,
    "cache_options": s.CACHES["default"].get("OPTIONS", {}),
    "secure": [getattr(s, n, None) for n in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
               "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS")],
}, default=lambda o: o.__module__ + "." + o.__name__ if isinstance(o, type) else {
    "class": type(o).__module__ + "." + type(o).__name__, "retries": o.get_retries()}))
"""
PRODUCTION_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_HTTPS", "SQLITE_PATH")


def load(tmp_path, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_VARIABLES}
    clean.update({"DJANGO_SETTINGS_MODULE": "assistant.settings", "TOOLGATE_VAR_DIR": str(tmp_path),
                  "DJANGO_DEBUG": "false", "SECRET_KEY": "k" * 60, **env})
    result = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> dict:
    """The settings with none of the production variables set."""
    return load(tmp_path_factory.mktemp("embedded"))


def test_without_a_database_url_the_embedded_sqlite_database_keeps_its_options(embedded):
    shown = embedded
    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["name"].endswith("db.sqlite3")
    assert "journal_mode=WAL" in shown["options"]["init_command"]
    assert shown["options"]["transaction_mode"] == "IMMEDIATE" and shown["options"]["timeout"] == 20
    assert shown["cache"].endswith("LocMemCache") and shown["layer"].endswith("InMemoryChannelLayer")
    assert shown["broker"] is None  # no Celery: decisions are carried out in the server


def test_a_postgres_database_url_selects_postgresql_without_persistent_connections(tmp_path):
    shown = load(tmp_path, DATABASE_URL="postgres://tg:s3cret@db.internal:5433/toolgate")
    assert shown["engine"] == "django.db.backends.postgresql"
    assert (shown["name"], shown["user"]) == ("toolgate", "tg")
    assert (shown["host"], shown["port"]) == ("db.internal", 5433)
    assert shown["conn_max_age"] == 0 and shown["health_checks"] is True
    assert shown["options"] == {"connect_timeout": 5}


def test_connection_options_can_be_tuned_from_the_environment(tmp_path):
    shown = load(tmp_path, DATABASE_URL="postgres://tg@db/toolgate?sslmode=require",
                 DATABASE_CONN_MAX_AGE="60", DATABASE_CONNECT_TIMEOUT="2")
    assert shown["conn_max_age"] == 60
    assert shown["options"] == {"sslmode": "require", "connect_timeout": 2}


def test_a_sqlite_database_url_keeps_the_sqlite_options(tmp_path):
    shown = load(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'other.sqlite3'}")
    assert shown["name"] == str(tmp_path / "other.sqlite3")
    assert shown["options"]["transaction_mode"] == "IMMEDIATE"


def test_redis_url_moves_cache_channel_layer_and_broker_to_redis(tmp_path):
    shown = load(tmp_path, REDIS_URL="redis://cache.internal:6379/0")
    assert shown["cache"].endswith("RedisCache")
    assert shown["layer"] == "channels_redis.core.RedisChannelLayer"
    assert shown["broker"] == "redis://cache.internal:6379/0"
    assert shown["transport"]["visibility_timeout"] == 3600


def test_every_redis_client_retries_broken_connections_and_checks_idle_ones(tmp_path):
    """A restarted Redis closes every pooled connection: each client must reconnect and retry
    rather than fail the next command on each stale connection (tests/prod covers it live)."""
    shown = load(tmp_path, REDIS_URL="redis://cache.internal:6379/0")
    [host] = shown["layer_hosts"]
    assert host["retry"] == {"class": "redis.asyncio.retry.Retry", "retries": 16}
    assert host["health_check_interval"] == 10
    assert host["retry_on_error"] == ["redis.exceptions.ConnectionError", "redis.exceptions.TimeoutError"]
    assert shown["cache_options"]["retry"] == {"class": "redis.retry.Retry", "retries": 16}
    assert shown["cache_options"]["health_check_interval"] == 10
    assert shown["transport"]["health_check_interval"] == 10 and shown["transport"]["retry_on_timeout"]
    tuned = load(tmp_path, REDIS_URL="redis://cache.internal:6379/0", REDIS_RETRIES="3",
                 REDIS_HEALTH_CHECK_INTERVAL="2")
    assert tuned["layer_hosts"][0]["retry"]["retries"] == 3
    assert tuned["cache_options"]["health_check_interval"] == 2


def test_the_channel_layers_read_timeout_outlasts_its_blocking_receive(tmp_path):
    """Else an idle socket's receive loop dies of a redis-py TimeoutError (5 s each by default)."""
    from channels_redis.core import RedisChannelLayer

    [host] = load(tmp_path, REDIS_URL="redis://cache.internal:6379/0")["layer_hosts"]
    assert host["address"] == "redis://cache.internal:6379/0"
    assert host["socket_timeout"] > 2 * RedisChannelLayer.brpop_timeout
    assert host["max_connections"] >= 1000  # redis-py 8's default pool (100) fails a burst of sockets


def test_whitenoise_comes_right_after_the_security_middleware(embedded):
    middleware = embedded["middleware"]
    security = middleware.index("django.middleware.security.SecurityMiddleware")
    assert middleware[security + 1] == "assistant.ops.staticfiles.AsyncWhiteNoiseMiddleware"


def test_https_makes_cookies_secure_and_trusts_the_proxys_scheme(embedded, tmp_path):
    assert embedded["secure"] == [False, False, False, None, 0]
    shown = load(tmp_path, DJANGO_HTTPS="true", DJANGO_HSTS_SECONDS="31536000")
    assert shown["secure"] == [True, True, True, ["HTTP_X_FORWARDED_PROTO", "https"], 31536000]


def test_the_visibility_timeout_outlasts_every_tools_timeout():
    """Redis redelivers a task still running after it: a tool call must never outlast it."""
    longest = max(tool.timeout or settings.TOOLS_DEFAULT_TIMEOUT for tool in registry)
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > 10 * longest
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
