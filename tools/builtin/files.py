"""Read and write UTF-8 text files in the calling user's own workspace, and nowhere else.

The path comes from a model, and a model can be talked into asking for ``../../etc/passwd``
or for a file someone planted a symbolic link to. So containment is decided on the
*resolved* path (every symlink followed) with ``Path.is_relative_to``, never by comparing
strings; and the file is then opened one component at a time, relative to the workspace
directory and with ``O_NOFOLLOW``, so a symlink swapped in after that check is refused
instead of followed. Each user's workspace is ``TOOLS_WORKSPACE_ROOT/<user id>`` (mode
0700), created on first use.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from django.conf import settings
from pydantic import Field

from tools import ArgumentError, ToolContext, tool
from tools.definition import Tool

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_PATH_HINT = "Use a path relative to your workspace, such as 'notes/todo.txt'."

PathArg = Annotated[str, Field(min_length=1, max_length=1024)]


def workspace_for(ctx: ToolContext) -> Path:
    """The caller's workspace directory, created (mode 0700) if missing, fully resolved."""
    user_id = ctx.user_id
    if user_id is None:
        raise PermissionError(
            "the file tools need a signed-in user: files live in each user's own workspace"
        )
    root = Path(settings.TOOLS_WORKSPACE_ROOT)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    workspace = root / str(user_id)
    workspace.mkdir(mode=0o700, exist_ok=True)
    return workspace.resolve()


@dataclass(frozen=True)
class Target:
    """A checked path: its components below the workspace, after resolving symlinks."""

    workspace: Path
    parts: tuple[str, ...]

    @property
    def shown(self) -> str:
        """The path as the model should see it: relative, with forward slashes."""
        return "/".join(self.parts)


def locate(workspace: Path, path: str) -> Target:
    """Check that ``path`` names something inside ``workspace``; raise ArgumentError if not."""
    if "\x00" in path:
        raise ArgumentError("path contains a NUL byte", path="path", got=path.replace("\x00", "\\0"),
                            hint=_PATH_HINT)
    if not path.strip():
        raise ArgumentError("path is empty", path="path", got=path, hint=_PATH_HINT)
    if Path(path).is_absolute():
        raise ArgumentError(f"path {path!r} is absolute; paths are relative to your workspace",
                            path="path", got=path, hint=_PATH_HINT)
    try:
        resolved = (workspace / path).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        raise ArgumentError(f"path {path!r} cannot be resolved: {exc}", path="path", got=path,
                            hint=_PATH_HINT) from None
    if not resolved.is_relative_to(workspace):
        lexical = Path(os.path.normpath(workspace / path))
        why = ("goes through a symbolic link that points" if lexical.is_relative_to(workspace)
               else "points")
        raise ArgumentError(f"path {path!r} {why} outside your workspace", path="path", got=path,
                            hint=_PATH_HINT)
    parts = resolved.relative_to(workspace).parts
    if not parts:
        raise ArgumentError(f"path {path!r} names the workspace directory itself, not a file",
                            path="path", got=path, hint=_PATH_HINT)
    return Target(workspace, parts)


def open_parent(target: Target, *, create: bool) -> int:
    """A descriptor of the target's directory, reached without following any symlink.

    With ``create``, missing directories are made (mode 0700) on the way down.
    """
    fd = os.open(target.workspace, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in target.parts[:-1]:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o700, dir_fd=fd)
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_for_read(target: Target) -> int:
    parent = open_parent(target, create=False)
    try:
        return os.open(target.parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
    finally:
        os.close(parent)


def open_for_write(target: Target, *, overwrite: bool) -> tuple[int, bool]:
    """A writable descriptor of the target and whether the file was created.

    ``O_CREAT | O_EXCL`` never follows a symlink, and ``O_NOFOLLOW`` refuses one at the
    final component when opening an existing file; ``O_NONBLOCK`` keeps a FIFO from
    blocking the open (it fails instead, and a non-regular file is refused anyway).
    """
    parent = open_parent(target, create=True)
    name = target.parts[-1]
    flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        try:
            return os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=parent), True
        except FileExistsError:
            if not overwrite:
                raise ArgumentError(
                    f"{target.shown!r} already exists", path="overwrite", got=False,
                    hint="Pass overwrite=true to replace it, or choose another path.",
                ) from None
        return os.open(name, flags, dir_fd=parent), False
    finally:
        os.close(parent)


def _os_error(exc: OSError, target: Target) -> ArgumentError:
    shown = target.shown
    if exc.errno == errno.ENOENT:
        message = f"there is no file at {shown!r}"
        hint = "Check the path; use write_file to create a file."
    elif exc.errno == errno.ENOTDIR:
        message = f"a part of {shown!r} is a file, not a directory"
        hint = _PATH_HINT
    elif exc.errno == errno.EISDIR:
        message = f"{shown!r} is a directory, not a file"
        hint = _PATH_HINT
    elif exc.errno == errno.ELOOP:
        message = f"{shown!r} is (or goes through) a symbolic link, which is not followed"
        hint = _PATH_HINT
    elif exc.errno == errno.ENXIO:
        message = f"{shown!r} is not a regular file"
        hint = _PATH_HINT
    else:
        message = f"cannot open {shown!r}: {exc.strerror or exc}"
        hint = None
    return ArgumentError(message, path="path", got=shown, hint=hint)


