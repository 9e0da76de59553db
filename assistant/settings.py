"""Django settings for Toolgate, read from the environment.

The embedded default (``make run``) needs no configuration at all: SQLite, the in-process
channel layer and local-memory cache. Production is switched on by environment variables
alone (see docs/deploy.md); nothing here has to be edited.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from assistant.env import env_bool, env_float, env_int, env_list, env_str, load_recorded
from assistant.security.config import content_security_policy, lockout_parameters
from assistant.storage.private import restrict_umask, write_private

# Before anything is created: the database, secret key, workspaces and beat schedule are
# readable by this user only, whatever umask the process was started with (docs/security.md).
restrict_umask()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TOOLGATE_VAR_DIR", str(BASE_DIR / "var")))
# `make run` records its development configuration here, so the commands the README shows
# (`manage.py chat`, `shell`, `createsuperuser`) work outside make too; see assistant/env.py.
DEVELOPMENT_ENV = VAR_DIR / "development.env"
load_recorded(DEVELOPMENT_ENV)

DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, or in development a generated one kept in var/.

    With DEBUG off a missing key is a configuration error: a key invented at start-up
    would silently change on every restart and log every user out.
    """
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DJANGO_DEBUG is off. Set SECRET_KEY to a long random "
            "value for production, or set DJANGO_DEBUG=true for local development."
        )
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",  # before the apps whose login signal receivers read what axes records first
    "tools",
    "approvals",
    "assistant",
]

