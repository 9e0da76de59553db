"""Settings for the test suite: the real settings, with test-only defaults set first."""

import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "tests-only-not-secret-" + "x" * 40)
os.environ.setdefault("TOOLGATE_VAR_DIR", tempfile.mkdtemp(prefix="toolgate-tests-"))

from assistant.settings import *  # noqa: F403

ALLOWED_HOSTS = ["localhost", "testserver", "127.0.0.1"]
# A file, not SQLite's shared in-memory database: that one locks whole tables and fails
# concurrent writers at once ("table is locked") instead of letting them queue as the real
# database does, which concurrency tests (racing approvals, audit appends) need.
DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
APPROVALS_EXPIRY_CHECK_SECONDS = 0  # tests expire requests explicitly
CELERY_BROKER_URL = None  # decisions are carried out in-process unless a test says otherwise
