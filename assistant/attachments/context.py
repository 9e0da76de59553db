"""What the conversation page needs to show attachments: the composer's, the removed, the limits."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from assistant.attachments.models import Attachment


def attachment_context(user: Any, conversation: Any) -> dict[str, Any]:
    mine = Attachment.objects.owned_by(user).filter(conversation=conversation)
    return {
        "pending_attachments": [a.summary() for a in mine.pending()],
        "removed_attachments": {str(pk) for pk in
                                mine.filter(removed_at__isnull=False).values_list("pk", flat=True)},
        "attach": {"accept": ",".join(f".{e}" for e in settings.ATTACHMENTS_EXTENSIONS),
                   "max_bytes": settings.ATTACHMENTS_MAX_BYTES},
    }
