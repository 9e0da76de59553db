"""Start-up behaviour of the settings module, checked in fresh interpreters."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_DEBUG")}
    clean.update({"DJANGO_SETTINGS_MODULE": "assistant.settings", "TOOLGATE_VAR_DIR": str(tmp_path)})
    clean.update(env)
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True,
                          text=True, timeout=60)


def test_debug_off_without_secret_key_refuses_to_start(tmp_path):
    result = load_settings(tmp_path, DJANGO_DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is not set and DJANGO_DEBUG is off" in result.stderr


def test_a_bad_boolean_stops_start_up_with_the_variable_named(tmp_path):
    result = load_settings(tmp_path, DJANGO_DEBUG="maybe")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_development_generates_a_secret_key_once_into_a_private_file(tmp_path):
    first = load_settings(tmp_path, DJANGO_DEBUG="true")
    second = load_settings(tmp_path, DJANGO_DEBUG="true")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "secret_key"
    assert first.stdout.strip() == second.stdout.strip() == key_file.read_text().strip()
    assert len(key_file.read_text().strip()) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600


def test_the_generated_key_file_is_git_ignored():
    ignored = subprocess.run(["git", "check-ignore", "-q", "var/secret_key"], cwd=ROOT)
    assert ignored.returncode == 0


def test_an_explicit_secret_key_is_used_as_given(tmp_path):
    result = load_settings(tmp_path, DJANGO_DEBUG="false", SECRET_KEY="k" * 60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "k" * 60
    assert not (tmp_path / "secret_key").exists()
