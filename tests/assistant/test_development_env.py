"""After `make run`, the commands the README shows work as written (issue 14, bugs 2 and 3).

`make run` exports DJANGO_DEBUG=true for its own commands only; it also records it in
`var/development.env`, which settings.py reads (assistant/env.py), so `manage.py chat`,
`shell` and `createsuperuser` typed later in the same checkout find the same development
configuration. Production, which has no such file, still refuses to start without a key.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from assistant.env import load_recorded

ROOT = Path(__file__).resolve().parents[2]
# Variables a fresh shell on a fresh machine does not have (the suite's own included).
UNSET = ("DJANGO_DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL",
         "SQLITE_PATH", "CELERY_BROKER_URL", "DJANGO_ALLOWED_HOSTS", "LOG_FORMAT", "MAKEFLAGS", "MFLAGS",
         "MAKELEVEL", "HOST", "PORT")


def fresh_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in UNSET and not k.startswith(("LLM_", "OPENAI_", "ANTHROPIC_", "TOOLS_", "PYTEST"))}
    env.update(TOOLGATE_VAR_DIR=str(var_dir), **extra)
    return env


def readme_commands() -> list[str]:
    """The shell lines of the README's ``sh`` blocks that run manage.py (not make itself)."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if "manage.py" in line]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180)


@pytest.fixture(scope="module")
def after_make_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """`make run` on a fresh var dir, served until it answers, then stopped."""
    var_dir = tmp_path_factory.mktemp("fresh-var")
    port = free_port()
    env = fresh_env(var_dir, PORT=str(port))
    log = var_dir / "make-run.log"
    with log.open("wb") as out:
        make = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            assert make.poll() is None, f"make run exited with {make.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"make run did not serve in time:\n{log.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2) as page:
                    if page.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
    finally:
        os.killpg(make.pid, signal.SIGTERM)  # make and the daphne it started: the group we created
        try:
            make.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(10)
    return fresh_env(var_dir), log.read_text()


def test_the_readme_shows_the_terminal_chat():
    assert 'echo "what is 12*7" | .venv/bin/python manage.py chat --user admin' in readme_commands()


def test_the_readme_terminal_chat_works_as_written_after_make_run(after_make_run):
    env, _ = after_make_run
    for command in readme_commands():
        done = run_shell(command, env)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        assert "SECRET_KEY" not in done.stderr
    chat = run_shell('echo "what is 12*7" | .venv/bin/python manage.py chat --user admin', env)
    assert "84" in chat.stdout, chat.stdout + chat.stderr


def test_shell_createsuperuser_and_the_docs_commands_work_after_make_run(after_make_run):
    env, _ = after_make_run
    made = run_shell(".venv/bin/python manage.py createsuperuser --noinput --username carol "
                     "--email carol@example.com", {**env, "DJANGO_SUPERUSER_PASSWORD": "pw-carol-12345"})
    assert made.returncode == 0, made.stderr
    users = ("from django.contrib.auth.models import User; "
             "print(sorted(User.objects.values_list(\"username\", flat=True)))")
    shell = run_shell(f".venv/bin/python manage.py shell -c '{users}'", env)
    assert shell.returncode == 0, shell.stderr
    assert "['admin', 'carol']" in shell.stdout
    for command in (".venv/bin/python manage.py tools list", ".venv/bin/python manage.py audit verify"):
        done = run_shell(command, env)
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"


def test_make_run_prints_the_admin_address_with_its_own_port(after_make_run):
    _, log = after_make_run
    port = re.search(r"Sign in at http://127\.0\.0\.1:(\d+)/admin/", log)
    assert port is not None, log
    assert int(port.group(1)) != 8000 and f"-p {port.group(1)}" in log


def test_without_the_recorded_file_the_app_still_refuses_to_start_without_a_key(tmp_path):
    done = run_shell(".venv/bin/python manage.py check", fresh_env(tmp_path))
    assert done.returncode != 0
    assert "SECRET_KEY is not set and DJANGO_DEBUG is off" in done.stderr


def test_the_environment_wins_over_the_recorded_file(tmp_path):
    (tmp_path / "development.env").write_text("DJANGO_DEBUG=true\n")
    assert run_shell(".venv/bin/python manage.py check", fresh_env(tmp_path)).returncode == 0
    refused = run_shell(".venv/bin/python manage.py check", fresh_env(tmp_path, DJANGO_DEBUG="false"))
    assert "SECRET_KEY is not set and DJANGO_DEBUG is off" in refused.stderr


def test_a_recorded_file_may_set_only_what_make_run_records(tmp_path, monkeypatch):
    path = tmp_path / "development.env"
    path.write_text("# comment\nSECRET_KEY=guessable\n")
    with pytest.raises(ImproperlyConfigured, match=r"line 2: expected one of DJANGO_DEBUG as NAME=value"):
        load_recorded(path)
    monkeypatch.setenv("DJANGO_DEBUG", "")  # restored after the test, whatever load_recorded sets
    monkeypatch.delenv("DJANGO_DEBUG")
    path.write_text("DJANGO_DEBUG=true\n")
    assert load_recorded(path) == {"DJANGO_DEBUG": "true"}
    assert os.environ["DJANGO_DEBUG"] == "true"
    assert load_recorded(tmp_path / "missing.env") == {}


def test_ensure_admin_prints_the_port_it_is_given(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ensure_admin", host="0.0.0.0", port=8123, stdout=out)
    assert "Sign in at http://127.0.0.1:8123/admin/" in out.getvalue()