MIDDLEWARE = [
    "assistant.ops.middleware.RequestIdMiddleware",  # first: every log line of a request has its id
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "assistant.i18n.middleware.UserLocaleMiddleware",  # after auth: the user's language wins
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "assistant.urls"
ASGI_APPLICATION = "assistant.asgi.application"
WSGI_APPLICATION = "assistant.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",  # CSP_NONCE, for the rare inline code (docs/security.md)
                "assistant.preferences.context.preferences",  # theme, demo banner (issue 14)
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "db.sqlite3")),
        # Reopening SQLite costs ~0.75 ms, and Channels closes stale connections before
        # every socket frame: keep them (a local file has no server to outlive).
        "CONN_MAX_AGE": env_int("SQLITE_CONN_MAX_AGE", 600, minimum=0),
        "OPTIONS": {
            # WAL lets readers proceed while a tool call is being recorded; IMMEDIATE
            # transactions take the write lock up front instead of failing mid-way.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 5000, "expiry": 60},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # A streamed reply is many small events; a slow socket must not make the layer drop them.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- Login throttling (docs/security.md) -----------------------------------------------------
# django-axes counts failed sign-ins (site login and admin login alike: both go through
# authenticate()) per username and, separately, per client address; at the limit further
# attempts are refused, the password unchecked, until the cool-off has passed since the
# last failure. Its backend goes first: it refuses before the password is looked at.
AUTHENTICATION_BACKENDS = [
    "assistant.security.logins.ThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("LOGIN_COOLOFF_SECONDS", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = lockout_parameters(env_list("LOGIN_LOCKOUT_BY", ["username", "ip_address"]))
# A success does not wipe the failures: with per-address counting it would also wipe the
# failures an attacker ran up against someone else's name from the same address.
AXES_RESET_ON_SUCCESS = False
# The cool-off runs from the last failure whose password was checked: refused attempts are
# not recorded, so "try again in N minutes" holds however often someone retries.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not recorded (no table growing forever)
AXES_LOCKOUT_CALLABLE = "assistant.security.logins.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The client address is REMOTE_ADDR: the peer, or under `daphne --proxy-headers` (Procfile)
# the first X-Forwarded-For entry, which the proxy must set (docs/deploy.md).
AXES_CLIENT_IP_CALLABLE = None

# Languages (docs/ui.md): English by default; a user's setting wins over the browser's
# Accept-Language (assistant.i18n.middleware). Catalogs live in locale/ (`make messages`).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "toolgate@localhost")

# --- Tools (see docs/tools.md) -------------------------------------------------------------
TOOLS_DEFAULT_TIMEOUT = env_float("TOOLS_DEFAULT_TIMEOUT", 30.0, minimum=0.1)
TOOLS_MAX_RESULT_CHARS = env_int("TOOLS_MAX_RESULT_CHARS", 20_000, minimum=100)
# The hard ceiling on one result as stored, streamed and sent to the model (docs/security.md).
TOOLS_MAX_RESULT_BYTES = env_int("TOOLS_MAX_RESULT_BYTES", 262_144, minimum=1024)
TOOLS_MAX_CONCURRENCY = env_int("TOOLS_MAX_CONCURRENCY", 8, minimum=1)
TOOLS_SENSITIVE_KEYS = env_list(
    "TOOLS_SENSITIVE_KEYS",
    [
        "password", "passwd", "secret", "api_key", "apikey", "token", "access_token",
        "refresh_token", "authorization", "ssn", "credit_card", "card_number", "cvv",
        "private_key",
    ],
)
# Dotted path to the policy callable consulted before any tool runs; approvals plugs in here.
TOOLS_GATE = env_str("TOOLS_GATE", "approvals.policy.gate")
# Dotted paths to ``(stage, record, **details)`` observers, told in order of every ToolCall
# write: the audit trail, then the metrics (comma-separated in the environment).
TOOLS_JOURNAL = env_list("TOOLS_JOURNAL", [
    "approvals.hooks.observe", "assistant.ops.metrics.observe_tool_call"])
# TOOLS_ACCESS_POLICY, ``(user, tool) -> bool``: which tools a user may use (see Approvals below).
TOOLS_THREADS = env_int("TOOLS_THREADS", 32, minimum=1)
TOOLS_WORKSPACE_ROOT = Path(env_str("TOOLS_WORKSPACE_ROOT", str(VAR_DIR / "workspaces")))
TOOLS_FILE_MAX_BYTES = env_int("TOOLS_FILE_MAX_BYTES", 1_000_000, minimum=1)
TOOLS_SAMPLE_DB_PATH = Path(env_str("TOOLS_SAMPLE_DB_PATH", str(VAR_DIR / "sample.sqlite3")))
TOOLS_SQL_MAX_ROWS = env_int("TOOLS_SQL_MAX_ROWS", 200, minimum=1)
TOOLS_SQL_TIMEOUT = env_float("TOOLS_SQL_TIMEOUT", 2.0, minimum=0.01)
# Total size of one query_database result, enforced while rows are fetched (docs/security.md).
TOOLS_SQL_MAX_BYTES = env_int("TOOLS_SQL_MAX_BYTES", 16_000, minimum=100)
TOOLS_HTTP_ALLOWED_HOSTS = env_list("TOOLS_HTTP_ALLOWED_HOSTS", ["example.com", "*.wikipedia.org"])
TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS = env_list("TOOLS_HTTP_EXTRA_ALLOWED_NETWORKS")
TOOLS_HTTP_MAX_BYTES = env_int("TOOLS_HTTP_MAX_BYTES", 500_000, minimum=1)
TOOLS_HTTP_TIMEOUT = env_float("TOOLS_HTTP_TIMEOUT", 10.0, minimum=0.1)
TOOLS_EMAIL_MAX_RECIPIENTS = env_int("TOOLS_EMAIL_MAX_RECIPIENTS", 10, minimum=1)
TOOLS_PYTHON_TIMEOUT = env_float("TOOLS_PYTHON_TIMEOUT", 5.0, minimum=0.1)
TOOLS_PYTHON_MEMORY_MB = env_int("TOOLS_PYTHON_MEMORY_MB", 256, minimum=16)
TOOLS_PYTHON_MAX_OUTPUT = env_int("TOOLS_PYTHON_MAX_OUTPUT", 10_000, minimum=100)
TOOLS_PYTHON_DISK_MB = env_int("TOOLS_PYTHON_DISK_MB", 16, minimum=1)  # its directory and /tmp, each
# run_python's filesystem isolation (docs/security.md): bubblewrap, or refuse to run, unless
# TOOLS_SANDBOX_ALLOW_WEAK accepts a sandbox that can read world-readable files.
TOOLS_SANDBOX_BWRAP = env_str("TOOLS_SANDBOX_BWRAP", "/usr/bin/bwrap")
TOOLS_SANDBOX_ALLOW_WEAK = env_bool("TOOLS_SANDBOX_ALLOW_WEAK", False)
# MCP servers (docs/mcp.md): working directories, and how sessions are opened and kept.
TOOLS_MCP_DIR = Path(env_str("TOOLS_MCP_DIR", str(VAR_DIR / "mcp")))
TOOLS_MCP_CONNECT_TIMEOUT = env_float("TOOLS_MCP_CONNECT_TIMEOUT", 15.0, minimum=0.1)
TOOLS_MCP_CONNECT_WAIT = env_float("TOOLS_MCP_CONNECT_WAIT", 10.0, minimum=0.0)
TOOLS_MCP_RELOAD_SECONDS = env_float("TOOLS_MCP_RELOAD_SECONDS", 5.0, minimum=0.0)
TOOLS_MCP_BACKOFF_MAX = env_float("TOOLS_MCP_BACKOFF_MAX", 30.0, minimum=0.1)
TOOLS_MCP_PING_SECONDS = env_float("TOOLS_MCP_PING_SECONDS", 15.0, minimum=0.1)
# "legacy": the initialize handshake (2025-11-25 and older), list changes as notifications;
# "auto": ask the server (server/discover) and use 2026-07-28 where it offers it, list
# changes through a subscriptions/listen stream (docs/mcp.md).
TOOLS_MCP_PROTOCOL = env_str("TOOLS_MCP_PROTOCOL", "legacy")
if TOOLS_MCP_PROTOCOL not in ("legacy", "auto"):
    raise ImproperlyConfigured(f"TOOLS_MCP_PROTOCOL must be 'legacy' or 'auto', got {TOOLS_MCP_PROTOCOL!r}")

# Toolgate as an MCP server at /mcp (docs/mcp.md, "Toolgate as an MCP server").
MCP_SERVER_ENABLED = env_bool("MCP_SERVER_ENABLED", True)
MCP_SERVER_MAX_REQUEST_BYTES = env_int("MCP_SERVER_MAX_REQUEST_BYTES", 1_048_576, minimum=1024)
MCP_SERVER_KEEPALIVE_SECONDS = env_float("MCP_SERVER_KEEPALIVE_SECONDS", 10.0, minimum=0.1)
MCP_SERVER_POLL_SECONDS = env_float("MCP_SERVER_POLL_SECONDS", 1.0, minimum=0.05)
# How long an MCP task (a task-augmented tools/call) can be read; a client may ask for less.
MCP_SERVER_TASK_TTL_SECONDS = env_int("MCP_SERVER_TASK_TTL_SECONDS", 7 * 24 * 3600, minimum=60)

# --- Realtime (docs/protocol.md) ----------------------------------------------------------
REALTIME_REPLAY_EVENTS = env_int("REALTIME_REPLAY_EVENTS", 20_000, minimum=100)
# Seconds between a socket's re-joins of its conversation's group (a restarted Redis forgot it).
REALTIME_REJOIN_SECONDS = env_float("REALTIME_REJOIN_SECONDS", 5.0, minimum=0.1)
REALTIME_MAX_FRAME_BYTES = env_int("REALTIME_MAX_FRAME_BYTES", 64_000, minimum=1024)
# Open chat sockets per user (0: no limit); the next one is closed with 4429 (docs/protocol.md).
REALTIME_MAX_SOCKETS_PER_USER = env_int("REALTIME_MAX_SOCKETS_PER_USER", 20, minimum=0)
ASSISTANT_MAX_MESSAGE_CHARS = env_int("ASSISTANT_MAX_MESSAGE_CHARS", 20_000, minimum=1)

# --- Approvals (docs/approvals.md) ----------------------------------------------------------
APPROVALS_EXPIRE_AFTER = env_int("APPROVALS_EXPIRE_AFTER", 3600, minimum=1)  # seconds
APPROVALS_ALLOW_SELF_APPROVAL = env_bool("APPROVALS_ALLOW_SELF_APPROVAL", False)
# The live queue re-renders its rows this often (seconds), so "waiting" and "expires" stay current.
APPROVALS_QUEUE_REFRESH = env_int("APPROVALS_QUEUE_REFRESH", 30, minimum=1)
TOOLS_ACCESS_POLICY = env_str("TOOLS_ACCESS_POLICY", "approvals.policy.can_use")
# Notifications to approvers (docs/approvals.md#notifications): email to approvers' addresses,
# and a signed webhook (format "toolgate" JSON events or "slack" incoming-webhook text).
APPROVALS_NOTIFY_EMAIL = env_bool("APPROVALS_NOTIFY_EMAIL", True)
APPROVALS_WEBHOOK_URL = env_str("APPROVALS_WEBHOOK_URL", "")
APPROVALS_WEBHOOK_SECRET = env_str("APPROVALS_WEBHOOK_SECRET", "")
APPROVALS_WEBHOOK_FORMAT = env_str("APPROVALS_WEBHOOK_FORMAT", "toolgate")
if APPROVALS_WEBHOOK_FORMAT not in ("toolgate", "slack"):
    raise ImproperlyConfigured(
        f"APPROVALS_WEBHOOK_FORMAT={APPROVALS_WEBHOOK_FORMAT!r}: use 'toolgate' or 'slack'.")
if APPROVALS_WEBHOOK_URL and not APPROVALS_WEBHOOK_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"APPROVALS_WEBHOOK_URL={APPROVALS_WEBHOOK_URL!r}: use an http(s) URL.")
if APPROVALS_WEBHOOK_URL and APPROVALS_WEBHOOK_FORMAT == "toolgate" and not APPROVALS_WEBHOOK_SECRET:
    raise ImproperlyConfigured("APPROVALS_WEBHOOK_URL is set but APPROVALS_WEBHOOK_SECRET is empty: "
                               "receivers could not tell Toolgate's events from forgeries.")
APPROVALS_WEBHOOK_TIMEOUT = env_float("APPROVALS_WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
APPROVALS_WEBHOOK_ATTEMPTS = env_int("APPROVALS_WEBHOOK_ATTEMPTS", 4, minimum=1)
APPROVALS_WEBHOOK_BACKOFF = env_float("APPROVALS_WEBHOOK_BACKOFF", 2.0, minimum=0)  # seconds, doubled
# Remind approvers this many seconds before a pending request expires (0: no reminder).
APPROVALS_REMIND_BEFORE = env_int("APPROVALS_REMIND_BEFORE", 300, minimum=0)
# Links in notifications are this origin plus the decision page's path.
APPROVALS_LINK_BASE_URL = env_str("APPROVALS_LINK_BASE_URL", "http://localhost:8000")

# --- Celery: a worker runs approved calls when REDIS_URL is set; otherwise this process does.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django fixup would close the database connection around every task whatever
# CONN_MAX_AGE says; assistant/ops/worker_db.py closes them as Django does around a request.
CELERY_DB_REUSE_MAX = 2**62
CELERY_BEAT_SCHEDULE = {
    "expire-stale-approvals": {"task": "approvals.tasks.expire_stale_requests", "schedule": 30.0},
}
# The embedded server's own expiry timer (0 turns it off; Celery beat does it in production).
APPROVALS_EXPIRY_CHECK_SECONDS = env_float("APPROVALS_EXPIRY_CHECK_SECONDS", 30.0, minimum=0)

# --- Chat engine (see docs/engine.md) ------------------------------------------------------
ASSISTANT_MAX_STEPS = env_int("ASSISTANT_MAX_STEPS", 8, minimum=1)
ASSISTANT_VALIDATION_RETRIES = env_int("ASSISTANT_VALIDATION_RETRIES", 2, minimum=0)
# Tool selection (docs/tools.md): above this many usable tools, each model turn is offered the
# TOOLS_SELECTION_K most relevant ones (BM25), the ones search_tools found, and search_tools.
TOOLS_SELECTION_THRESHOLD = env_int("TOOLS_SELECTION_THRESHOLD", 40, minimum=1)
TOOLS_SELECTION_K = env_int("TOOLS_SELECTION_K", 16, minimum=1)
ASSISTANT_SYSTEM_PROMPT = env_str(
    "ASSISTANT_SYSTEM_PROMPT",
    "You are Toolgate's assistant. Use the tools you are given when they help answer the user. "
    "Some tool calls wait for a human to approve them; when a call is denied, do not retry it, "
    "tell the user instead. Never claim an action succeeded unless its tool result says so.",
)

# --- Operations: logs, metrics, token budgets (docs/operations.md) --------------------------
from assistant.ops.logging import log_format, log_level, logging_config  # noqa: E402

LOG_FORMAT = log_format(DEBUG)  # json | text (default: text when DJANGO_DEBUG is on)
LOG_LEVEL = log_level()
LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)
# Bearer token Prometheus sends to GET /metrics; unset, only signed-in staff may read it.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Input + output tokens a user may use per UTC day; 0 = unlimited (admin: per-user budgets).
TOKEN_BUDGET_DAILY = env_int("TOKEN_BUDGET_DAILY", 0, minimum=0)

# --- LLM providers (see docs/providers.md) -------------------------------------------------
# Unset LLM_PROVIDER picks openai when OPENAI_API_KEY is set, else anthropic when
# ANTHROPIC_API_KEY is set, else the offline demo. Values are checked by assistant.providers.profiles.
LLM_PROVIDER = env_str("LLM_PROVIDER")  # openai | anthropic | openai_compatible | demo
LLM_MODEL = env_str("LLM_MODEL")
LLM_BASE_URL = env_str("LLM_BASE_URL")
LLM_API_KEY_ENV = env_str("LLM_API_KEY_ENV")  # the NAME of the variable holding the key
# Retries of a failed or broken model turn, owned by the engine (assistant/providers/retry.py):
# backoff from LLM_RETRY_BASE_DELAY doubling to LLM_RETRY_MAX_DELAY, with jitter; a stream
# silent for LLM_IDLE_TIMEOUT seconds counts as broken.
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 4, minimum=0)
LLM_RETRY_BASE_DELAY = env_float("LLM_RETRY_BASE_DELAY", 0.5, minimum=0)
LLM_RETRY_MAX_DELAY = env_float("LLM_RETRY_MAX_DELAY", 8.0, minimum=0)
LLM_IDLE_TIMEOUT = env_float("LLM_IDLE_TIMEOUT", 30.0, minimum=0.01)
LLM_TIMEOUT = env_float("LLM_TIMEOUT", 60.0, minimum=0.1)
LLM_FALLBACKS = env_str("LLM_FALLBACKS")  # profiles tried when the main one stays unavailable
LLM_CONTEXT_TOKENS = env_int("LLM_CONTEXT_TOKENS", 100_000, minimum=1000)  # history budget per request
LLM_PROFILES = env_str("LLM_PROFILES")  # JSON: {"name": {"provider": ..., "model": ...}, ...}

