import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


@pytest.mark.django_db
def test_first_run_creates_one_admin_with_a_printed_random_password():
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    password = out.getvalue().split("password: ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password(password)
    assert len(password) >= 20


@pytest.mark.django_db
def test_passwords_differ_between_installations():
    out1, out2 = io.StringIO(), io.StringIO()
    call_command("ensure_admin", stdout=out1)
    first = out1.getvalue().split("password: ")[1].split()[0]
    get_user_model().objects.all().delete()
    call_command("ensure_admin", stdout=out2)
    assert first != out2.getvalue().split("password: ")[1].split()[0]


@pytest.mark.django_db
def test_later_runs_create_nothing_and_print_no_password():
    call_command("ensure_admin", stdout=io.StringIO())
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    assert "password" not in out.getvalue()
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
