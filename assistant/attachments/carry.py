"""Attachments that outlive one conversation: branches, export and import, deletion.

The files live in the owner's workspace; a conversation holds only *records* naming them.
So a branch gets records of its own for the same files (the original can be deleted and the
branch still shows, and the model is still told about, its files); deleting a conversation
deletes its records and keeps the files (they are the user's workspace files — other
branches, the file tools or the user may still use them), auditing each one it lets go; and
an import names files only inside the *importer's* workspace: a path is checked with the
file tools' confinement (``locate``) and refused if it points anywhere else, and a record is
linked only to a regular file there whose SHA-256 matches the export's. A file that is not
there (another machine, another user, since removed) stays named, marked missing, and the
model is not told to read it. Nothing an import says can reach another user's files.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from approvals import audit
from assistant.attachments.models import Attachment
from tools import ArgumentError, ToolContext
from tools.builtin.files import Target, _require_regular, locate, open_for_read, workspace_for

# -- branches ------------------------------------------------------------------------------


def rows_of(messages: list[Any], owner: Any) -> dict[str, Attachment]:
    """The owner's attachment records the messages name, by id."""
    ids = [a.get("id") for m in messages for a in (m.attachments or []) if a.get("id")]
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return {str(a.pk): a for a in Attachment.objects.owned_by(owner).filter(pk__in=valid)}


def _copy(row: Attachment, conversation: Any, message: Any | None) -> Attachment:
    return Attachment(owner_id=row.owner_id, conversation=conversation, message=message, name=row.name,
                      path=row.path, size=row.size, sha256=row.sha256, created_at=row.created_at,
                      removed_at=row.removed_at)


def for_branch(copy: Any, copied: list[Any], originals: dict[str, Attachment], resent: Any) -> None:
    """Give the branch ``copy`` records of its own for the files its messages carry.

    ``copied`` are the branch's (already saved) copies of the original's messages; their
    ``attachments`` lists are rewritten to name the new records. The files of ``resent``,
    the message the branch sends again, wait in the branch's composer (pending records), so
    the re-sent message carries them as it did the first time. Removed files stay removed.
    """
    new: list[Attachment] = []
    for message in copied:
        if not message.attachments:
            continue
        summaries = []
        for summary in message.attachments:
            row = originals.get(str(summary.get("id")))
            if row is None:  # a name without a record (e.g. imported, missing): kept as it was
                summaries.append(summary)
                continue
            record = _copy(row, copy, message)
            new.append(record)
            summaries.append({**summary, "id": str(record.pk)})
        message.attachments = summaries
        message.save(update_fields=["attachments"])
    for summary in resent.attachments or []:
        row = originals.get(str(summary.get("id")))
        if row is not None and not row.removed:
            new.append(_copy(row, copy, None))
    Attachment.objects.bulk_create(new)


# -- deletion ------------------------------------------------------------------------------


def delete_conversation(user: Any, conversation: Any) -> list[Attachment]:
    """Delete the conversation and its attachment records; its files stay in the workspace.

    Each file kept is audited (``attachment.released``, outcome ``kept``) in the same
    transaction. Returns the records of files still in the workspace (not removed), for the
    message that tells the user where they are.
    """
    with transaction.atomic():
        kept = _release(user, conversation)
        conversation.delete()
    return kept


def _release(user: Any, conversation: Any) -> list[Attachment]:
    rows = list(Attachment.objects.filter(conversation=conversation))
    kept = [a for a in rows if not a.removed]
    for attachment in kept:
        audit.record(audit.Entry(
            kind="attachment.released", user_id=user.pk, username=user.get_username(),
            conversation_id=str(conversation.pk), outcome="kept",
            data={"attachment_id": str(attachment.pk), "name": attachment.name, "path": attachment.path,
                  "size": attachment.size, "sha256": attachment.sha256}))
    Attachment.objects.filter(pk__in=[a.pk for a in rows]).delete()
    return kept


# -- export and import ---------------------------------------------------------------------


def exported(message: Any, rows: dict[str, Attachment]) -> list[dict[str, Any]]:
    """What an export says of a message's files: name, path, size, SHA-256, removed or missing."""
    out = []
    for summary in message.attachments or []:
        row = rows.get(str(summary.get("id")))
        out.append({
            "name": summary.get("name", ""), "path": summary.get("path", ""), "size": summary.get("size", 0),
            "sha256": row.sha256 if row is not None else summary.get("sha256"),
            "removed": bool(row is not None and row.removed),
            "missing": row is None,
        })
    return out


class ImportRefused(ValueError):
    """An attachment reference that may not be imported; the message says why."""


def _digest(target: Target, limit: int) -> tuple[str, int] | None:
    """SHA-256 and size of the regular file at ``target`` (never through a symlink), or None."""
    try:
        fd = open_for_read(target)
    except OSError:
        return None
    try:
        info = _require_regular(fd, target)
        if info.st_size > limit:
            return None
        digest = hashlib.sha256()
        while chunk := os.read(fd, 65536):
            digest.update(chunk)
        return digest.hexdigest(), info.st_size
    except ArgumentError:
        return None
    finally:
        os.close(fd)


def check_paths(user: Any, references: list[tuple[str, Any]]) -> dict[str, Target]:
    """Each reference's path, confined to ``user``'s workspace; ImportRefused names the first
    one that points outside it (absolute, ``..``, through a symlink, NUL)."""
    workspace = workspace_for(ToolContext(user=user))
    targets = {}
    for where, reference in references:
        try:
            targets[where] = locate(workspace, reference.path)
        except ArgumentError as exc:
            raise ImportRefused(f"{where}.path: {exc.message}; an imported attachment can only name a "
                                "file in your own workspace.") from None
    return targets


def imported(user: Any, conversation: Any, message: Any, references: list[Any],
             targets: list[Target]) -> list[dict[str, Any]]:
    """Records for the importer's own files that match the references; summaries for all."""
    summaries = []
    now = timezone.now()
    for reference, target in zip(references, targets, strict=True):
        name = target.parts[-1]
        found = None if reference.removed else _digest(target, settings.ATTACHMENTS_MAX_BYTES)
        if found is not None and reference.sha256 and found[0] == reference.sha256:
            row = Attachment.objects.create(owner=user, conversation=conversation, message=message, name=name,
                                            path=target.shown, size=found[1], sha256=found[0])
            summaries.append(row.summary())
        elif reference.removed:
            row = Attachment.objects.create(owner=user, conversation=conversation, message=message, name=name,
                                            path=target.shown, size=reference.size,
                                            sha256=reference.sha256 or "", removed_at=now)
            summaries.append(row.summary())
        else:
            summaries.append({"id": "", "name": name, "path": target.shown, "size": reference.size,
                              "missing": True})
    return summaries
