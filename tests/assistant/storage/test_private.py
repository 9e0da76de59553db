"""The data directory is private to the service user, whatever the umask it starts with."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.storage.private import secure_data_dir
from tests.datadir import ROOT, DataDir, app_environment, create_data_dir, run_app


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(scope="module")
def data_dir() -> Iterator[DataDir]:
    made = create_data_dir()
    yield made
    shutil.rmtree(made.base, ignore_errors=True)


def test_everything_the_app_creates_under_a_permissive_umask_is_private(data_dir: DataDir) -> None:
    var = data_dir.var
    assert mode(var) == 0o700
    assert mode(data_dir.database) == 0o600
    assert mode(var / "secret_key") == 0o600
    assert mode(var / "workspaces") == 0o700
    assert mode(data_dir.workspace_file.parent) == 0o700
    assert mode(data_dir.workspace_file) == 0o600
    assert mode(var / "sample.sqlite3") == 0o400  # read-only, and still nobody else's
    readable = [str(p) for p in [var, *var.rglob("*")] if not p.is_symlink() and mode(p) & 0o077]
    assert readable == []


def test_start_up_makes_a_readable_data_dir_private_and_names_what_it_changed(tmp_path: Path) -> None:
    var = tmp_path / "var"
    (var / "workspaces" / "3").mkdir(parents=True)
    for directory in (var, var / "workspaces", var / "workspaces" / "3"):
        directory.chmod(0o755)
    for name in ("db.sqlite3", "secret_key", "workspaces/3/notes.txt", "celerybeat-schedule"):
        (var / name).write_text("private")
        (var / name).chmod(0o644)
    outside = tmp_path / "shared.txt"
    outside.write_text("not ours to change")
    outside.chmod(0o644)
    (var / "link").symlink_to(outside)

    result = run_app(var, "manage.py", "check")

    assert [mode(p) for p in (var, var / "workspaces", var / "workspaces" / "3")] == [0o700] * 3
    for name in ("db.sqlite3", "secret_key", "workspaces/3/notes.txt", "celerybeat-schedule"):
        assert mode(var / name) == 0o600, name
    assert mode(outside) == 0o644  # a symbolic link is neither followed nor changed
    assert f"private (they were readable by group or others): {var}" in result.stderr
    assert str(var / "db.sqlite3") in result.stderr


def test_an_already_private_data_dir_is_left_alone_and_nothing_is_logged(tmp_path: Path,
                                                                          caplog) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o700)
    (var / "db.sqlite3").write_text("x")
    (var / "db.sqlite3").chmod(0o600)
    assert secure_data_dir(var) == []
    assert "private" not in caplog.text


def test_data_paths_outside_the_data_dir_are_made_private_too(tmp_path: Path) -> None:
    workspaces = tmp_path / "elsewhere"
    (workspaces / "1").mkdir(parents=True)
    workspaces.chmod(0o755)
    (workspaces / "1").chmod(0o750)
    (workspaces / "1" / "a.txt").write_text("x")
    (workspaces / "1" / "a.txt").chmod(0o664)
    fixed = secure_data_dir(tmp_path / "var", [workspaces])
    assert set(fixed) == {workspaces, workspaces / "1", workspaces / "1" / "a.txt"}
    assert mode(workspaces / "1" / "a.txt") == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a file owned by another user")
def test_a_path_that_cannot_be_made_private_stops_start_up_naming_it() -> None:
    """The service user (here: an unprivileged uid) finds a root-owned readable file."""
    base = Path(tempfile.mkdtemp(prefix="toolgate-foreign-"))
    os.chmod(base, 0o755)  # traversable by that uid, like /var/lib
    var = base / "var"
    var.mkdir(mode=0o700)
    foreign = var / "db.sqlite3"
    foreign.write_text("x")
    foreign.chmod(0o644)
    service_uid = 1_650_000_000
    os.chown(var, service_uid, service_uid)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setresgid(service_uid, service_uid, service_uid)
            os.setresuid(service_uid, service_uid, service_uid)
            try:
                secure_data_dir(var)
                os.write(write, b"no error")
            except Exception as exc:
                os.write(write, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    message = os.read(read, 4096).decode()
    os.close(read)
    left = mode(foreign)
    shutil.rmtree(base)
    assert message.startswith(
        f"ImproperlyConfigured: {foreign} is in Toolgate's data directory (TOOLGATE_VAR_DIR) "
        "but cannot be made private to the service user (Operation not permitted)")
    assert left == 0o644


def test_celery_beat_writes_its_schedule_privately_under_a_permissive_umask(tmp_path: Path) -> None:
    var = tmp_path / "var"
    schedule = var / "celerybeat-schedule"
    env = app_environment(var)
    env["CELERY_BROKER_URL"] = "memory://"  # beat only writes its schedule; nothing is sent
    beat = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "assistant", "beat", "--loglevel=INFO",
         f"--schedule={schedule}"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, preexec_fn=lambda: os.umask(0o022))
    try:
        deadline = time.monotonic() + 120
        while not list(var.glob("celerybeat-schedule*")) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # the shelve's companion files appear together
    finally:
        beat.terminate()
        beat.wait(30)
    files = sorted(var.glob("celerybeat-schedule*"))
    assert files, "beat wrote no schedule"
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    assert mode(var) == 0o700
