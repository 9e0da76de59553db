"""Close runs left ``running`` by a server that stopped mid-run (embedded, single process).

``make run`` calls this before starting the server: in the embedded default one process
drives every run, so at start-up any run still marked running has nobody driving it and
would block its conversation for good. Waiting runs are left alone: they resume when their
approvals are decided. Do not run this while another server process is serving runs.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from assistant.models import Run
from assistant.store import finish_run


class Command(BaseCommand):
    help = "Mark runs left running by a stopped server as failed, so their conversations can go on."

    def handle(self, *args: Any, **options: Any) -> None:
        orphans = list(Run.objects.filter(status=Run.Status.RUNNING))
        for run in orphans:
            finish_run(run, Run.Status.FAILED, error_code="interrupted",
                       error="The server stopped while this reply was being written. Ask again.")
        self.stdout.write(f"{len(orphans)} interrupted run(s) closed.")
