"""Everything under ``TOOLGATE_VAR_DIR`` is private to the service user, whatever the umask.

The data directory holds the SQLite database (sessions, password hashes, parked calls'
arguments), the development secret key, every user's workspace, the sample database and
Celery beat's schedule. Any other account on the machine, including code run by
``run_python`` in its weak mode, must not read them. Two layers:

* :func:`restrict_umask`, called first thing by the settings module, so every file and
  directory this process (web, worker, beat, management commands) creates afterwards is
  born ``0600``/``0700``: SQLite's database and its ``-wal``/``-shm`` files, the beat
  schedule, workspaces, the sample database.
* :func:`secure_data_dir`, run at start-up (``AssistantConfig.ready``), fixes what an older
  version or a permissive umask left behind: it removes the group and other bits from
  every directory and file under the data paths, and logs one warning naming each path it
  changed. A path it cannot change (owned by another user) stops start-up with an error
  naming it. Symbolic links are neither followed nor changed.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
SHOWN = 10  # paths named in the warning; the rest are counted


def restrict_umask() -> None:
    """New files of this process are readable by its own user only."""
    os.umask(PRIVATE_UMASK)


def write_private(path: Path, text: str) -> None:
    """Create ``path`` (it must not exist) as a ``0600`` file holding ``text``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def secure_data_dir(var_dir: Path, extra: Iterable[Path] = ()) -> list[Path]:
    """Make ``var_dir`` (created ``0700`` if missing) and ``extra`` paths private.

    ``extra`` are data paths configured outside the data directory (a workspace root, a
    database file); each is handled as a tree if it is a directory. Returns the paths whose
    mode was changed; raises :class:`ImproperlyConfigured` naming a path it cannot fix.
    """
    var_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fixed: list[Path] = []
    seen: set[Path] = set()
    for root in (var_dir, *extra):
        for path in _walk(Path(root)):
            if path in seen:
                continue
            seen.add(path)
            if _make_private(path):
                fixed.append(path)
    if fixed:
        named = ", ".join(str(path) for path in fixed[:SHOWN])
        more = f" and {len(fixed) - SHOWN} more" if len(fixed) > SHOWN else ""
        logger.warning("made %d path(s) of the data directory %s private (they were readable "
                       "by group or others): %s%s", len(fixed), var_dir, named, more)
    return fixed


def data_paths(settings: object) -> tuple[Path, list[Path]]:
    """The data directory and the data paths configured outside it, from Django settings."""
    var_dir = Path(settings.VAR_DIR)  # type: ignore[attr-defined]
    candidates = [Path(settings.TOOLS_WORKSPACE_ROOT),  # type: ignore[attr-defined]
                  Path(settings.TOOLS_SAMPLE_DB_PATH)]  # type: ignore[attr-defined]
    database = settings.DATABASES["default"]  # type: ignore[attr-defined]
    if database.get("ENGINE", "").endswith("sqlite3") and str(database.get("NAME", "")).startswith("/"):
        name = Path(database["NAME"])
        candidates += [name, Path(f"{name}-wal"), Path(f"{name}-shm")]
    resolved = var_dir.resolve()
    extra = [path for path in candidates if not path.resolve().is_relative_to(resolved)]
    return var_dir, extra


def _walk(root: Path) -> Iterator[Path]:
    if not os.path.lexists(root):
        return
    yield root
    if root.is_symlink() or not root.is_dir():
        return
    for parent, dirs, files in os.walk(root, onerror=_refuse):
        for name in (*dirs, *files):
            yield Path(parent, name)


def _make_private(path: Path) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:  # gone meanwhile (a SQLite -shm file, say)
        return False
    if stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o077:
        return False
    try:
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)
    except FileNotFoundError:
        return False
    except OSError as exc:
        _refuse(exc, path)
    return True


def _refuse(exc: OSError, path: Path | None = None) -> None:
    where = path or exc.filename
    raise ImproperlyConfigured(
        f"{where} is in Toolgate's data directory (TOOLGATE_VAR_DIR) but cannot be made private "
        f"to the service user ({exc.strerror or exc}); make the service user own it, or remove "
        f"group and other permissions yourself (chmod -R go-rwx)") from exc
