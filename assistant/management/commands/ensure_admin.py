"""Create the first administrator once, with a random password printed on the console.

``make run`` calls this on every start; it does nothing when any superuser exists, so a
password is printed only the first time and there is never a fixed default password.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'admin' superuser with a random password, if no superuser exists yet."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="admin@localhost")
        # Where the server will listen (`make run` passes its HOST and PORT), for the sign-in link.
        parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))

    def handle(self, *args: Any, username: str, email: str, host: str, port: int, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An administrator already exists; no account created.")
            return
        password = secrets.token_urlsafe(18)
        User.objects.create_superuser(username=username, email=email, password=password)
        bar = "=" * 64
        self.stdout.write(self.style.SUCCESS(
            f"{bar}\nCreated administrator account\n  username: {username}\n  password: {password}\n"
            f"Sign in at {admin_url(host, port)} — this password is shown only once.\n{bar}"
        ))


def admin_url(host: str, port: int) -> str:
    """The admin's address as a browser on this machine reaches it (a wildcard bind is local too)."""
    if host in ("", "0.0.0.0", "::", "[::]"):  # noqa: S104 -- not a bind: a wildcard's local address
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}/admin/"
