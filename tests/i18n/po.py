"""A small reader for gettext .po files: enough for the catalog tests (no dependency).

Entries keep their flags (``fuzzy``, ``python-format``), context, singular and plural ids and
every msgstr form; obsolete entries (``#~``) are skipped, as gettext skips them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr)


def read(path: Path) -> list[Entry]:
    """Every entry of the catalog, the header (msgid "") included, in file order."""
    entries: list[Entry] = []
    entry: Entry | None = None
    target: tuple[str, int] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if not line:
                entry, target = None, None
            continue
        if line.startswith("#"):
            if entry is None or entry.msgstr:
                entry = _new(entries, number)
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(",") if flag.strip())
            continue
        if line.startswith('"'):
            if entry is None or target is None:
                raise ValueError(f"{path}:{number}: a continued string outside an entry")
            _append(entry, target, ast.literal_eval(line))
            continue
        keyword, _, value = line.partition(" ")
        text = ast.literal_eval(value)
        starts = keyword in ("msgctxt", "msgid") and (entry is None or bool(entry.msgstr)
                                                      or (keyword == "msgid" and bool(entry.msgid)))
        if entry is None or starts:
            entry = _new(entries, number)
        if keyword == "msgctxt":
            entry.msgctxt, target = text, ("msgctxt", 0)
        elif keyword == "msgid":
            entry.msgid, target = text, ("msgid", 0)
        elif keyword == "msgid_plural":
            entry.msgid_plural, target = text, ("msgid_plural", 0)
        elif keyword == "msgstr":
            entry.msgstr = [text]
            target = ("msgstr", 0)
        elif keyword.startswith("msgstr["):
            index = int(keyword[7:-1])
            while len(entry.msgstr) <= index:
                entry.msgstr.append("")
            entry.msgstr[index] = text
            target = ("msgstr", index)
        else:
            raise ValueError(f"{path}:{number}: unknown keyword {keyword!r}")
    return entries


def messages(path: Path) -> list[Entry]:
    """The entries without the header."""
    return [e for e in read(path) if e.msgid or e.msgctxt is not None]


def _new(entries: list[Entry], number: int) -> Entry:
    entry = Entry(line=number)
    entries.append(entry)
    return entry


def _append(entry: Entry, target: tuple[str, int], text: str) -> None:
    name, index = target
    if name == "msgstr":
        entry.msgstr[index] += text
    else:
        setattr(entry, name, (getattr(entry, name) or "") + text)
