"""``manage.py audit verify`` and ``manage.py audit export``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from approvals import audit
from approvals.audit import Entry
from approvals.management.commands.audit import parse_since
from approvals.models import AuditEvent
from tests.databases import shared_database_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def log() -> list[AuditEvent]:
    return audit.record(
        Entry("call.proposed", tool_call_id=1, tool_name="send_email", user_id=3, username="alice",
              conversation_id="c-1", data={"raw_arguments_sha256": "ab" * 32, "text": "héllo, \"world\"\n"}),
        Entry("call.succeeded", tool_call_id=1, tool_name="send_email", user_id=3,
              username="=cmd|' /C calc'!A0", conversation_id="c-1", outcome="succeeded",
              data={"duration_ms": 12.5}),
    )


def run(*argv: str) -> tuple[int, str, str]:
    """The command, with the exit status ``manage.py`` would give (a CommandError's returncode)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", *argv, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code, err = exc.returncode, io.StringIO(str(exc))
    return code, out.getvalue(), err.getvalue()


def tamper() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {AuditEvent._meta.db_table} SET outcome = 'failed' WHERE seq = 2")


# -- verify ------------------------------------------------------------------------------------


def test_verify_exits_zero_and_prints_the_head_when_the_chain_is_intact(log):
    code, out, err = run("verify")
    assert code == 0 and err == ""
    assert "audit chain intact: 2 events verified" in out
    assert f"--anchor 2:{log[-1].hash}" in out


def test_verify_exits_one_naming_the_first_broken_link(log):
    tamper()
    code, out, err = run("verify")
    assert code == 1 and out == ""
    assert err.startswith("audit chain BROKEN after 1 good events: broken link at #2: "
                          "its content does not match its hash")


def test_verify_checks_anchors_and_refuses_a_malformed_one(log):
    code, _, _ = run("verify", "--anchor", f"2:{log[-1].hash}")
    assert code == 0
    code, _, err = run("verify", "--anchor", f"2:{'e' * 64}")
    assert code == 1 and "broken link at #2: its hash is not the anchored eeeeeeeeeeee…" in err
    with pytest.raises(CommandError, match=r"--anchor must be SEQ:HASH, e\.g\. 1042:0+ .* got 'nonsense'"):
        call_command("audit", "verify", "--anchor", "nonsense")


def test_verify_of_an_empty_log_succeeds():
    code, out, _ = run("verify")
    assert code == 0 and "0 events verified" in out


# -- export ------------------------------------------------------------------------------------


def test_jsonl_export_is_every_event_exactly_as_stored_and_verifies_offline(log):
    out = io.StringIO()
    call_command("audit", "export", "--format", "jsonl", stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["seq"] for r in rows] == [1, 2]
    assert rows[0] == audit.as_row(AuditEvent.objects.get(seq=1))
    assert list(rows[0]) == list(audit.COLUMNS)
    rebuilt = [AuditEvent(**{**r, "created_at": datetime.fromisoformat(r["created_at"])}) for r in rows]
    assert audit.verify(rebuilt).ok  # anyone holding the export can check it


def test_csv_export_has_a_header_and_the_data_column_as_json(log):
    out = io.StringIO()
    call_command("audit", "export", "--format", "csv", stdout=out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == list(audit.COLUMNS) and len(rows) == 3
    first = dict(zip(rows[0], rows[1], strict=True))
    assert json.loads(first["data"]) == log[0].data
    assert first["hash"] == log[0].hash and first["tool_call_id"] == "1" and first["outcome"] == ""


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_defused(log):
    out = io.StringIO()
    call_command("audit", "export", "--format", "csv", stdout=out)
    second = list(csv.DictReader(io.StringIO(out.getvalue())))[1]
    assert second["username"] == "'=cmd|' /C calc'!A0"


def test_since_takes_a_date_or_a_date_time(log):
    cut = timezone.now()
    [later] = audit.record(Entry("call.started", tool_call_id=2))

    def seqs(since: str) -> list[int]:
        out = io.StringIO()
        call_command("audit", "export", "--since", since, stdout=out)
        return [json.loads(line)["seq"] for line in out.getvalue().splitlines()]

    assert seqs(cut.isoformat()) == [later.seq]
    assert seqs(timezone.localdate().isoformat()) == [1, 2, 3]
    assert seqs((timezone.localdate() + timedelta(days=1)).isoformat()) == []
    assert seqs(cut.strftime("%Y-%m-%dT%H:%M:%S.%f")) == [later.seq]  # naive: the current time zone


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-02-30", "21/11/2026", ""])
def test_a_bad_since_date_is_a_clear_error(bad):
    with pytest.raises(CommandError, match=r"--since must be a date \(YYYY-MM-DD\) or an ISO 8601 date-time"):
        parse_since(bad)
    with pytest.raises(CommandError, match=f"got '{bad}'"):
        call_command("audit", "export", "--since", bad)


def test_export_to_a_file_reports_the_count_on_stderr(log, tmp_path):
    target = tmp_path / "audit.csv"
    err = io.StringIO()
    call_command("audit", "export", "--format", "csv", "--output", str(target), stderr=err)
    assert f"exported 2 events to {target}" in err.getvalue()
    text = target.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(audit.COLUMNS) and "héllo" in text


def test_export_to_an_unwritable_place_is_a_clear_error(log, tmp_path):
    with pytest.raises(CommandError, match=r"cannot write .*nowhere/audit.jsonl: No such file or directory"):
        call_command("audit", "export", "--output", str(tmp_path / "nowhere" / "audit.jsonl"))


# -- the real command line ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_manage_py_exits_zero_when_intact_and_one_when_tampered():
    """``manage.py audit`` in a child process, on the (committed) test database."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **shared_database_env(),
           "LOG_LEVEL": "ERROR", "PYTHONPATH": str(root)}

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "manage.py", "audit", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)

    for kind in ("call.proposed", "call.started", "call.succeeded"):
        audit.record(Entry(kind, tool_name="send_email", username="alice"))
    intact = manage("verify")
    assert (intact.returncode, intact.stderr) == (0, "")
    assert intact.stdout.startswith("audit chain intact: 3 events verified; head #3 ")
    tamper()
    broken = manage("verify")
    assert broken.returncode == 1 and broken.stdout == ""
    assert "broken link at #2: its content does not match its hash (the event was edited)" in broken.stderr
    exported = manage("export", "--format", "csv", "--since", "2000-01-01")
    assert exported.returncode == 0 and len(exported.stdout.splitlines()) == 4
