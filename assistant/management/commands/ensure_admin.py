"""Create the first administrator once, with a random password printed on the console.

``make run`` calls this on every start; it does nothing when any superuser exists, so a
password is printed only the first time and there is never a fixed default password.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a random password, if no superuser exists yet."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")

    def handle(self, *args: Any, username: str, email: str, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An administrator already exists; no account created.")
            return
        password = secrets.token_urlsafe(18)
        User.objects.create_superuser(username=username, email=email, password=password)
        bar = "=" * 64
        self.stdout.write(self.style.SUCCESS(
            f"{bar}\nCreated administrator account\n  username: {username}\n  password: {password}\n"
            f"Sign in at http://127.0.0.1:8000/admin/ — this password is shown only once.\n{bar}"
        ))
