"""Settings for the test suite: the real settings, with test-only defaults set first."""

import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("LOG_FORMAT", "json")  # the production format, whatever DJANGO_DEBUG says
os.environ.setdefault("SECRET_KEY", "tests-only-not-secret-" + "x" * 40)
# Servers a test starts (tests/live.py) continue interrupted runs only when it says so.
os.environ.setdefault("RUN_CONTINUE_ON_START", "false")
os.environ.setdefault("TOOLGATE_VAR_DIR", tempfile.mkdtemp(prefix="toolgate-tests-"))

from assistant.settings import *  # noqa: F403

ALLOWED_HOSTS = ["localhost", "testserver", "127.0.0.1"]
# A file, not SQLite's shared in-memory database: that one locks whole tables and fails
# concurrent writers at once ("table is locked") instead of letting them queue as the real
# database does, which concurrency tests (racing approvals, audit appends) need.
# With DATABASE_URL (PostgreSQL) the test database is the server's: pytest-django creates
# test_<name> there, and processes started by tests reach it by that name.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 -- as after collectstatic: WhiteNoise finds its directory
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
APPROVALS_EXPIRY_CHECK_SECONDS = 0  # tests expire requests explicitly
CELERY_BROKER_URL = None  # decisions are carried out in-process unless a test says otherwise
APPROVALS_NOTIFY_EMAIL = False  # notification tests turn it on; others send no mail in background
