"""Daily token budgets: a cap on what one user's runs may spend per UTC day.

Model turns cost money, and one runaway user (or script) can spend a month's allowance in
an afternoon. The cap is ``TOKEN_BUDGET_DAILY`` (input + output tokens; 0 = unlimited),
or the user's own :class:`~assistant.models.UserBudget` when an admin set one (which may
itself be 0 = unlimited). Usage is the sum of the tokens of the user's runs created since
00:00 UTC, so the budget resets at midnight UTC; a run that started before midnight
counts against the day it started.

The engine checks before every model turn (a run that crosses the cap stops before its
next turn) and before storing a new message (which is then refused). Both say the same
thing: code ``budget_exceeded`` and :func:`message`.

The check runs on every model turn, so the common case costs no query: the per-user caps
are read from an in-process snapshot, rebuilt when one changes in this process (signals)
and at most ``OVERRIDES_TTL`` seconds after a change elsewhere; only a user who has a cap
costs the one query that sums today's tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import F, Sum
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext as _

from assistant.extraction.models import Extraction
from assistant.models import Run, UserBudget

CODE = "budget_exceeded"
OVERRIDES_TTL = 2.0  # seconds


class BudgetExceeded(Exception):
    """The user has spent their tokens for today; ``message`` is safe to show them."""

    code = CODE

    def __init__(self, used: int, limit: int) -> None:
        self.used, self.limit = used, limit
        self.message = message(used, limit)
        super().__init__(self.message)


def message(used: int, limit: int) -> str:
    return _("You have used %(used)s of your %(limit)s tokens today; the budget resets at 00:00 UTC.") % {
        "used": f"{used:,}", "limit": f"{limit:,}"}


def day_start(now: datetime | None = None) -> datetime:
    """The last 00:00 UTC at or before ``now``: where today's usage begins."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def resets_at(now: datetime | None = None) -> datetime:
    return day_start(now) + timedelta(days=1)


def _user_id(user: Any) -> int | None:
    if user is None or not getattr(user, "is_authenticated", True):
        return None
    return getattr(user, "pk", user)


# --- the per-user caps ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Overrides:
    limits: dict[int, int]
    taken_at: float = field(default_factory=time.monotonic)


_overrides: _Overrides | None = None


def _fresh() -> _Overrides | None:
    current = _overrides
    if current is None or time.monotonic() - current.taken_at > OVERRIDES_TTL:
        return None
    return current


def overrides() -> dict[int, int]:
    """Every :class:`UserBudget` as ``{user_id: daily_tokens}`` (from the snapshot)."""
    global _overrides
    current = _fresh()
    if current is None:
        current = _overrides = _Overrides(dict(UserBudget.objects.values_list("user_id", "daily_tokens")))
    return current.limits


async def aoverrides() -> dict[int, int]:
    current = _fresh()
    return current.limits if current is not None else await sync_to_async(overrides)()


def invalidate(**kwargs: Any) -> None:
    global _overrides
    _overrides = None


post_save.connect(invalidate, sender=UserBudget, dispatch_uid="assistant.ops.budgets.invalidate.save")
post_delete.connect(invalidate, sender=UserBudget, dispatch_uid="assistant.ops.budgets.invalidate.delete")


def _limit(user_id: int, limits: dict[int, int]) -> int:
    return int(limits.get(user_id, settings.TOKEN_BUDGET_DAILY))


def limit_for(user: Any) -> int:
    """The user's daily cap in tokens; 0 means unlimited."""
    user_id = _user_id(user)
    return 0 if user_id is None else _limit(user_id, overrides())


# --- usage ------------------------------------------------------------------------------------


def used_today(user: Any, now: datetime | None = None) -> int:
    """Input + output tokens of the user's runs and extractions created since 00:00 UTC."""
    user_id = _user_id(user)
    if user_id is None:
        return 0
    since = day_start(now)
    tokens = Sum(F("input_tokens") + F("output_tokens"))
    total = Run.objects.filter(user_id=user_id, created_at__gte=since).aggregate(tokens=tokens)["tokens"]
    # Extractions (POST /api/v1/extract, assistant/extraction) spend from the same budget.
    extracted = Extraction.objects.filter(user_id=user_id, created_at__gte=since).aggregate(
        tokens=tokens)["tokens"]
    return int(total or 0) + int(extracted or 0)


def _refusal(user_id: int, limit: int, now: datetime | None = None) -> BudgetExceeded | None:
    if limit <= 0:
        return None
    used = used_today(user_id, now)
    return BudgetExceeded(used, limit) if used >= limit else None


def refusal(user: Any, now: datetime | None = None) -> BudgetExceeded | None:
    """Why this user may not start another model turn now, or ``None`` if they may.

    At exactly the cap there is nothing left to spend, so that refuses too.
    """
    user_id = _user_id(user)
    return None if user_id is None else _refusal(user_id, _limit(user_id, overrides()), now)


async def acheck(user: Any) -> BudgetExceeded | None:
    """:func:`refusal` from async code (no query for a user without a cap), counted in the
    metrics when it refuses."""
    user_id = _user_id(user)
    if user_id is None:
        return None
    limit = _limit(user_id, await aoverrides())
    if limit <= 0:
        return None
    refused = await sync_to_async(_refusal)(user_id, limit)
    if refused is not None:
        from assistant.ops.metrics import BUDGET_REFUSALS

        BUDGET_REFUSALS.inc()
    return refused
