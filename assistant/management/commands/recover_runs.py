"""Continue runs left ``running`` by a process that stopped mid-run (see assistant/runs/recovery.py).

With Celery (production), each such run is handed to a worker, which continues it from its
last durable step; ``--lease`` takes only runs untouched for ``RUN_LEASE_SECONDS``, which is
safe while other processes serve (``make run-prod`` runs it at start-up, Celery beat every
minute). In the embedded default the server itself continues them at its first request
(``RUN_CONTINUE_ON_START``), so this only counts them; with ``--close`` (or
``RUN_CONTINUE_ON_START=false``) they are closed as failed (``interrupted``) instead, so
their conversations can go on. Waiting runs are left alone: they resume when decided.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from approvals import dispatch
from assistant.models import Run
from assistant.runs import chat
from assistant.runs.recovery import close_interrupted_runs, recover


class Command(BaseCommand):
    help = "Continue (or with --close, close) runs left running by a process that stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--lease", action="store_true",
            help="Only runs untouched for RUN_LEASE_SECONDS (safe while other processes serve runs).")
        parser.add_argument("--close", action="store_true",
                            help="Close them as failed (interrupted) instead of continuing them.")

    def handle(self, *args: Any, **options: Any) -> None:
        lease = settings.RUN_LEASE_SECONDS if options["lease"] else None
        if options["close"] or (not dispatch.uses_celery() and not settings.RUN_CONTINUE_ON_START):
            closed = close_interrupted_runs(lease)
            self.stdout.write(f"{closed} interrupted run(s) closed.")
        elif dispatch.uses_celery():
            taken = recover(lease, chat.enqueue)
            self.stdout.write(f"{taken} interrupted run(s) handed to a worker.")
        else:
            left = Run.objects.filter(status=Run.Status.RUNNING).count()
            self.stdout.write(f"{left} interrupted run(s) will be continued by the server "
                              "at its first request.")