# --- Public API (docs/api.md) ----------------------------------------------------------------
# django-ninja as an app only so /api/docs serves its Swagger UI from our static files (no CDN).
INSTALLED_APPS = [*INSTALLED_APPS, "ninja"]

# --- Production (docs/deploy.md) -------------------------------------------------------------
# DATABASE_URL selects PostgreSQL (postgres://user:password@host:5432/name); unset keeps the
# embedded SQLite database above. Persistent connections are off by default, as Django advises
# under ASGI: each request's sync code runs in a thread of its own, so kept connections pile up
# instead of being reused (docs/deploy.md). Reuse needs a pool: PgBouncer in front.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    import dj_database_url

    _sqlite_options = DATABASES["default"]["OPTIONS"]
    DATABASES["default"] = dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0), conn_health_checks=True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = {**_sqlite_options, **DATABASES["default"].get("OPTIONS", {})}
    else:  # a database that is down fails a request in seconds, not after the OS's TCP timeout
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1))

# Celery redelivers a task when its worker dies (acks late, rejected on worker lost) and, with
# Redis, when it stays unacknowledged longer than the visibility timeout, even if its worker
# is alive and still running it. So the timeout must exceed the longest task: an approved tool
# call (its timeout) plus the rest of the run it resumes (model turns). A worker looks for
# tasks of dead workers every CELERY_RESTORE_INTERVAL seconds.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL", 60, minimum=1),
    "unacked_restore_throttle": 1,
}
CELERY_WORKER_CONCURRENCY = env_int("CELERY_CONCURRENCY", 2, minimum=1)
# Beat expires stale approval requests as often as the embedded timer would (0 there: 30 s).
CELERY_BEAT_SCHEDULE["expire-stale-approvals"]["schedule"] = APPROVALS_EXPIRY_CHECK_SECONDS or 30.0

