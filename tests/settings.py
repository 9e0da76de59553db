"""Settings for the test suite: the real settings, with test-only defaults set first."""

import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "tests-only-not-secret-" + "x" * 40)
os.environ.setdefault("TOOLGATE_VAR_DIR", tempfile.mkdtemp(prefix="toolgate-tests-"))

from assistant.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
