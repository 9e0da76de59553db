"""What an uploaded file may be called and contain: decided here, before anything is written.

A browser sends whatever name the user's file had — or whatever a hostile client puts in
the multipart header: ``../../x``, ``/etc/passwd``, ``C:\\x``, a NUL byte, right-to-left
overrides, look-alike characters, names only of dots. The name is reduced to its last
component and then to a conservative set of characters (letters, digits, ``.``, ``-``,
``_``, space), so it can name nothing but one file in one directory; the workspace's own
path confinement (tools/builtin/files.py) checks again when it is written.

The type is checked on the content, not trusted from the name or the Content-Type: the file
tools read only UTF-8 text, so an attachment must be UTF-8 text without NUL bytes, and a
known binary signature (PNG, PDF, ZIP, ELF, …) is named in the refusal.
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext as _

MAX_NAME = 100
_UNSAFE = re.compile(r"[^\w.\- ]+")
_DOTS = re.compile(r"\.{2,}")
_SPACES = re.compile(r"\s+")
# Format characters (bidi overrides, zero-width joiners …) change how a name looks, not what it is.
_INVISIBLE = {"Cf", "Cc", "Co", "Cs", "Zl", "Zp"}
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"), (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office file)"),
    (b"\x7fELF", "an executable (ELF)"), (b"MZ", "a Windows executable"), (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"), (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"), (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
)


class Refused(ValueError):
    """The upload is not accepted; ``str(exc)`` says why in plain words, ``code`` for clients."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def shown(name: str) -> str:
    """A name as it may appear in a message: NUL and control characters made visible, cut."""
    text = "".join((f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
                   if unicodedata.category(c) in _INVISIBLE else c for c in name)
    return text[:120] + ("…" if len(text) > 120 else "")


def safe_name(raw: str, allowed: list[str]) -> str:
    """The name to store the file under, or Refused. Keeps the (allowed) extension."""
    if not isinstance(raw, str) or not raw.strip():
        raise Refused("bad_name", _("The file has no name."))
    last = re.split(r"[\\/]", raw)[-1]  # a path (either kind of slash) keeps only its last part
    text = unicodedata.normalize("NFKC", last)  # look-alikes (fullwidth, ligatures) to plain forms
    text = "".join(c for c in text if unicodedata.category(c) not in _INVISIBLE)
    text = _UNSAFE.sub("_", text)
    text = _DOTS.sub(".", _SPACES.sub(" ", text)).strip(" .")
    stem, dot, extension = text.rpartition(".")
    if not dot:
        stem, extension = text, ""
    extension = extension.lower()
    if extension not in allowed:
        listed = ", ".join(f".{e}" for e in allowed)
        raise Refused("type_not_allowed", _(
            "“%(name)s” is not a kind of file that can be attached (%(ext)s); "
            "attach a text file: %(list)s.")
            % {"name": shown(raw), "ext": f".{extension}" if extension else _("no extension"),
               "list": listed})
    stem = stem.strip(" ._-")[:MAX_NAME - len(extension) - 1] or "file"
    return f"{stem}.{extension}"


def check_content(data: bytes, name: str) -> None:
    """Refused unless ``data`` is UTF-8 text without NUL bytes (what read_file can read)."""
    for signature, kind in SIGNATURES:
        if data.startswith(signature):
            raise Refused("not_text", _(
                "“%(name)s” is %(kind)s, not text: only UTF-8 text files can be attached, "
                "because the file tools read only text.") % {"name": shown(name), "kind": kind})
    try:
        if b"\x00" in data:
            raise UnicodeError
        data.decode("utf-8")
    except UnicodeError:
        raise Refused("not_text", _(
            "“%(name)s” is not UTF-8 text (it looks like a binary file): only text files can be "
            "attached, because the file tools read only text.") % {"name": shown(name)}) from None


def with_number(name: str, number: int) -> str:
    """``notes.txt`` → ``notes-2.txt``: the next name to try when one is taken."""
    stem, _dot, extension = name.rpartition(".")
    return f"{stem}-{number}.{extension}"
