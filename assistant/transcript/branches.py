"""Edit and resend, regenerate, retry: each starts a branch (issue 14).

A branch is a new conversation that begins with a copy of the original's messages before
one of the user's messages; that message (edited, or as it was) is then sent again in the
branch. The original is never changed or cut, so nothing is lost and the old branch stays
reachable (``branched_from`` links back; the original lists its branches). This keeps the
run loop and the history untouched: a branch is an ordinary conversation.

- **Edit and resend** a user message: branch before it, send the edited text.
- **Regenerate** the last answer: branch before the last user message, send it again.
- **Retry** after a provider error: the same as regenerate, one click, no retyping.

Attachments come along (assistant/attachments/carry.py): the copied messages name the same
workspace files through records of the branch's own, and the files of the message sent
again are attached to it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from assistant.attachments import carry
from assistant.models import Conversation, Message, Run


class BranchError(Exception):
    """A branch that cannot be made; the message is shown to the user as is."""


@dataclass
class Branch:
    conversation: Conversation
    text: str  # what to send in the branch first


COPIED_FIELDS = ("role", "content", "status", "tool_calls", "tool_results", "input_tokens",
                 "output_tokens", "provider_message_id", "created_at", "attachments")


def branch(conversation: Conversation, message_id: Any, content: str | None = None) -> Branch:
    """A new conversation with the messages before ``message_id`` (a user message of
    ``conversation``), ready to send ``content`` (default: that message's text)."""
    message = conversation.messages.filter(pk=message_id, role=Message.Role.USER).first()
    if message is None:
        raise BranchError(_("That message is not one of your messages in this conversation."))
    text = message.content if content is None else content
    if not text.strip():
        raise BranchError(_("The edited message is empty."))
    if len(text) > settings.ASSISTANT_MAX_MESSAGE_CHARS:
        raise BranchError(_("The edited message is %(length)s characters long and the limit is %(limit)s.")
                          % {"length": f"{len(text):,}",
                             "limit": f"{settings.ASSISTANT_MAX_MESSAGE_CHARS:,}"})
    if conversation.runs.filter(status__in=[Run.Status.RUNNING, Run.Status.WAITING]).exists():
        raise BranchError(_("A reply is still in progress here: stop it or wait for it first."))
    earlier = list(conversation.messages.filter(position__lt=message.position).order_by("position"))
    # Branched at the first message, the branch's own first message names it, as usual.
    title = f"{conversation.title or 'Conversation'} (branch)"[:200] if earlier else ""
    with transaction.atomic():
        copy = Conversation.objects.create(
            owner=conversation.owner, profile=conversation.profile, branched_from=conversation, title=title,
        )
        copied = Message.objects.bulk_create([
            Message(conversation=copy, position=index, **{f: getattr(m, f) for f in COPIED_FIELDS})
            for index, m in enumerate(earlier)
        ])
        # The branch's own records of the files: shown (and named to the model) even if the
        # original is deleted; the re-sent message's files wait in the branch's composer.
        carry.for_branch(copy, copied, carry.rows_of([*earlier, message], conversation.owner), message)
    return Branch(copy, text)


def last_user_message(conversation: Conversation) -> Message | None:
    return conversation.messages.filter(role=Message.Role.USER).order_by("-position").first()
