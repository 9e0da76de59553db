"""The ``current_time`` tool: a model has no clock, so it must ask for the time.

Only names listed in the IANA database (``zoneinfo.available_timezones()``) are ever
passed to :class:`zoneinfo.ZoneInfo`. ``ZoneInfo`` opens a file named after its key, so
checking against that list first means a value such as ``../../etc/passwd`` or ``America``
(a directory) never reaches the filesystem, and every bad value gets the same clear error
with suggestions instead of a ``ValueError`` or an ``IsADirectoryError``.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from tools import ArgumentError, tool
from tools.definition import Tool

_MAX_SUGGESTIONS = 5


@functools.cache
def zone_names() -> frozenset[str]:
    """Every IANA zone name the installed database knows (read once: it walks a directory)."""
    return frozenset(zoneinfo.available_timezones())


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", "_", name.strip()).casefold()


def suggest_zones(name: str) -> list[str]:
    """Zone names close to ``name``: same name in other case, same city, or similar spelling.

    Only suggestions: the caller decides. ``"Tokyo"`` suggests ``"Asia/Tokyo"`` and
    ``"new york"`` suggests ``"America/New_York"``.
    """
    wanted = _normalise(name)
    if not wanted:
        return []
    by_full: dict[str, str] = {}
    by_city: dict[str, list[str]] = {}
    for zone in sorted(zone_names()):
        by_full.setdefault(_normalise(zone), zone)
        by_city.setdefault(_normalise(zone.rsplit("/", 1)[-1]), []).append(zone)
    found: list[str] = []
    if wanted in by_full:
        found.append(by_full[wanted])
    found.extend(by_city.get(wanted.rsplit("/", 1)[-1], []))
    for close in difflib.get_close_matches(wanted, by_full, n=_MAX_SUGGESTIONS, cutoff=0.6):
        found.append(by_full[close])
    for close in difflib.get_close_matches(wanted, by_city, n=_MAX_SUGGESTIONS, cutoff=0.75):
        found.extend(by_city[close])
    return list(dict.fromkeys(found))[:_MAX_SUGGESTIONS]


def load_zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone called ``name``, or an :class:`ArgumentError` (path ``timezone``)."""
    if name in zone_names():
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass  # listed but unreadable: report it like any unknown zone
    suggestions = suggest_zones(name)
    hint = (
        "Use an IANA time zone name of the form Area/City, e.g. Europe/Paris, America/New_York "
        "or Asia/Tokyo (or UTC)."
    )
    if suggestions:
        hint = f"Did you mean {', '.join(suggestions)}? " + hint
    shown = name if len(name) <= 100 else name[:100] + "…"
    raise ArgumentError(f"unknown time zone {shown!r}", path="timezone", got=shown, hint=hint)


def format_offset(offset: timedelta | None) -> str:
    """``+09:00``, ``-03:30``, ``+05:45``; seconds are shown only when there are any."""
    seconds = int((offset or timedelta()).total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return f"{text}:{secs:02d}" if secs else text


def describe(moment: datetime, zone: zoneinfo.ZoneInfo) -> dict[str, Any]:
    """What the model is told about ``moment`` (an aware datetime) as seen in ``zone``."""
    local = moment.astimezone(zone)
    return {
        "timezone": zone.key,
        "datetime": local.isoformat(timespec="seconds"),
        "date": local.date().isoformat(),
        "time": local.strftime("%H:%M:%S"),
        "weekday": local.strftime("%A"),
        "utc_offset": format_offset(local.utcoffset()),
        "abbreviation": local.tzname() or "",
        "is_dst": bool(local.dst()),
    }


@tool(risk="low", read_only=True, idempotent=True, timeout=5)
def current_time(timezone: Annotated[str, Field(max_length=200)] = "UTC") -> dict[str, Any]:
    """Get the current date, time and weekday in a time zone.

    Use this whenever the answer depends on today's date or the current time (you have no
    clock of your own), e.g. "what day is it?", "what time is it in Tokyo?", or before
    computing a date relative to today. It returns the local time in ISO 8601
    ("2025-03-14T09:26:53+09:00"), the date, the time, the weekday, the UTC offset and the
    zone's abbreviation.

    The zone must be an IANA time zone name of the form Area/City, with the exact
    spelling and case: "UTC", "Europe/London", "America/New_York", "Asia/Tokyo",
    "Australia/Sydney". A city alone ("Tokyo") is not accepted; the error then suggests
    matching names, so call again with one of them.

    Args:
        timezone: IANA time zone name, e.g. "Europe/Berlin". Defaults to "UTC".
    """
    return describe(datetime.now(UTC), load_zone(timezone))


TOOLS: list[Tool] = [current_time]
