"""The translation catalogs in locale/ are complete, current and compiled (docs/ui.md).

* every message of every catalog is translated, none is fuzzy, and msgfmt accepts the
  placeholders (``--check``);
* every string marked for translation in the templates, Python and static/js is in the
  catalogs, and nothing is there that no longer is: makemessages is run on the sources into
  a temporary directory and its ids are compared with the committed ones;
* the committed .mo files hold what their .po files say.

A failure names the strings; `make messages` refreshes the catalogs, then translate what
is empty in locale/<lang>/LC_MESSAGES/*.po and run `make messages` again to compile.
"""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.i18n import po

BASE_DIR = Path(settings.BASE_DIR)
LOCALE = BASE_DIR / "locale"
DOMAINS = ("django", "djangojs")
LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "en"]
CATALOGS = [LOCALE / lang / "LC_MESSAGES" / f"{domain}.po" for lang in LANGUAGES for domain in DOMAINS]
# What `make messages` does not scan (keep in step with MESSAGES_FLAGS in the Makefile).
NOT_SCANNED = {"tests", "bench", "var", "build", "locale", "docs"}
HELP = "run `make messages`, translate the empty msgstr in locale/, then `make messages` again"

needs_gettext = pytest.mark.skipif(shutil.which("msgfmt") is None or shutil.which("xgettext") is None,
                                   reason="GNU gettext (Debian: gettext) is not installed")


def test_every_offered_language_has_both_catalogs():
    assert LANGUAGES, "settings.LANGUAGES offers no language besides English"
    assert [path for path in CATALOGS if not path.exists()] == []


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_every_message_is_translated_and_none_is_fuzzy(path):
    entries = po.messages(path)
    assert entries, f"{path} is empty"
    untranslated = [e.msgid for e in entries if not e.translated]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert untranslated == [], f"untranslated in {path}: {HELP}"
    assert fuzzy == [], f"fuzzy (check, then remove the flag) in {path}"
    header = po.read(path)[0]
    assert header.msgid == "" and "fuzzy" not in header.flags, f"{path}: the header is marked fuzzy"


@needs_gettext
@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_msgfmt_accepts_every_translation_and_the_committed_mo_is_current(path, tmp_path):
    compiled = tmp_path / "fresh.mo"
    checked = subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(path)],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr  # e.g. a %(name)s missing from a translation
    committed = path.with_suffix(".mo")
    assert committed.exists(), f"{committed} is missing: {HELP}"
    assert _catalog(committed) == _catalog(compiled), f"{committed} is stale: run `make messages`"


@needs_gettext
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_marked_string_is_in_the_catalogs_and_nothing_stale(domain, tmp_path):
    fresh = _extract(domain, tmp_path)
    wanted = {e.key for e in po.messages(fresh)}
    assert wanted, "makemessages found no strings: the extraction itself is broken"
    for lang in LANGUAGES:
        have = {e.key for e in po.messages(LOCALE / lang / "LC_MESSAGES" / f"{domain}.po")}
        missing = sorted(key[1] for key in wanted - have)
        stale = sorted(key[1] for key in have - wanted)
        assert missing == [], f"marked for translation but not in {lang}/{domain}.po: {HELP}"
        assert stale == [], f"in {lang}/{domain}.po but no longer in the sources: run `make messages`"


def _catalog(mo: Path) -> dict[object, str]:
    with mo.open("rb") as handle:
        catalog = dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]
    catalog.pop("", None)  # the header: its dates change on every `make messages`
    return catalog


def _extract(domain: str, tmp_path: Path) -> Path:
    """makemessages over the sources as `make messages` runs it, into ``tmp_path``: the sources
    are linked into a directory of their own, so the committed catalogs are not touched."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for entry in BASE_DIR.iterdir():
        if entry.name.startswith(".") or entry.name in NOT_SCANNED:
            continue
        (tree / entry.name).symlink_to(entry)
    out = tmp_path / "locale"
    script = (
        "import django, sys\n"
        "from django.conf import settings\n"
        "django.setup()\n"
        "settings.LOCALE_PATHS = [sys.argv[1]]\n"
        "from django.core.management import call_command\n"
        "call_command('makemessages', locale=['xx'], domain=sys.argv[2], symlinks=True, verbosity=0,\n"
        "             no_obsolete=True, add_location='never',\n"
        "             ignore_patterns=['tests', 'bench', 'var', 'build'])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(BASE_DIR), "DJANGO_SETTINGS_MODULE": "assistant.settings",
           "DJANGO_DEBUG": "true"}
    done = subprocess.run([sys.executable, "-c", script, str(out), domain], cwd=tree, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "xx" / "LC_MESSAGES" / f"{domain}.po"
