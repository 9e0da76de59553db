"""Read settings from environment variables, failing loudly on values that make no sense.

Every helper names the variable in its error, so a typo such as ``DJANGO_DEBUG=maybe``
stops the process at start-up with a message that says exactly what to fix, instead of
being read as "false" and discovered in production.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be a boolean (one of 1/0, true/false, yes/no, on/off), got {value!r}"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; empty items are dropped."""
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


# What ``make run`` may record for commands run later outside make (README: "Chat from a
# terminal"); anything else in the file is ignored rather than trusted.
RECORDABLE = frozenset({"DJANGO_DEBUG"})


def load_recorded(path: Path) -> dict[str, str]:
    """Apply ``KEY=VALUE`` lines ``make run`` recorded in ``path`` for variables not set.

    ``make run`` exports ``DJANGO_DEBUG=true`` for its own commands only; it also writes it
    to ``var/development.env`` so that ``manage.py chat``/``shell``/``createsuperuser`` run
    by hand in the same checkout find the same development configuration. The environment
    always wins, and with no file nothing changes: production, which never runs ``make
    run``, still refuses to start without ``SECRET_KEY``. Returns what was applied.
    """
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot read {path}: {exc}") from None
    applied: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or name not in RECORDABLE:
            raise ImproperlyConfigured(
                f"{path}, line {number}: expected one of {', '.join(sorted(RECORDABLE))} as NAME=value, "
                f"got {line[:60]!r}. Delete the file and run `make run` again to rewrite it.")
        if _raw(name) is None:
            os.environ[name] = value
            applied[name] = value
    return applied