# A run left ``running`` by a process that stopped mid-run is closed as failed ("interrupted")
# once untouched for this long: at start-up (``recover_runs --lease``) and every minute under
# Celery beat. It must exceed the longest model turn or tool call, or a live run is taken.
# The process driving a run renews its lease every RUN_HEARTBEAT_SECONDS (assistant/runs/heartbeat.py),
# so the lease only has to outlast a few missed beats, not the slowest model turn or tool call.
RUN_LEASE_SECONDS = env_int("RUN_LEASE_SECONDS", 60, minimum=30)
RUN_HEARTBEAT_SECONDS = env_float("RUN_HEARTBEAT_SECONDS", 15.0, minimum=0)
if RUN_HEARTBEAT_SECONDS and RUN_HEARTBEAT_SECONDS * 2 > RUN_LEASE_SECONDS:
    raise ImproperlyConfigured(
        f"RUN_HEARTBEAT_SECONDS ({RUN_HEARTBEAT_SECONDS:g}) must be at most half of RUN_LEASE_SECONDS "
        f"({RUN_LEASE_SECONDS}): a live run would be taken between two beats")
# A run whose driver died is continued by another (assistant/runs/recovery.py); one whose drivers
# keep dying this many times is closed as interrupted instead.
RUN_MAX_RECOVERIES = env_int("RUN_MAX_RECOVERIES", 3, minimum=0)
# The embedded server continues, at its first request, the runs its previous process left
# running (false: `recover_runs` closes them as interrupted, the old behaviour).
RUN_CONTINUE_ON_START = env_bool("RUN_CONTINUE_ON_START", True)
CELERY_BEAT_SCHEDULE["recover-interrupted-runs"] = {
    "task": "assistant.tasks.recover_interrupted_runs", "schedule": 60.0}

