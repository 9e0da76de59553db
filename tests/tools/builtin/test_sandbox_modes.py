"""run_python refuses to run without filesystem isolation, unless the weak mode is accepted.

``TOOLS_SANDBOX_BWRAP`` pointed at a file that is missing (or at one that cannot start
Python) stands for a machine without bubblewrap or without user namespaces.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.datadir import DataDir, create_data_dir
from tests.tools.builtin.conftest import run
from tools.builtin import sandbox
from tools.builtin.sandbox import run_python
from tools.context import ToolContext
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry

pytestmark = pytest.mark.usefixtures("sandbox_runs")

MISSING = "/nonexistent/bwrap"


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory any uid of the host may write to and read from."""
    path = Path(tempfile.mkdtemp(prefix="toolgate-shared-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


def call(code: str):
    registry = Registry()
    registry.register(run_python)
    pipeline = Pipeline(registry, gate=None, access=None, record=False)
    return pipeline.call_sync(ToolCallRequest("run_python", {"code": code}), ToolContext())


def test_without_bubblewrap_run_python_refuses_and_names_the_cause(settings, shared: Path) -> None:
    settings.TOOLS_SANDBOX_BWRAP = MISSING
    result = call(f"open({str(shared / 'ran')!r}, 'w').write('ran')")
    assert result.status == "error"
    assert result.error.message == (
        "run_python failed: SandboxUnavailable: run_python is off: filesystem isolation is "
        f"unavailable (no bubblewrap executable at {MISSING} (TOOLS_SANDBOX_BWRAP; Debian package "
        "bubblewrap)). Install bubblewrap, or set TOOLS_SANDBOX_ALLOW_WEAK=true to accept a "
        "sandbox that can read the machine's world-readable files")
    assert list(shared.iterdir()) == []  # the code never ran
    assert sandbox.sandbox_status()["mode"] == "off"


def test_a_bubblewrap_that_cannot_start_python_is_refused_too(settings) -> None:
    settings.TOOLS_SANDBOX_BWRAP = shutil.which("false")
    with pytest.raises(sandbox.SandboxUnavailable) as caught:
        run("print(1)")
    message = str(caught.value)
    assert message.startswith("run_python is off: filesystem isolation is unavailable "
                              f"({shutil.which('false')} could not start Python: ")
    assert "exit 1" in message


def test_the_weak_mode_runs_when_accepted_and_says_it_is_not_isolated(settings, shared: Path) -> None:
    default = settings.TOOLS_SANDBOX_BWRAP
    settings.TOOLS_SANDBOX_BWRAP = MISSING
    settings.TOOLS_SANDBOX_ALLOW_WEAK = True
    visible = shared / "world-readable.txt"
    visible.write_text("seen")
    visible.chmod(0o644)
    result = run(f"print(open({str(visible)!r}).read())")
    assert (result["stdout"], result["filesystem_isolated"]) == ("seen\n", False)
    status = sandbox.sandbox_status()
    assert status["mode"] == "weak"
    assert status["detail"].startswith(
        f"TOOLS_SANDBOX_ALLOW_WEAK accepted: no bubblewrap executable at {MISSING}")

    settings.TOOLS_SANDBOX_BWRAP = default  # the same code, isolated, sees nothing
    isolated = run(f"print(open({str(visible)!r}).read())")
    assert "FileNotFoundError" in isolated["stderr"]
    assert isolated["filesystem_isolated"] is True


def test_accepting_the_weak_mode_does_not_weaken_an_isolated_machine(settings) -> None:
    settings.TOOLS_SANDBOX_ALLOW_WEAK = True
    assert run("print(1)")["filesystem_isolated"] is True
    assert sandbox.sandbox_status()["mode"] == "isolated"


def test_weak_mode_timeouts_still_kill_everything(settings) -> None:
    settings.TOOLS_SANDBOX_BWRAP = MISSING
    settings.TOOLS_SANDBOX_ALLOW_WEAK = True
    code = "import os\nif os.fork() == 0:\n    os.setsid()\nwhile True:\n    pass"
    result = run(code)
    assert result["timed_out"] is True  # and the sandbox_runs check finds nothing left


@pytest.fixture(scope="module")
def made() -> Iterator[DataDir]:
    data = create_data_dir()
    yield data
    shutil.rmtree(data.base, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the weak mode runs code as another uid only under root")
def test_even_the_weak_mode_cannot_read_the_private_data_directory(settings, made: DataDir) -> None:
    settings.TOOLS_SANDBOX_BWRAP = MISSING
    settings.TOOLS_SANDBOX_ALLOW_WEAK = True
    code = (
        f"print(os.listdir({str(made.base)!r}))\n"  # the parent is world-traversable
        f"for path in [{str(made.database)!r}, {str(made.var / 'secret_key')!r}]:\n"
        "    try:\n"
        "        open(path, 'rb').read()\n"
        "        print('read', path)\n"
        "    except PermissionError:\n"
        "        print('refused')\n"
    )
    result = run("import os\n" + code)
    assert result["stdout"].splitlines() == ["['var']", "refused", "refused"]
    assert made.canary not in result["stdout"]


def test_a_machine_fixed_after_a_refusal_runs_code_without_a_restart(settings, monkeypatch) -> None:
    directory = Path(tempfile.mkdtemp(prefix="toolgate-bwrap-"))
    try:
        directory.chmod(0o755)  # the sandbox's uid executes bwrap from here
        settings.TOOLS_SANDBOX_BWRAP = str(directory / "bwrap")
        with pytest.raises(sandbox.SandboxUnavailable, match="no bubblewrap executable at"):
            run("print(1)")
        shutil.copy(shutil.which("bwrap"), directory)  # the machine is fixed
        with pytest.raises(sandbox.SandboxUnavailable, match="no bubblewrap executable at"):
            run("print(1)")  # the refusal is remembered for a while: /ready may poll often
        monkeypatch.setattr(sandbox, "RETRY_AFTER", 0.0)
        result = run("print(1)")
        assert (result["stdout"], result["filesystem_isolated"]) == ("1\n", True)
    finally:
        shutil.rmtree(directory)
