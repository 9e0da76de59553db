"""Add, remove and hand over attachments; views and the API only parse and call these.

Writing goes through the file tools' own confinement (tools/builtin/files.py: ``locate``
resolves and checks the path, ``open_for_write`` walks down without following symlinks and
creates with ``O_EXCL``), so an attachment can land nowhere the model's ``write_file``
could not. A name already taken gets ``-2``, ``-3`` … rather than replacing a file. The
record and its audit event are stored in one transaction after the file is written; if
that fails, the file is deleted again, so there is never a file without its record or a
record without its file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from approvals import audit
from assistant.attachments.models import Attachment
from assistant.attachments.names import Refused, check_content, safe_name, shown, with_number
from tools import ArgumentError, ToolContext
from tools.builtin.files import Target, locate, open_for_write, open_parent, workspace_for

MAX_NUMBERED = 100


class NotFound(LookupError):
    pass


def folder_for(conversation: Any) -> str:
    """The workspace folder a conversation's attachments go to."""
    return f"attachments/{conversation.pk.hex[:12]}"


def read_limited(chunks: Iterable[bytes], limit: int, name: str) -> bytes:
    """The upload's bytes, refusing (without reading on) once it passes ``limit``."""
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit:
            raise Refused("too_large", _too_large(name, None, limit))
    return bytes(data)


def _too_large(name: str, size: int | None, limit: int) -> str:
    if size is None:
        return _("“%(name)s” is larger than %(limit)s bytes, the most an attachment may be.") % {
            "name": shown(name), "limit": f"{limit:,}"}
    return _("“%(name)s” is %(size)s bytes; an attachment may be at most %(limit)s bytes.") % {
        "name": shown(name), "size": f"{size:,}", "limit": f"{limit:,}"}


def add(user: Any, conversation: Any, raw_name: str, chunks: Iterable[bytes], *,
        size: int | None = None) -> Attachment:
    """Check and store one upload in ``user``'s workspace; raise Refused (nothing stored)."""
    limit = settings.ATTACHMENTS_MAX_BYTES
    name = safe_name(raw_name, settings.ATTACHMENTS_EXTENSIONS)
    if size is not None and size > limit:
        raise Refused("too_large", _too_large(raw_name, size, limit))
    pending = Attachment.objects.owned_by(user).pending().filter(conversation=conversation).count()
    if pending >= settings.ATTACHMENTS_MAX_PENDING:
        raise Refused("too_many", _(
            "At most %(n)s files can be attached to one message: send it, or remove one first.")
            % {"n": settings.ATTACHMENTS_MAX_PENDING})
    data = read_limited(chunks, limit, raw_name)
    if not data:
        raise Refused("empty", _("“%(name)s” is empty.") % {"name": shown(raw_name)})
    check_content(data, raw_name)
    workspace = workspace_for(ToolContext(user=user))
    target, fd = _create(workspace, folder_for(conversation), name)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        _unlink(target)
        raise
    os.close(fd)
    try:
        with transaction.atomic():
            attachment = Attachment.objects.create(
                owner=user, conversation=conversation, name=target.parts[-1], path=target.shown,
                size=len(data), sha256=hashlib.sha256(data).hexdigest())
            audit.record(_entry("attachment.added", user, attachment, outcome="stored"))
    except BaseException:
        _unlink(target)
        raise
    return attachment


def _create(workspace: Any, folder: str, name: str) -> tuple[Target, int]:
    """A new file at ``folder/name`` (or ``name-2`` …) and its descriptor; never overwrites."""
    for number in range(1, MAX_NUMBERED + 1):
        candidate = name if number == 1 else with_number(name, number)
        try:
            target = locate(workspace, f"{folder}/{candidate}")
            fd, _created = open_for_write(target, overwrite=False)
        except ArgumentError as exc:
            if "already exists" in exc.message:
                continue
            raise Refused("bad_path", _("The file cannot be stored there: %(why)s.") % {"why": exc.message}) \
                from None
        except OSError as exc:  # e.g. a symlink where the folder should be (never followed)
            raise Refused("bad_path", _("The file cannot be stored in your workspace: %(why)s.")
                          % {"why": exc.strerror or exc}) from None
        return target, fd
    raise Refused("name_taken", _("Too many files named “%(name)s” are attached already; rename it.")
                  % {"name": name})


def _unlink(target: Target) -> bool:
    """Delete the file the target names (the entry itself: a symlink is never followed)."""
    try:
        parent = open_parent(target, create=False)
    except OSError:
        return False
    try:
        os.unlink(target.parts[-1], dir_fd=parent)
        return True
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return False
    finally:
        os.close(parent)


def remove(user: Any, attachment_id: Any) -> Attachment:
    """Delete the attachment's file from the workspace and mark it removed (audited).

    Claimed with a conditional update that must change exactly this one row, so two
    removals at once delete and audit once; another user's id is NotFound.
    """
    attachment = Attachment.objects.owned_by(user).filter(pk=attachment_id).first()
    if attachment is None or attachment.removed:
        raise NotFound(_("There is no attachment %(id)s of yours.") % {"id": attachment_id})
    now = timezone.now()
    with transaction.atomic():
        claimed = Attachment.objects.filter(pk=attachment.pk, removed_at__isnull=True).update(removed_at=now)
        if claimed != 1:
            raise NotFound(_("There is no attachment %(id)s of yours.") % {"id": attachment_id})
        # Branches and imports hold records of their own for the same file: it is gone for all.
        Attachment.objects.filter(owner=user, path=attachment.path, sha256=attachment.sha256,
                                  removed_at__isnull=True).update(removed_at=now)
        attachment.removed_at = now
        workspace = workspace_for(ToolContext(user=user))
        deleted = _unlink(Target(workspace, tuple(attachment.path.split("/"))))
        audit.record(_entry("attachment.removed", user, attachment,
                            outcome="deleted" if deleted else "missing"))
    return attachment


def _entry(kind: str, user: Any, attachment: Attachment, *, outcome: str) -> audit.Entry:
    return audit.Entry(kind=kind, user_id=user.pk, username=user.get_username(),
                       conversation_id=str(attachment.conversation_id), outcome=outcome,
                       data={"attachment_id": str(attachment.pk), "name": attachment.name,
                             "path": attachment.path, "size": attachment.size, "sha256": attachment.sha256})


def take_pending(conversation: Any, user: Any) -> list[Attachment]:
    """The attachments waiting in the composer, for the message being stored now."""
    return list(Attachment.objects.owned_by(user).pending().filter(conversation=conversation))


def hand_over(message: Any, attachments: list[Attachment]) -> None:
    """Link the taken attachments to the message that carries them (same transaction)."""
    if attachments:
        Attachment.objects.filter(pk__in=[a.pk for a in attachments],
                                  message__isnull=True).update(message=message)


def note(attachments: list[dict[str, Any]]) -> str:
    """What the model is told about a message's attachments (appended to its text).

    A file an import named but that is not in the user's workspace (``missing``) is left
    out: the model is never told to read a file that is not there.
    """
    attachments = [a for a in attachments if not a.get("missing")]
    if not attachments:
        return ""
    listed = "; ".join(f"{json.dumps(a['path'], ensure_ascii=False)} ({a['size']:,} bytes)"
                       for a in attachments)
    return (f"[The user attached {len(attachments)} file(s), saved in their workspace; read one with "
            f"read_file(path=...): {listed}]")
