"""Bad notification settings stop start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "SECRET_KEY": "x" * 50, "DJANGO_DEBUG": "false", **env}
    return subprocess.run([sys.executable, "-c", "import assistant.settings"], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("env", "message"), [
    ({"APPROVALS_WEBHOOK_FORMAT": "teams"}, "APPROVALS_WEBHOOK_FORMAT='teams': use 'toolgate' or 'slack'."),
    ({"APPROVALS_WEBHOOK_URL": "https://hooks.example.com/x"},
     "APPROVALS_WEBHOOK_URL is set but APPROVALS_WEBHOOK_SECRET is empty"),
    ({"APPROVALS_WEBHOOK_URL": "file:///etc/passwd", "APPROVALS_WEBHOOK_SECRET": "s"},
     "APPROVALS_WEBHOOK_URL='file:///etc/passwd': use an http(s) URL."),
    ({"APPROVALS_REMIND_BEFORE": "-1"}, "APPROVALS_REMIND_BEFORE"),
])
def test_a_bad_setting_stops_start_up_naming_it(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_slack_webhook_needs_no_secret_and_good_settings_load():
    assert load_settings(APPROVALS_WEBHOOK_URL="https://hooks.slack.com/services/T/B/X",
                         APPROVALS_WEBHOOK_FORMAT="slack").returncode == 0