def _require_regular(fd: int, target: Target) -> os.stat_result:
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise ArgumentError(f"{target.shown!r} is a directory, not a file", path="path",
                            got=target.shown, hint=_PATH_HINT)
    if not stat.S_ISREG(info.st_mode):
        raise ArgumentError(f"{target.shown!r} is not a regular file (a device, FIFO or socket)",
                            path="path", got=target.shown, hint=_PATH_HINT)
    if info.st_nlink > 1:  # a hard link may share its content with a file outside the workspace
        raise ArgumentError(f"{target.shown!r} has other hard links, which are not followed",
                            path="path", got=target.shown, hint=_PATH_HINT)
    return info


def _too_big(target: Target, size: int, limit: int) -> ArgumentError:
    return ArgumentError(
        f"{target.shown!r} is {size:,} bytes; read_file reads files of at most {limit:,} bytes",
        path="path", got=target.shown, hint="Tell the user the file is too large to read.",
    )


def check_path(arguments: dict[str, Any], ctx: ToolContext) -> None:
    """read_file's and write_file's pre-check (``Tool.precheck``), run before the gate:
    the path must stay inside the caller's workspace. It creates nothing (the workspace may
    not exist yet); the tool checks again, and opens without following links, when it runs."""
    if ctx.user_id is None:
        workspace_for(ctx)  # raises the tool's own error
    workspace = (Path(settings.TOOLS_WORKSPACE_ROOT) / str(ctx.user_id)).resolve()
    locate(workspace, arguments["path"])


@tool(risk="low", read_only=True, idempotent=True, precheck=check_path)
def read_file(ctx: ToolContext, path: PathArg) -> dict[str, Any]:
    """Read a UTF-8 text file from the user's private workspace.

    Use this to look at a file the user (or an earlier write_file call) saved in their
    workspace. Paths are relative to the workspace root: "notes.txt", "reports/q3.md".
    Absolute paths, ".." that leaves the workspace and links to outside it are refused.
    Binary files and files over the size limit cannot be read.

    Example: read_file(path="reports/q3.md")
    Returns {"path": "reports/q3.md", "size": 1204, "content": "# Q3 ..."}; size is in bytes.

    Args:
        path: File path relative to the workspace, e.g. "notes/todo.txt".
    """
    workspace = workspace_for(ctx)
    target = locate(workspace, path)
    limit = settings.TOOLS_FILE_MAX_BYTES
    try:
        fd = open_for_read(target)
    except OSError as exc:
        raise _os_error(exc, target) from None
    try:
        info = _require_regular(fd, target)
        if info.st_size > limit:
            raise _too_big(target, info.st_size, limit)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:  # the file grew after fstat
        raise _too_big(target, len(data), limit)
    try:
        if b"\x00" in data:
            raise UnicodeError
        content = data.decode("utf-8")
    except UnicodeError:
        raise ArgumentError(
            f"{target.shown!r} is not UTF-8 text (it looks like a binary file)", path="path",
            got=target.shown, hint="read_file only reads text files; tell the user.",
        ) from None
    return {"path": target.shown, "size": len(data), "content": content}


@tool(risk="medium", precheck=check_path)
def write_file(ctx: ToolContext, path: PathArg, content: str, overwrite: bool = False) -> dict[str, Any]:
    """Save text as a UTF-8 file in the user's private workspace.

    Use this when the user asks you to save, export or draft something as a file. Paths are
    relative to the workspace root; missing folders are created. An existing file is only
    replaced when overwrite is true, so read it first if you mean to change it. Absolute
    paths, ".." that leaves the workspace and links to outside it are refused, and content
    over the size limit is rejected.

    Example: write_file(path="drafts/letter.md", content="Dear Sam,\\n...")
    Returns {"path": "drafts/letter.md", "bytes_written": 812, "created": true}.

    Args:
        path: File path relative to the workspace, e.g. "drafts/letter.md".
        content: The full text of the file (it replaces any earlier content). May be empty.
        overwrite: Replace the file if it already exists. Default false: refuse instead.
    """
    try:
        data = content.encode("utf-8")
    except UnicodeEncodeError:
        raise ArgumentError("content is not valid Unicode text (it contains a lone surrogate)",
                            path="content") from None
    limit = settings.TOOLS_FILE_MAX_BYTES
    if len(data) > limit:
        raise ArgumentError(
            f"content is {len(data):,} bytes in UTF-8; write_file writes at most {limit:,} bytes",
            path="content", hint="Write less, or split the text over several files.",
        )
    workspace = workspace_for(ctx)
    target = locate(workspace, path)
    parent = workspace.joinpath(*target.parts[:-1]).resolve()
    if not parent.is_relative_to(workspace):  # belt and braces: locate resolved the whole path
        raise ArgumentError(f"path {path!r} points outside your workspace", path="path", got=path,
                            hint=_PATH_HINT)
    try:
        fd, created = open_for_write(target, overwrite=overwrite)
    except OSError as exc:
        raise _os_error(exc, target) from None
    try:
        _require_regular(fd, target)
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return {"path": target.shown, "bytes_written": len(data), "created": created}


TOOLS: list[Tool] = [read_file, write_file]
