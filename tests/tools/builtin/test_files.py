"""read_file / write_file: round trips, and every way out of the workspace we could think of."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from tools import ArgumentError, ToolContext
from tools.builtin.files import (
    Target,
    locate,
    open_for_read,
    open_for_write,
    read_file,
    workspace_for,
    write_file,
)
from tools.errors import ErrorType
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(settings, tmp_path: Path) -> Path:
    settings.TOOLS_WORKSPACE_ROOT = tmp_path / "workspaces"
    settings.TOOLS_FILE_MAX_BYTES = 1000
    return settings.TOOLS_WORKSPACE_ROOT


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspaces, with a secret in it."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_text("top secret")
    return directory


@pytest.fixture
def ctx(user) -> ToolContext:
    return ToolContext(user=user)


@pytest.fixture
def ws(root: Path, ctx: ToolContext) -> Path:
    return workspace_for(ctx)


def listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


# -- happy paths ------------------------------------------------------------------------


def test_written_file_reads_back_identically(root, ctx):
    text = "Grüße, 世界!\nline two\n"
    written = write_file(ctx, path="notes/hello.txt", content=text)
    assert written == {"path": "notes/hello.txt", "bytes_written": len(text.encode()), "created": True}
    assert read_file(ctx, path="notes/hello.txt") == {
        "path": "notes/hello.txt", "size": len(text.encode()), "content": text,
    }


def test_file_lands_in_the_users_own_workspace(root, ctx, user):
    write_file(ctx, path="a.txt", content="x")
    assert (root / str(user.pk) / "a.txt").read_text() == "x"


def test_workspace_is_created_private(root, ctx, user):
    write_file(ctx, path="a.txt", content="x")
    assert stat.S_IMODE((root / str(user.pk)).stat().st_mode) == 0o700


def test_empty_content_is_a_valid_write_and_read(root, ctx):
    assert write_file(ctx, path="empty.txt", content="")["bytes_written"] == 0
    assert read_file(ctx, path="empty.txt") == {"path": "empty.txt", "size": 0, "content": ""}


def test_existing_file_is_not_replaced_without_overwrite(root, ctx):
    write_file(ctx, path="a.txt", content="first")
    with pytest.raises(ArgumentError, match="already exists") as info:
        write_file(ctx, path="a.txt", content="second")
    assert "overwrite=true" in info.value.hint
    assert read_file(ctx, path="a.txt")["content"] == "first"


def test_overwrite_replaces_the_whole_file(root, ctx):
    write_file(ctx, path="a.txt", content="a much longer first version")
    result = write_file(ctx, path="a.txt", content="short", overwrite=True)
    assert result["created"] is False
    assert read_file(ctx, path="a.txt")["content"] == "short"


def test_dot_dot_that_stays_inside_is_allowed(root, ctx):
    write_file(ctx, path="a/b/../c.txt", content="ok")
    assert read_file(ctx, path="a/c.txt")["content"] == "ok"


def test_symlink_inside_the_workspace_to_inside_is_followed(ws, ctx):
    write_file(ctx, path="real.txt", content="real")
    (ws / "alias.txt").symlink_to(ws / "real.txt")
    assert read_file(ctx, path="alias.txt") == {"path": "real.txt", "size": 4, "content": "real"}


# -- escapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../../etc/passwd", "a/../../x", "../x", "a/../../../../../../etc/passwd"])
def test_dot_dot_traversal_out_of_the_workspace_is_refused(root, ctx, path):
    with pytest.raises(ArgumentError, match="outside your workspace"):
        read_file(ctx, path=path)
    with pytest.raises(ArgumentError, match="outside your workspace"):
        write_file(ctx, path=path, content="pwned")
    assert sorted(p.name for p in root.iterdir()) == [str(ctx.user_id)]


@pytest.mark.parametrize("path", ["/etc/passwd", "//etc/passwd"])
def test_absolute_paths_are_refused(root, ctx, path):
    with pytest.raises(ArgumentError, match="is absolute"):
        read_file(ctx, path=path)
    with pytest.raises(ArgumentError, match="is absolute"):
        write_file(ctx, path=path, content="x")


def test_nul_byte_in_path_is_refused(root, ctx):
    with pytest.raises(ArgumentError, match="NUL byte"):
        read_file(ctx, path="a.txt\x00.png")
    with pytest.raises(ArgumentError, match="NUL byte"):
        write_file(ctx, path="a\x00b", content="x")


def test_symlink_to_a_file_outside_cannot_be_read(ws, ctx, outside):
    (ws / "passwd").symlink_to("/etc/passwd")
    (ws / "secret").symlink_to(outside / "secret.txt")
    for name in ("passwd", "secret"):
        with pytest.raises(ArgumentError, match="symbolic link that points outside your workspace"):
            read_file(ctx, path=name)


def test_writing_through_a_symlinked_directory_to_outside_is_refused(ws, ctx, outside):
    (ws / "out").symlink_to(outside, target_is_directory=True)
    before = listing(outside)
    for path in ("out/new.txt", "out/secret.txt", "out/deeper/new.txt"):
        with pytest.raises(ArgumentError, match="outside your workspace"):
            write_file(ctx, path=path, content="pwned", overwrite=True)
    assert listing(outside) == before


def test_symlink_as_final_component_pointing_outside_is_not_written_through(ws, ctx, outside):
    (ws / "link.txt").symlink_to(outside / "secret.txt")
    (ws / "dangling.txt").symlink_to(outside / "created-by-attacker.txt")
    before = listing(outside)
    for path in ("link.txt", "dangling.txt"):
        with pytest.raises(ArgumentError, match="outside your workspace"):
            write_file(ctx, path=path, content="pwned", overwrite=True)
    assert listing(outside) == before


def test_symlink_swapped_in_after_the_check_is_not_followed_on_write(ws, ctx, outside):
    # locate() saw a plain path; then the final component became a link to outside.
    target = locate(ws, "swap.txt")
    (ws / "swap.txt").symlink_to(outside / "secret.txt")
    with pytest.raises(OSError) as info:
        open_for_write(target, overwrite=True)
    assert info.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert (outside / "secret.txt").read_text() == "top secret"


def test_symlinked_directory_swapped_in_after_the_check_is_not_followed(ws, ctx, outside):
    target = locate(ws, "sub/secret.txt")
    (ws / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OSError):
        open_for_read(target)
    with pytest.raises(OSError):
        open_for_write(target, overwrite=True)
    assert (outside / "secret.txt").read_text() == "top secret"


def test_hard_link_to_a_file_outside_is_neither_read_nor_written(ws, ctx, outside):
    os.link(outside / "secret.txt", ws / "hard.txt")
    with pytest.raises(ArgumentError, match="has other hard links"):
        read_file(ctx, path="hard.txt")
    with pytest.raises(ArgumentError, match="has other hard links"):
        write_file(ctx, path="hard.txt", content="pwned", overwrite=True)
    assert (outside / "secret.txt").read_text() == "top secret"


def test_symlink_loop_is_refused_cleanly(ws, ctx):
    (ws / "loop").symlink_to(ws / "loop")
    with pytest.raises(ArgumentError):
        read_file(ctx, path="loop")


def test_user_cannot_read_another_users_file(root, user, other_user):
    alice, mallory = ToolContext(user=user), ToolContext(user=other_user)
    write_file(alice, path="diary.txt", content="alice's secret")
    for path in (f"../{user.pk}/diary.txt", f"../../workspaces/{user.pk}/diary.txt"):
        with pytest.raises(ArgumentError, match="outside your workspace"):
            read_file(mallory, path=path)
    with pytest.raises(ArgumentError, match="no file"):
        read_file(mallory, path="diary.txt")


def test_user_cannot_write_into_another_users_workspace(root, user, other_user):
    alice, mallory = ToolContext(user=user), ToolContext(user=other_user)
    write_file(alice, path="diary.txt", content="alice's")
    with pytest.raises(ArgumentError, match="outside your workspace"):
        write_file(mallory, path=f"../{user.pk}/diary.txt", content="mallory's", overwrite=True)
    assert read_file(alice, path="diary.txt")["content"] == "alice's"


# -- what counts as a readable file -----------------------------------------------------


def test_reading_a_missing_file_says_so(root, ctx):
    with pytest.raises(ArgumentError, match=r"there is no file at 'nope/missing\.txt'"):
        read_file(ctx, path="nope/missing.txt")


def test_directories_are_not_files(ws, ctx):
    (ws / "folder").mkdir()
    with pytest.raises(ArgumentError, match="is a directory"):
        read_file(ctx, path="folder")
    with pytest.raises(ArgumentError, match="is a directory"):
        write_file(ctx, path="folder", content="x", overwrite=True)
    with pytest.raises(ArgumentError, match="workspace directory itself"):
        read_file(ctx, path=".")


def test_fifo_is_refused_without_blocking(ws, ctx):
    os.mkfifo(ws / "pipe")
    with pytest.raises(ArgumentError, match="not a regular file"):
        read_file(ctx, path="pipe")
    with pytest.raises(ArgumentError, match="not a regular file"):
        write_file(ctx, path="pipe", content="x", overwrite=True)


def test_writing_below_an_existing_file_is_refused(root, ctx):
    write_file(ctx, path="a.txt", content="x")
    with pytest.raises(ArgumentError, match="is a file, not a directory"):
        write_file(ctx, path="a.txt/b.txt", content="y")


def test_binary_file_is_refused_with_a_clear_error(ws, ctx):
    (ws / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (ws / "latin1.txt").write_bytes("café".encode("latin-1"))
    for name in ("image.png", "latin1.txt"):
        with pytest.raises(ArgumentError, match="is not UTF-8 text"):
            read_file(ctx, path=name)


def test_reading_a_file_over_the_limit_names_size_and_limit(ws, ctx):
    (ws / "big.txt").write_text("x" * 1001)
    message = r"'big\.txt' is 1,001 bytes; read_file reads files of at most 1,000 bytes"
    with pytest.raises(ArgumentError, match=message):
        read_file(ctx, path="big.txt")


def test_file_exactly_at_the_limit_is_read(ws, ctx):
    (ws / "edge.txt").write_text("x" * 1000)
    assert read_file(ctx, path="edge.txt")["size"] == 1000


def test_write_limit_counts_utf8_bytes_not_characters(root, ctx):
    message = "content is 1,002 bytes in UTF-8; write_file writes at most 1,000 bytes"
    with pytest.raises(ArgumentError, match=message):
        write_file(ctx, path="big.txt", content="é" * 501)  # 501 characters, 1002 bytes
    with pytest.raises(ArgumentError, match="there is no file"):
        read_file(ctx, path="big.txt")
    assert write_file(ctx, path="ok.txt", content="é" * 500)["bytes_written"] == 1000


def test_no_user_in_context_is_a_clear_error(root):
    for call in (lambda: read_file(ToolContext(), path="a.txt"),
                 lambda: write_file(ToolContext(), path="a.txt", content="x")):
        with pytest.raises(PermissionError, match="need a signed-in user"):
            call()
    assert not root.exists()


def test_locate_keeps_the_resolved_components(ws):
    assert locate(ws, "a/./b/../c.txt") == Target(ws, ("a", "c.txt"))


# -- through the pipeline ---------------------------------------------------------------


@pytest.fixture
def pipeline() -> Pipeline:
    registry = Registry()
    registry.register(read_file)
    registry.register(write_file)
    return Pipeline(registry, gate=None)


@pytest.mark.django_db(transaction=True)
async def test_escape_attempt_reaches_the_model_as_a_validation_error(root, pipeline, user):
    result = await pipeline.call(ToolCallRequest("read_file", '{"path": "../../etc/passwd"}'),
                                 ToolContext(user=user))
    assert result.status == "error"
    assert result.error.type == ErrorType.VALIDATION_ERROR
    assert "outside your workspace" in result.error.message
    assert "root:" not in result.content()


@pytest.mark.django_db(transaction=True)
async def test_round_trip_through_the_pipeline(root, pipeline, user):
    ctx = ToolContext(user=user)
    written = await pipeline.call(
        ToolCallRequest("write_file", {"path": "todo.md", "content": "- buy milk"}), ctx)
    assert written.status == "ok", written.error
    read = await pipeline.call(ToolCallRequest("read_file", {"path": "todo.md"}), ctx)
    assert read.output == {"path": "todo.md", "size": 10, "content": "- buy milk"}


@pytest.mark.django_db(transaction=True)
async def test_anonymous_call_fails_without_touching_the_disk(root, pipeline):
    result = await pipeline.call(ToolCallRequest("read_file", {"path": "a.txt"}), ToolContext())
    assert result.status == "error"
    assert "need a signed-in user" in result.error.message
    assert not root.exists()


def test_risk_levels_match_what_the_tools_can_do():
    assert (str(read_file.risk), read_file.read_only) == ("low", True)
    assert (str(write_file.risk), write_file.read_only) == ("medium", False)
    assert "ctx" not in read_file.parameters["properties"]
