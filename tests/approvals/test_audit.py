"""The audit log is append-only and hash-chained: tampering behind the app's back is found.

Tampering is done the way an intruder would, with raw SQL that bypasses the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from approvals import audit
from approvals.audit import Entry
from approvals.models import AuditEvent, AuditHead, PolicyRule, ToolPolicy
from tests.databases import shared_database_env
from tools.models import ToolCall

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
TABLE = AuditEvent._meta.db_table
HEAD_TABLE = AuditHead._meta.db_table
COLUMNS = ", ".join((*audit.HASHED_FIELDS, "hash"))


def sql(query: str, params: tuple[Any, ...] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(query.format(t=TABLE, h=HEAD_TABLE), params)


def stored(seq: int) -> AuditEvent:
    return AuditEvent.objects.get(seq=seq)


def rehash(seq: int) -> str:
    """Give the stored row at ``seq`` the hash its stored content deserves (a careful forger)."""
    value = audit.compute_hash(stored(seq))
    sql("UPDATE {t} SET hash = %s WHERE seq = %s", (value, seq))
    return value


@pytest.fixture
def chain() -> list[AuditEvent]:
    """Five events, appended one call at a time as the app does."""
    events = [audit.record(Entry("call.proposed", tool_call_id=i, tool_name="send_email", user_id=7,
                                 username="alice", conversation_id="c-1", data={"n": i}))[0]
              for i in range(1, 6)]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert audit.verify().ok
    return events


# -- appending ---------------------------------------------------------------------------------


def test_appends_are_numbered_and_each_links_to_the_one_before():
    first = audit.record(Entry("a"))
    batch = audit.record(Entry("b"), Entry("c", data={"x": [1, 2]}))
    events = first + batch
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == audit.GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert all(e.hash == audit.compute_hash(e) for e in AuditEvent.objects.all())
    assert {e.pk: e.seq for e in events} == dict(AuditEvent.objects.values_list("pk", "seq"))
    head = AuditHead.objects.get()
    assert (head.seq, head.hash) == (3, events[-1].hash)
    assert audit.record() == []


def test_time_never_goes_backwards_along_the_chain():
    for i in range(20):
        audit.record(Entry("tick", data={"i": i}))
    times = list(AuditEvent.objects.order_by("seq").values_list("created_at", flat=True))
    assert times == sorted(times)


def test_values_that_are_not_plain_json_still_verify_after_a_round_trip():
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    [event] = audit.record(Entry("odd", data={"when": moment, "price": Decimal("9.99"), 3: ("a", "b"),
                                              "nested": {"z": 1, "a": [None, True, 1.5]}}))
    assert stored(event.seq).data == {"when": "2026-01-02 03:04:05.678901+00:00", "price": "9.99",
                                      "3": ["a", "b"], "nested": {"z": 1, "a": [None, True, 1.5]}}
    assert audit.verify().ok


def test_over_long_texts_are_cut_to_their_column_and_still_verify():
    audit.record(Entry("k" * 100, tool_name="t" * 100, username="u" * 300, actor="a" * 300,
                       conversation_id="c" * 100, outcome="o" * 100))
    event = AuditEvent.objects.get()
    lengths = (len(event.kind), len(event.tool_name), len(event.username), len(event.outcome))
    assert lengths == (40, 64, 150, 30)
    assert audit.verify().ok


def test_each_event_is_stored_exactly_as_it_was_hashed_whatever_its_content():
    """Appends hash and insert the values ``_event`` prepared without preparing them again:
    every stored row must still read back as the event that was hashed."""
    hostile = "a\x00b\ud800c"
    appended = audit.record(
        Entry("call.proposed", tool_call_id=2**62, tool_name="t\x00" * 40, user_id=-1, username=hostile,
              actor="a" * 300, conversation_id=hostile, outcome="", data={"k\x00": (hostile, 1.5, None)}),
        Entry("call.validated", data={}), Entry("call.started", outcome="allowed", data={"n": [True, {}]}))
    for event in appended:
        row = stored(event.seq)
        assert [getattr(row, name) for name in audit.HASHED_FIELDS] == [
            getattr(event, name) for name in audit.HASHED_FIELDS]
        assert row.hash == event.hash == audit.compute_hash(row)
    assert stored(1).data == {"k\ufffd": ["a\ufffdb\ufffdc", 1.5, None]}
    assert audit.verify().ok


def test_an_append_locks_inserts_and_moves_the_head_in_three_statements_or_two_on_postgresql():
    audit.record(Entry("first"))  # the head row exists from here on
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        audit.record(Entry("call.proposed"), Entry("call.validated"), Entry("call.started"))
    statements = [q["sql"] for q in queries.captured_queries]
    expected = 2 if connection.vendor == "postgresql" else 3
    assert len(statements) == expected, statements
    head = AuditHead.objects.get()
    assert (head.seq, head.hash) == (4, stored(4).hash)
    assert audit.verify().ok


def test_an_append_larger_than_one_insert_moves_the_head_once_past_its_last_event():
    size = audit._ROWS_PER_INSERT * 2 + 7
    events = audit.record(*(Entry("bulk", data={"i": i}) for i in range(size)))
    assert [e.seq for e in events] == list(range(1, size + 1))
    assert len({e.pk for e in events}) == size
    head = AuditHead.objects.get()
    assert (head.seq, head.hash) == (size, events[-1].hash)
    audit.record(Entry("after"))
    assert audit.verify().ok


def test_events_recorded_in_a_transaction_that_rolls_back_leave_no_trace(chain):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(Entry("call.proposed"), Entry("call.started"))
        raise RuntimeError("the ToolCall write failed")
    assert AuditEvent.objects.count() == 5 and AuditHead.objects.get().seq == 5
    assert audit.record(Entry("next"))[0].seq == 6
    assert audit.verify().ok


def test_a_missing_head_is_reported_and_the_next_append_continues_the_chain(chain):
    AuditHead.objects.all().delete()
    verdict = audit.verify()
    assert not verdict.ok and "head row is missing" in verdict.message
    [event] = audit.record(Entry("after"))
    assert (event.seq, event.prev_hash) == (6, chain[-1].hash)
    assert audit.verify().ok


def test_an_empty_log_verifies():
    verdict = audit.verify()
    assert verdict.ok and verdict.checked == 0


# -- the model refuses every other write -------------------------------------------------------


def test_events_cannot_be_updated_or_deleted_through_the_orm(chain):
    event = stored(3)
    with pytest.raises(PermissionError, match="append-only: they cannot be updated"):
        AuditEvent.objects.filter(seq=3).update(outcome="forged")
    with pytest.raises(PermissionError, match="append-only: they cannot be updated"):
        AuditEvent.objects.bulk_update([event], ["outcome"])
    with pytest.raises(PermissionError, match="append-only: they cannot be deleted"):
        AuditEvent.objects.filter(seq=3).delete()
    with pytest.raises(PermissionError, match="append-only: they cannot be deleted"):
        AuditEvent.objects.all().delete()
    event.outcome = "forged"
    with pytest.raises(PermissionError, match="append-only: they cannot be changed"):
        event.save()
    with pytest.raises(PermissionError, match="append-only: they cannot be deleted"):
        event.delete()
    assert stored(3).outcome == "" and AuditEvent.objects.count() == 5
    assert audit.verify().ok


def test_events_can_only_be_added_through_record(chain):
    forged = AuditEvent(seq=6, kind="forged", prev_hash=chain[-1].hash, hash="f" * 64)
    with pytest.raises(PermissionError, match=r"add them with approvals\.audit\.record\(\)"):
        forged.save()
    with pytest.raises(PermissionError, match=r"add them with approvals\.audit\.record\(\)"):
        AuditEvent.objects.create(seq=6, kind="forged", prev_hash=chain[-1].hash, hash="f" * 64)
    with pytest.raises(PermissionError, match=r"add them with approvals\.audit\.record\(\)"):
        AuditEvent.objects.bulk_create([forged])
    assert AuditEvent.objects.count() == 5


def test_nobody_can_even_be_granted_a_permission_to_add_change_or_delete_events():
    permissions = Permission.objects.filter(content_type__app_label="approvals",
                                            content_type__model="auditevent")
    codenames = set(permissions.values_list("codename", flat=True))
    assert codenames == {"view_auditevent"}


def test_deleting_the_user_or_the_tool_call_cannot_cascade_into_the_log(user, chain):
    assert [f.name for f in AuditEvent._meta.get_fields() if f.is_relation] == []
    record = ToolCall.objects.create(call_id="c", user=user, username="alice", tool_name="send_email",
                                     status=ToolCall.Status.SUCCEEDED)
    audit.record(Entry("call.succeeded", tool_call_id=record.pk, user_id=user.pk, username="alice"))
    record.delete()
    user.delete()
    assert AuditEvent.objects.count() == 6
    assert AuditEvent.objects.get(seq=6).username == "alice"
    assert audit.verify().ok


# -- verify finds tampering done behind the app's back -----------------------------------------


def test_an_edited_row_is_the_first_broken_link(chain):
    sql("UPDATE {t} SET data = %s WHERE seq = 3", (json.dumps({"n": 300}),))
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 3 and verdict.checked == 2
    assert verdict.message == "broken link at #3: its content does not match its hash (the event was edited)"


@pytest.mark.parametrize("column, value", [
    ("outcome", "succeeded"), ("username", "mallory"), ("actor", "root"), ("kind", "call.denied"),
    ("tool_call_id", 99), ("created_at", "2020-01-01 00:00:00"),
])
def test_an_edit_to_any_hashed_column_is_found(chain, column, value):
    sql(f"UPDATE {{t}} SET {column} = %s WHERE seq = 4", (value,))
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 4


def test_an_edit_that_also_recomputes_the_rows_hash_breaks_the_next_link(chain):
    sql("UPDATE {t} SET data = %s WHERE seq = 2", (json.dumps({"n": 200}),))
    rehash(2)
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 3
    assert "its prev_hash does not match the hash of event #2" in verdict.message


def test_a_row_deleted_from_the_middle_is_named(chain):
    sql("DELETE FROM {t} WHERE seq = 3")
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 4 and verdict.checked == 2
    assert "expected event #3 next (event #3 is missing" in verdict.message


def test_the_first_row_deleted_is_named(chain):
    sql("DELETE FROM {t} WHERE seq = 1")
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 2 and "event #1 is missing" in verdict.message


def test_a_deleted_row_hidden_by_renumbering_breaks_the_link(chain):
    sql("DELETE FROM {t} WHERE seq = 3")
    sql("UPDATE {t} SET seq = seq + 1000 WHERE seq > 3")
    sql("UPDATE {t} SET seq = seq - 1001 WHERE seq > 1000")
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 3 and "prev_hash does not match" in verdict.message


def test_the_newest_row_deleted_is_found_through_the_head(chain):
    sql("DELETE FROM {t} WHERE seq = 5")
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 5 and verdict.checked == 4
    assert "the chain ends at #4 but the head says #5" in verdict.message


def test_an_appended_row_with_a_forged_hash_is_found(chain):
    sql(f"INSERT INTO {{t}} ({COLUMNS}) VALUES (6, %s, 'approval.decided', 5, 'send_email', 7, 'alice', "
        "'bob', 'c-1', 'approved', '{{}}', %s, %s)", ("2026-01-01 00:00:00", chain[-1].hash, "f" * 64))
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 6 and "the event was edited" in verdict.message


def _insert_at_three(hash_value: str) -> None:
    sql("UPDATE {t} SET seq = seq + 1000 WHERE seq >= 3")
    sql("UPDATE {t} SET seq = seq - 999 WHERE seq >= 1000")
    sql(f"INSERT INTO {{t}} ({COLUMNS}) VALUES (3, %s, 'approval.decided', 2, 'send_email', 7, 'alice', "
        "'bob', 'c-1', 'approved', '{{}}', %s, %s)", ("2026-01-01 00:00:00", stored(2).hash, hash_value))


def test_a_row_inserted_in_the_middle_with_a_forged_hash_is_found(chain):
    _insert_at_three("f" * 64)
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 3 and "the event was edited" in verdict.message


def test_a_row_inserted_with_a_correct_hash_for_its_place_breaks_the_next_link(chain):
    _insert_at_three("f" * 64)
    rehash(3)
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 4 and verdict.checked == 3
    assert "its prev_hash does not match the hash of event #3" in verdict.message


def test_reordered_rows_are_found(chain):
    sql("UPDATE {t} SET seq = 1000 WHERE seq = 2")
    sql("UPDATE {t} SET seq = 2 WHERE seq = 3")
    sql("UPDATE {t} SET seq = 3 WHERE seq = 1000")
    verdict = audit.verify()
    assert not verdict.ok and verdict.first_bad_seq == 2 and "prev_hash does not match" in verdict.message


def test_a_chain_rewritten_with_fresh_hashes_is_caught_by_an_anchor_noted_earlier(chain):
    noted = audit.verify()
    assert noted.ok and noted.head_hash == chain[-1].hash
    sql("UPDATE {t} SET data = %s WHERE seq = 3", (json.dumps({"n": 300}),))
    for seq in (3, 4, 5):  # a forger with database access recomputes everything after the edit
        sql("UPDATE {t} SET prev_hash = %s WHERE seq = %s", (stored(seq - 1).hash, seq))
        rehash(seq)
    sql("UPDATE {h} SET hash = %s", (stored(5).hash,))
    assert audit.verify().ok  # the chain alone cannot tell: that is what anchors are for
    verdict = audit.verify(anchors={5: noted.head_hash})
    assert not verdict.ok and verdict.first_bad_seq == 5
    assert "is not the anchored" in verdict.message and "rewritten" in verdict.message


def test_an_anchor_past_the_end_means_the_newest_events_were_deleted(chain):
    sql("DELETE FROM {t} WHERE seq >= 4")
    sql("UPDATE {h} SET seq = 3, hash = %s", (stored(3).hash,))
    assert audit.verify().ok
    verdict = audit.verify(anchors={5: chain[-1].hash})
    assert not verdict.ok and verdict.first_bad_seq == 5 and "the anchored event is gone" in verdict.message


# -- events written outside the pipeline -------------------------------------------------------


def test_policy_changes_record_who_changed_what_from_what_to_what(django_user_model):
    admin = django_user_model.objects.create_user("root", is_staff=True)
    ops, finance = Group.objects.create(name="ops"), Group.objects.create(name="finance")
    tool_policy = ToolPolicy.objects.create(tool_name="send_email", approval="by_risk")
    event = audit.policy_changed(admin, tool_policy, "changed", {
        "approval": ["by_risk", "always"],
        "allowed_groups": [[ops, finance], Group.objects.filter(pk__in=[ops.pk])],
        "updated_at": [datetime(2026, 1, 2, tzinfo=UTC), None],
    })
    assert (event.kind, event.outcome, event.actor, event.username, event.user_id, event.tool_name) == (
        "policy.changed", "changed", "root", "root", admin.pk, "send_email")
    assert stored(event.seq).data == {
        "model": "approvals.toolpolicy", "object_id": tool_policy.pk, "object": "send_email",
        "action": "changed", "changes": {"approval": ["by_risk", "always"],
                                         "allowed_groups": [["finance", "ops"], ["ops"]],
                                         "updated_at": ["2026-01-02T00:00:00+00:00", None]}}
    assert audit.verify().ok


def test_a_deleted_policy_is_recorded_whole_with_its_rules_and_groups():
    tool_policy = ToolPolicy.objects.create(tool_name="send_email", approval="always")
    tool_policy.allowed_groups.add(Group.objects.create(name="ops"))
    PolicyRule.objects.create(policy=tool_policy, name="outside", argument="to", operator="email_outside",
                              value="example.com", action="deny")
    event = audit.policy_changed("root", tool_policy, "deleted")
    tool_policy.delete()
    snapshot = stored(event.seq).data["deleted"]
    assert snapshot["tool_name"] == "send_email" and snapshot["approval"] == "always"
    assert snapshot["allowed_groups"] == ["ops"]
    assert [(r["name"], r["operator"], r["value"], r["action"]) for r in snapshot["rules"]] == [
        ("outside", "email_outside", "example.com", "deny")]
    assert (event.actor, event.user_id) == ("root", None)


def test_a_rule_change_is_filed_under_its_tools_name():
    rule = PolicyRule.objects.create(policy=ToolPolicy.objects.create(tool_name="web_fetch"), name="r",
                                     argument="url", operator="contains", value="internal")
    event = audit.policy_changed("root", rule, "changed", {"value": ["internal", "intranet"]})
    assert event.tool_name == "web_fetch" and event.data["model"] == "approvals.policyrule"


# -- concurrency -------------------------------------------------------------------------------


def hammer(threads: int, appends: int) -> list[str]:
    """``threads`` threads, started together, each appending two events at once ``appends``
    times; the errors they met. Also run in child processes (below)."""
    from django.db import connection as conn

    errors: list[str] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        worker = f"{os.getpid()}-{n}"
        try:
            start.wait()
            for i in range(appends):
                audit.record(Entry("test.concurrent", data={"worker": worker, "i": i}),
                             Entry("test.concurrent.pair", data={"worker": worker, "i": i}))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            conn.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


def assert_one_unbroken_chain(expected: int) -> None:
    rows = list(AuditEvent.objects.order_by("seq").values("seq", "kind", "data"))
    assert [r["seq"] for r in rows] == list(range(1, expected + 1))
    for first, second in zip(rows[::2], rows[1::2], strict=True):  # a record() call's events stay adjacent
        assert (first["kind"], second["kind"]) == ("test.concurrent", "test.concurrent.pair")
        assert first["data"] == second["data"]
    assert len({(r["data"]["worker"], r["data"]["i"]) for r in rows}) == expected // 2
    verdict = audit.verify()
    assert verdict.ok, verdict.message


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_threads_never_share_a_seq_or_break_the_chain():
    assert hammer(threads=8, appends=15) == []
    assert_one_unbroken_chain(8 * 15 * 2)


HAMMER = (
    "import json, django; django.setup()\n"
    "from tests.approvals.test_audit import hammer\n"
    "print(json.dumps(hammer({threads}, {appends})))\n"
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_several_processes_keep_one_chain():
    """Three processes of four threads each — the web server and workers of a deployment —
    appending to the test database at once (its file, or the PostgreSQL test database)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **shared_database_env(),
           "LOG_LEVEL": "ERROR", "PYTHONPATH": str(ROOT)}
    threads, appends, processes = 4, 15, 3
    children = [subprocess.Popen([sys.executable, "-c", HAMMER.format(threads=threads, appends=appends)],
                                 cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(processes)]
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == []
    assert_one_unbroken_chain(threads * appends * processes * 2)