# How long a conversation's events stay replayable in Redis after its last event (seconds).
REALTIME_REPLAY_TTL = env_int("REALTIME_REPLAY_TTL", 3600, minimum=60)
# Connections to Redis a process may open per event loop (channel layer, event log). redis-py 8
# caps a pool at 100 and then fails commands at once: 200 sockets connecting together did.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 1000, minimum=10)
# A Redis restart must cost at most the commands in flight: every client retries a command
# that broke with its connection, and PINGs connections idle this long before use
# (assistant/ops/redis.py).
REDIS_RETRIES = env_int("REDIS_RETRIES", 16, minimum=0)
REDIS_HEALTH_CHECK_INTERVAL = env_int("REDIS_HEALTH_CHECK_INTERVAL", 10, minimum=0)
if REDIS_URL:
    from assistant.ops import redis as _redis_options

    # channels-redis waits for messages with a 5 s BZPOPMIN, and redis-py 8 gives every socket
    # a 5 s read timeout by default: an idle socket's receive loop then dies of a TimeoutError
    # whenever the client's timer fires before the server's empty reply arrives.
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [
        {"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5,
         "max_connections": REDIS_MAX_CONNECTIONS,
         **_redis_options.async_options(retries=REDIS_RETRIES,
                                        health_check_interval=REDIS_HEALTH_CHECK_INTERVAL)}]
    CACHES["default"]["OPTIONS"] = {
        "socket_connect_timeout": 5,
        **_redis_options.sync_options(retries=REDIS_RETRIES,
                                      health_check_interval=REDIS_HEALTH_CHECK_INTERVAL)}
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        _redis_options.broker_options(health_check_interval=REDIS_HEALTH_CHECK_INTERVAL))

