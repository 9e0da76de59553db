"""Tell an observer (the audit trail) about every step of every tool call.

:mod:`tools.records` calls :func:`note` inside the same database transaction as the
ToolCall write it describes, so the observer's rows and the record are committed together
or not at all. The observers are named by ``settings.TOOLS_JOURNAL`` (a dotted path, or a
list of them, told in order); the tools app knows nothing else about them.

Stages: ``opened`` (the row was created: rejected, denied, pending or running),
``claimed`` (a parked call was approved and started), ``finished`` (a running call
succeeded or failed) and ``settled`` (a parked call was closed without running).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from tools.models import ToolCall

Journal = Callable[..., None]


@cache
def load_journal() -> tuple[Journal, ...]:
    paths = getattr(settings, "TOOLS_JOURNAL", None) or ()
    if isinstance(paths, str):
        paths = [path.strip() for path in paths.split(",") if path.strip()]
    return tuple(import_string(path) for path in paths)


def note(stage: str, record: ToolCall, **details: Any) -> None:
    for journal in load_journal():
        journal(stage, record, **details)
