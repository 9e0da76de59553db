"""The admin's token usage report (per user, per profile) and per-user budgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission

from assistant.models import UserBudget
from assistant.ops import budgets
from assistant.ops.usage_admin import usage_report
from tests.assistant.ops.test_budgets import spend

pytestmark = pytest.mark.django_db

URL = "/admin/assistant/tokenusage/"


@pytest.fixture
def history(user, other_user):
    """alice: 1,000 today (demo), 2,000 three days ago (fake), 5,000 thirty days ago (demo);
    mallory: 700 today (fake)."""
    today = budgets.day_start() + timedelta(minutes=1)
    spend(user, 1_000, at=today, profile="demo")
    spend(user, 2_000, at=today - timedelta(days=3), profile="fake")
    spend(user, 5_000, at=today - timedelta(days=30), profile="demo")
    spend(other_user, 700, at=today, profile="fake")


def test_the_report_sums_today_the_last_7_days_and_all_time_per_user_and_profile(history, settings):
    settings.TOKEN_BUDGET_DAILY = 50_000
    report = usage_report()
    users = {row.label: (row.today, row.week, row.total, row.runs, row.limit) for row in report["users"]}
    assert users == {"alice": (1_000, 3_000, 8_000, 3, 50_000), "mallory": (700, 700, 700, 1, 50_000)}
    profiles = {row.label: (row.today, row.week, row.total, row.runs) for row in report["profiles"]}
    assert profiles == {"demo": (1_000, 1_000, 6_000, 2), "fake": (700, 2_700, 2_700, 2)}
    assert [row.label for row in report["users"]] == ["alice", "mallory"]  # heaviest first


def test_the_week_is_today_and_the_six_days_before(user):
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    spend(user, 10, at=datetime(2025, 3, 4, 0, 0, tzinfo=UTC))  # 6 days before today: in
    spend(user, 20, at=datetime(2025, 3, 3, 23, 59, tzinfo=UTC))  # 7 days before: out
    [row] = usage_report(now)["users"]
    assert (row.week, row.total) == (10, 30)


def test_a_per_user_budget_is_shown_in_place_of_the_default(history, user, settings):
    settings.TOKEN_BUDGET_DAILY = 0
    UserBudget.objects.create(user=user, daily_tokens=1_500)
    limits = {row.label: row.limit for row in usage_report()["users"]}
    assert limits == {"alice": 1_500, "mallory": 0}


def test_the_admin_page_shows_the_report(admin_client, history):
    response = admin_client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Token usage" in page and "Per user" in page and "Per model profile" in page
    alice_row = page.split("<td>alice</td>", 1)[1].split("</tr>", 1)[0]
    assert [cell.strip() for cell in alice_row.replace("</td>", "").split("<td>") if cell.strip()] == [
        "1,000", "3,000", "8,000", "3", "unlimited"]


def test_the_report_is_read_only(admin_client):
    assert admin_client.get(URL + "add/").status_code == 403


def test_staff_need_the_view_permission_and_others_are_sent_to_log_in(client, django_user_model):
    assert client.get(URL).status_code == 302
    staff = django_user_model.objects.create_user("clerk", "clerk@example.com", "pw-clerk-123", is_staff=True)
    client.force_login(staff)
    assert client.get(URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_tokenusage"))
    assert client.get(URL).status_code == 200


def test_an_admin_sets_a_users_budget_and_sees_todays_usage(admin_client, user, history):
    response = admin_client.post("/admin/assistant/userbudget/add/", {"user": user.pk, "daily_tokens": 2_500})
    assert response.status_code == 302
    assert UserBudget.objects.get(user=user).daily_tokens == 2_500
    assert budgets.limit_for(user) == 2_500
    listing = admin_client.get("/admin/assistant/userbudget/").content.decode()
    assert "alice" in listing and "1000" in listing.replace(",", "")