# Static files: WhiteNoise serves what ``collectstatic`` gathered into STATIC_ROOT (pre-compressed),
# so Daphne needs no web server beside it; an async-capable subclass keeps requests on the event
# loop (assistant/ops/staticfiles.py). Without collectstatic (development) it finds nothing.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(STATIC_ROOT)))
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "assistant.ops.staticfiles.AsyncWhiteNoiseMiddleware")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# DJANGO_HTTPS=true: served over HTTPS by a TLS-terminating proxy that sets X-Forwarded-Proto
# (and strips it from clients). Cookies become Secure, plain HTTP is redirected (not the probes).
DJANGO_HTTPS = env_bool("DJANGO_HTTPS", False)
if DJANGO_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    # Strict-Transport-Security on every HTTPS response (0 turns it off); browsers remember it.
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)

# --- Browser security headers (docs/security.md) --------------------------------------------
# Content-Security-Policy on every response (django-csp): scripts, styles, images, fonts and
# connections (fetch, WebSocket: 'self' covers ws:/wss: to the same host) only from this
# site; no inline script or style attribute anywhere; a template that needs inline code
# marks it with nonce="{{ CSP_NONCE }}". Permissions-Policy turns off browser features
# the app never uses. Both come right after WhiteNoise (static files are not documents), before
# the rest, so error pages carry them too.
CONTENT_SECURITY_POLICY = content_security_policy(
    https=DJANGO_HTTPS, report_uri=env_str("CSP_REPORT_URI"))
