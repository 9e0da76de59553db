"""Chat from the terminal with the same engine the browser uses.

Reads one message per line from standard input and streams the reply, showing tool calls
as they happen. With piped input it exits at end of input, so it doubles as a scripting
and smoke-testing tool: ``echo "what is 12*7" | python manage.py chat --user admin``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from assistant.models import Conversation, Run
from assistant.ops.budgets import BudgetExceeded
from assistant.runs.engine import Engine
from assistant.runs.store import RunInProgress


class Command(BaseCommand):
    help = "Chat with the assistant on the terminal (one message per line; Ctrl-D to quit)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--user", required=True, help="username to chat as")
        parser.add_argument("--conversation", help="continue this conversation (its id)")
        parser.add_argument("--profile", help="model profile for a new conversation")

    def handle(self, *args: Any, user: str, conversation: str | None, profile: str | None,
               **options: Any) -> None:
        from assistant.providers.profiles import default_profile, get_profile

        try:
            account = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {user!r}") from None
        if conversation:
            try:
                convo = Conversation.objects.owned_by(account).get(pk=conversation)
            except (Conversation.DoesNotExist, ValidationError):
                raise CommandError(f"no conversation {conversation!r} owned by {user!r}") from None
        else:
            chosen = get_profile(profile) if profile else default_profile()
            convo = Conversation.objects.create(owner=account, profile=chosen.name)
        self.stderr.write(f"conversation {convo.pk} (profile {convo.profile}); Ctrl-D to quit")
        engine = Engine(emit=self._show)
        interactive = sys.stdin.isatty()
        while True:
            if interactive:
                self.stdout.write("you> ", ending="")
                self.stdout.flush()
            line = sys.stdin.readline()
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            try:
                run = async_to_sync(engine.send)(convo, account, text)
            except (RunInProgress, BudgetExceeded) as exc:
                raise CommandError(str(exc)) from None
            if run.status == Run.Status.WAITING:
                self.stdout.write("[waiting for approval — decide it in the admin, then continue]")

    async def _show(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        out = self.stdout
        if kind == "assistant.delta":
            out.write(event["delta"], ending="")
            out.flush()
        elif kind == "assistant.retry":  # the streamed text above is withdrawn
            why = (f"answering with {event['profile']} instead" if event.get("fallback")
                   else f"retrying, attempt {event['attempt']}")
            out.write(f"\n[{why}: {event['reason']} — disregard the text above]")
        elif kind == "assistant.message" and event["message"].get("profile"):
            out.write(f"\n[answered by {event['message']['profile']['label']} (fallback)]")
        elif kind == "assistant.message":
            out.write("")
        elif kind == "tool.call":
            call = event["tool_call"]
            out.write(f"\n[tool] {call['name']}({call['arguments']})")
        elif kind == "tool.result":
            call = event["tool_call"]
            body = call.get("result") if call["status"] == "ok" else call.get("error")
            shown = json.dumps(body, ensure_ascii=False)[:500]
            out.write(f"[tool] {call['name']} → {call['status']}: {shown}")
        elif kind == "error":
            self.stderr.write(f"[error] {event['message']}")
        out.flush()
