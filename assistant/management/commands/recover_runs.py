"""Close runs left ``running`` by a server that stopped mid-run (see assistant/recovery.py).

``make run`` calls this before starting the embedded server: one process drives every run
there, so at start-up any run still marked running has nobody driving it and would block
its conversation for good. With several processes (production), ``--lease`` takes only
runs untouched for ``RUN_LEASE_SECONDS``, which is safe while other servers serve; ``make
run-prod`` does that, and Celery beat repeats it every minute. Waiting runs are left
alone: they resume when their approvals are decided.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from assistant.recovery import close_interrupted_runs


class Command(BaseCommand):
    help = "Mark runs left running by a stopped server as failed, so their conversations can go on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--lease", action="store_true",
            help="Only runs untouched for RUN_LEASE_SECONDS (safe while other processes serve runs).")

    def handle(self, *args: Any, **options: Any) -> None:
        closed = close_interrupted_runs(settings.RUN_LEASE_SECONDS if options["lease"] else None)
        self.stdout.write(f"{closed} interrupted run(s) closed.")