PERMISSIONS_POLICY = {feature: [] for feature in (
    "accelerometer", "autoplay", "bluetooth", "browsing-topics", "camera", "display-capture",
    "encrypted-media", "geolocation", "gyroscope", "hid", "idle-detection", "magnetometer",
    "microphone", "midi", "payment", "publickey-credentials-get", "screen-wake-lock", "serial",
    "usb", "xr-spatial-tracking",
)}
_after_static = MIDDLEWARE.index("assistant.ops.staticfiles.AsyncWhiteNoiseMiddleware") + 1
MIDDLEWARE[_after_static:_after_static] = [
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
]

# --- Responses API and structured output (docs/providers.md, issue 16) -----------------------
# LLM_API=responses makes an openai profile use the Responses API instead of Chat Completions;
# LLM_STRUCTURED_OUTPUT says how an openai_compatible server is asked for JSON (extraction).
LLM_API = env_str("LLM_API")  # chat | responses (openai only); checked by providers.profiles
LLM_STRUCTURED_OUTPUT = env_str("LLM_STRUCTURED_OUTPUT")  # json_schema | json_object | tool | prompt
LLM_PREVIOUS_RESPONSE_ID = env_bool("LLM_PREVIOUS_RESPONSE_ID", False)  # Responses: chain, store=true
INSTALLED_APPS = [*INSTALLED_APPS, "assistant.extraction"]
# Extraction (docs/api.md, POST /api/v1/extract): corrections after an invalid answer, the
# longest text accepted, and the schemas known by name ("module:attr" or "name=module:attr").
EXTRACTION_MAX_CORRECTIONS = env_int("EXTRACTION_MAX_CORRECTIONS", 2, minimum=0)
EXTRACTION_MAX_TEXT_CHARS = env_int("EXTRACTION_MAX_TEXT_CHARS", 100_000, minimum=1)
EXTRACTION_SCHEMAS = env_list("EXTRACTION_SCHEMAS", [
    "assistant.extraction.examples:Order", "assistant.extraction.examples:Contact"])

# --- Attachments (issue 14; docs/ui.md) -------------------------------------------------------
# Files uploaded into a conversation land in the uploader's workspace (TOOLS_WORKSPACE_ROOT),
# under attachments/<conversation>/, where read_file reads them: so they are UTF-8 text, at
# most ATTACHMENTS_MAX_BYTES (default: what read_file reads), with one of these extensions.
ATTACHMENTS_MAX_BYTES = env_int("ATTACHMENTS_MAX_BYTES", TOOLS_FILE_MAX_BYTES, minimum=1)
ATTACHMENTS_EXTENSIONS = [e.lower().lstrip(".") for e in env_list("ATTACHMENTS_EXTENSIONS", [
    "txt", "md", "markdown", "rst", "csv", "tsv", "json", "jsonl", "yaml", "yml", "toml", "ini", "cfg",
    "xml", "html", "htm", "css", "js", "ts", "py", "rb", "go", "rs", "java", "c", "h", "cpp", "sh",
    "sql", "log", "diff", "patch", "tex"])]
ATTACHMENTS_MAX_PENDING = env_int("ATTACHMENTS_MAX_PENDING", 10, minimum=1)  # per message
