"""A data directory created by the application itself, as ``make run`` would, for attacks.

It is made by real start-up code in a fresh interpreter started with a permissive umask
(022), so tests see what a deployment gets: ``manage.py migrate`` (the SQLite database),
the development secret key, a user whose name is a canary, the sample database, and a
file in that user's workspace written by the ``write_file`` tool.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_POPULATE = """
import sys, django
django.setup()
from django.contrib.auth import get_user_model
from tools.builtin.files import write_file
from tools.builtin.sql import ensure_database
from tools.context import ToolContext
user = get_user_model().objects.create_user(sys.argv[1], password="pw-" + sys.argv[1])
ensure_database()
write_file.fn(ToolContext(user=user), "secret.txt", sys.argv[1])
print(user.pk)
"""


@dataclass(frozen=True)
class DataDir:
    base: Path  # world-traversable (0755), like /var/lib or a home directory
    var: Path
    canary: str  # in the database (a username) and in the user's workspace file
    user_id: int

    @property
    def database(self) -> Path:
        return self.var / "db.sqlite3"

    @property
    def workspace_file(self) -> Path:
        return self.var / "workspaces" / str(self.user_id) / "secret.txt"


def app_environment(var: Path) -> dict[str, str]:
    skip = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SQLITE_PATH", "TOOLS_", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update({"DJANGO_SETTINGS_MODULE": "assistant.settings", "DJANGO_DEBUG": "true",
                "TOOLGATE_VAR_DIR": str(var), "LOG_FORMAT": "text"})
    return env


def run_app(var: Path, *args: str, umask: int = 0o022,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """``python *args`` in the project, as the app would start, under ``umask``."""
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=app_environment(var), capture_output=True,
        text=True, timeout=180, preexec_fn=lambda: os.umask(umask))
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def create_data_dir() -> DataDir:
    base = Path(tempfile.mkdtemp(prefix="toolgate-datadir-"))
    os.chmod(base, 0o755)
    var = base / "var"  # not there yet: the application creates it
    canary = f"canary-{uuid.uuid4().hex}"
    run_app(var, "manage.py", "migrate", "--noinput")
    user_id = int(run_app(var, "-c", _POPULATE, canary).stdout.split()[-1])
    return DataDir(base, var, canary, user_id)
