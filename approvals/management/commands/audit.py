"""Operator commands for the audit log: check the hash chain, export events.

``verify`` recomputes every event's hash and link and exits 1 naming the first broken
link (0 when the chain is intact); it prints the head, which is worth noting somewhere
else and passing back later with ``--anchor SEQ:HASH`` (see docs/audit.md). ``export``
writes events as JSON lines (exactly as stored, hashes included) or CSV (a header row; the
``data`` column as JSON text).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import datetime, time
from typing import Any, Protocol

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from approvals import audit

EXIT_BROKEN = 1
FORMATS = ("jsonl", "csv")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ANCHOR_RE = re.compile(r"^(\d+):([0-9a-f]{64})$")


def parse_since(text: str) -> datetime:
    """``YYYY-MM-DD`` (midnight, in the current time zone) or an ISO 8601 date-time (a naive
    one is taken in the current time zone)."""
    try:
        moment = parse_datetime(text)
        day = None if moment is not None else parse_date(text)
    except ValueError:  # well formed but impossible, e.g. 2026-02-30
        moment = day = None
    if day is not None:
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise CommandError(f"--since must be a date (YYYY-MM-DD) or an ISO 8601 date-time such as "
                           f"2026-01-31T14:00:00Z; got {text!r}")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def parse_anchor(text: str) -> tuple[int, str]:
    match = _ANCHOR_RE.match(text.strip().lower())
    if match is None:
        raise CommandError(f"--anchor must be SEQ:HASH, e.g. 1042:{'0' * 64} (the head that "
                           f"`audit verify` printed); got {text!r}")
    return int(match[1]), match[2]


def csv_cell(value: Any) -> Any:
    """A value for a spreadsheet: JSON for data, and text that a spreadsheet would run as a
    formula (``=``, ``+``, ``-``, ``@``) prefixed with ``'``, as OWASP advises."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def write_jsonl(rows: Iterable[dict[str, Any]], out: Writable) -> int:
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(rows: Iterable[dict[str, Any]], out: Writable) -> int:
    writer = csv.writer(out)
    writer.writerow(audit.COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(row[name]) for name in audit.COLUMNS])
        count += 1
    return count


class _Unwrapped:
    """``self.stdout`` without the newline Django adds to every write (csv and jsonl add their own)."""

    def __init__(self, wrapper: Any) -> None:
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")


class Command(BaseCommand):
    help = ("The audit log: verify [--anchor SEQ:HASH], "
            "export [--since DATE] [--format jsonl|csv] [--output FILE].")

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="{verify,export}", required=True)
        verify = sub.add_parser("verify", help="Recompute the hash chain; exit 1 at the first broken link.")
        verify.add_argument("--anchor", action="append", default=[], metavar="SEQ:HASH",
                            help="A head printed by an earlier verify, kept elsewhere: the event at SEQ "
                                 "must still have HASH. May be repeated.")
        export = sub.add_parser("export", help="Write events as JSON lines or CSV.")
        export.add_argument("--since", metavar="DATE",
                            help="Only events created at or after DATE (YYYY-MM-DD or ISO 8601 date-time).")
        export.add_argument("--format", choices=FORMATS, default="jsonl", help="Default: jsonl.")
        export.add_argument("--output", metavar="FILE", help="Write to FILE instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            self._verify([parse_anchor(a) for a in options["anchor"]])
        else:
            self._export(options["since"], options["format"], options["output"])

    def _verify(self, anchors: list[tuple[int, str]]) -> None:
        verdict = audit.verify(anchors=dict(anchors))
        if not verdict.ok:
            raise CommandError(f"audit chain BROKEN after {verdict.checked} good events: {verdict.message}",
                               returncode=EXIT_BROKEN)
        self.stdout.write(verdict.message)
        if verdict.checked:
            self.stdout.write(f"anchor for a later check: --anchor {verdict.checked}:{verdict.head_hash}")

    def _export(self, since: str | None, fmt: str, output: str | None) -> None:
        start = parse_since(since) if since is not None else None
        write = write_csv if fmt == "csv" else write_jsonl
        with ExitStack() as stack:
            if output:
                try:
                    out: Writable = stack.enter_context(open(output, "w", encoding="utf-8", newline=""))
                except OSError as exc:
                    raise CommandError(f"cannot write {output}: {exc.strerror}") from None
            else:
                out = _Unwrapped(self.stdout)
            count = write(audit.rows_since(start), out)
        if output:
            self.stderr.write(f"exported {count} event{'s' if count != 1 else ''} to {output}")
