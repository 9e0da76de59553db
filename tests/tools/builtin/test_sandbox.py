"""run_python: hostile code ends promptly, leaves nothing running, and learns no secrets.

After every test the ``sandbox_runs`` check (conftest.py) scans /proc for live processes the
test's runs left behind and for scratch directories left on disk. Limits are small so each
adversarial test ends in seconds. These run in the isolated mode (bubblewrap); the weak
mode and the refusal are in test_sandbox_modes.py, what the code can reach in test_bwrap.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from tests.tools.builtin.conftest import run
from tools.builtin import bwrap, sandbox
from tools.builtin.sandbox import FILE_SIZE_LIMIT, TRUNCATED, UID_RANGE, run_python
from tools.context import ToolContext
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry

pytestmark = pytest.mark.usefixtures("sandbox_runs")


@pytest.fixture
def plan() -> sandbox.Plan:
    return sandbox.sandbox_plan()


# -- ordinary runs --------------------------------------------------------------------------------


def test_print_zero_returns_zero_and_a_newline() -> None:
    result = run("print(0)")
    assert result["stdout"] == "0\n"
    assert (result["stderr"], result["exit_code"], result["timed_out"]) == ("", 0, False)
    assert (result["killed_by_signal"], result["truncated"]) == (None, False)


def test_a_traceback_comes_back_in_stderr_with_a_nonzero_exit_code() -> None:
    result = run("print('before')\nraise ValueError('boom')")
    assert result["stdout"] == "before\n"
    assert "ValueError: boom" in result["stderr"]
    assert result["exit_code"] == 1


def test_stdin_is_empty() -> None:
    assert run("import sys\nprint(repr(sys.stdin.read()))")["stdout"] == "''\n"


def test_the_working_directory_holds_only_the_script_and_nothing_of_it_is_left_on_the_host() -> None:
    code = (
        "import os\n"
        "print(os.getcwd())\n"
        "print(sorted(os.listdir('.')))\n"
        "os.makedirs('locked/inner')\n"
        "open('locked/inner/f', 'w').write('x')\n"
        "os.chmod('locked/inner', 0)\n"
        "os.chmod('locked', 0)\n"
    )
    result = run(code)
    cwd, listing = result["stdout"].splitlines()
    assert listing == "['main.py']"
    assert cwd == bwrap.WORKDIR  # a tmpfs of its own: the autouse check finds nothing on disk
    assert result["filesystem_isolated"] is True


def test_files_in_its_own_directory_and_in_tmp_work_within_their_size() -> None:
    code = (
        "import os\n"
        "open('data.txt', 'w').write('kept')\n"
        "print(open('data.txt').read())\n"
        "open('/tmp/scratch', 'wb').write(b'x' * 100_000)\n"
        "print(os.path.getsize('/tmp/scratch'))\n"
        "try:\n"
        "    for n in range(40):\n"
        "        open(f'/tmp/fill{n}', 'wb').write(b'x' * 1_000_000)\n"
        "except OSError as exc:\n"
        "    print('errno', exc.errno)\n"
    )
    assert run(code)["stdout"].splitlines() == ["kept", "100000", "errno 28"]  # ENOSPC: 4 MB


# -- time -----------------------------------------------------------------------------------------


def test_an_infinite_loop_times_out_and_is_killed() -> None:
    result = run("while True:\n    pass")
    assert result["timed_out"] is True
    assert result["exit_code"] is None
    assert result["killed_by_signal"] in {"SIGKILL", "SIGXCPU"}


def test_sleeping_code_is_stopped_by_the_wall_clock() -> None:
    result = run("import time\nprint('started')\ntime.sleep(600)")
    assert result["timed_out"] is True
    assert result["killed_by_signal"] == "SIGKILL"
    assert result["stdout"] == "started\n"  # output up to the kill is kept


def test_pipeline_reports_a_timeout_as_a_result_not_a_pipeline_timeout() -> None:
    registry = Registry()
    registry.register(run_python)
    pipeline = Pipeline(registry, gate=None, access=None, record=False)
    result = pipeline.call_sync(ToolCallRequest("run_python", {"code": "while True: pass"}), ToolContext())
    assert result.status == "ok"
    assert result.output["timed_out"] is True


def test_the_tool_timeout_leaves_room_for_the_sandbox_to_kill_first(settings) -> None:
    assert run_python.timeout >= settings.TOOLS_PYTHON_TIMEOUT + sandbox.KILL_MARGIN
    assert str(run_python.risk) == "high"


# -- processes ------------------------------------------------------------------------------------


def test_a_fork_bomb_is_contained_and_killed() -> None:
    result = run("import os\nwhile True:\n    os.fork()")
    assert result["exit_code"] != 0
    assert "BlockingIOError" in result["stderr"] or result["timed_out"]


def test_a_fork_bomb_that_ignores_fork_failures_is_killed_at_the_deadline() -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = run(code)
    assert result["timed_out"] is True


def test_background_processes_do_not_outlive_the_run() -> None:
    code = (
        "import os, time\n"
        "ready, tell = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.write(tell, b'x')\n"
        "    time.sleep(600)\n"
        "    os._exit(0)\n"
        "os.read(ready, 1)\n"
        "print('parent exits')\n"
    )
    result = run(code)
    assert (result["stdout"], result["exit_code"], result["timed_out"]) == ("parent exits\n", 0, False)


def test_a_process_that_leaves_the_process_group_is_killed_too(plan: sandbox.Plan) -> None:
    if not plan.drop_privileges:
        pytest.skip("escaping the process group is only caught when the service runs as root")
    code = (
        "import os, time\n"
        "ready, tell = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.write(tell, b'x')\n"
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
        "os.read(ready, 1)  # the detached grandchild is running\n"
        "print('detached')\n"
    )
    assert run(code)["stdout"] == "detached\n"  # and the autouse check finds nothing left


def test_concurrent_runs_do_not_kill_each_other() -> None:
    results: dict[str, dict] = {}

    def slow() -> None:
        results["slow"] = run_python.fn("import time\ntime.sleep(1)\nprint('survived')")

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)
    for _ in range(3):
        assert run("print('quick')")["stdout"] == "quick\n"
    thread.join(30)
    assert results["slow"]["stdout"] == "survived\n"


def test_code_runs_as_a_fresh_unprivileged_user_when_the_service_is_root(plan: sandbox.Plan) -> None:
    if not plan.drop_privileges:
        pytest.skip("the service is not root, so there are no privileges to drop")
    code = (
        "import os\n"
        "print(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
        "try:\n"
        "    os.listdir('/root')\n"
        "except (PermissionError, FileNotFoundError):\n"
        "    print('no /root')\n"
    )
    first = run(code)["stdout"].splitlines()
    second = run(code)["stdout"].splitlines()
    uid, euid, gid, groups = first[0].split(" ", 3)
    assert int(uid) in UID_RANGE and euid == uid and gid == uid and groups == "[]"
    assert first[1] == "no /root"
    assert second[0] != first[0]  # a fresh uid per run


def test_setuid_programs_cannot_raise_privileges() -> None:
    result = run("print([l for l in open('/proc/self/status') if l.startswith('NoNewPrivs')][0].split()[1])")
    assert result["stdout"] == "1\n"


# -- memory and files -----------------------------------------------------------------------------


def test_a_huge_allocation_raises_memory_error() -> None:
    result = run("x = ' ' * 10**10")
    assert "MemoryError" in result["stderr"]
    assert result["exit_code"] == 1


def test_a_growing_list_is_stopped_by_the_memory_limit() -> None:
    result = run("chunks = []\nwhile True:\n    chunks.append(' ' * 10**6)")
    assert result["exit_code"] != 0
    assert "MemoryError" in result["stderr"] or result["killed_by_signal"] is not None
    assert result["timed_out"] is False  # the memory limit, not the clock, stopped it


def test_writing_a_huge_file_hits_the_file_size_limit() -> None:
    code = (
        "import os\n"
        "with open('big', 'wb') as f:\n"
        "    try:\n"
        "        f.write(b'x' * (8 << 20))\n"
        "        f.flush()\n"
        "    except OSError as exc:\n"
        "        print('errno', exc.errno)\n"
        "print(os.path.getsize('big'))\n"
    )
    lines = run(code)["stdout"].splitlines()
    assert lines[0] == "errno 27"  # EFBIG
    assert int(lines[1]) <= FILE_SIZE_LIMIT


def test_too_many_open_files_are_refused() -> None:
    code = (
        "handles = []\n"
        "try:\n"
        "    for _ in range(1000):\n"
        "        handles.append(open('main.py'))\n"
        "except OSError as exc:\n"
        "    print('errno', exc.errno, len(handles) < 100)\n"
    )
    assert run(code)["stdout"] == "errno 24 True\n"  # EMFILE


# -- output ---------------------------------------------------------------------------------------


def test_output_beyond_the_limit_is_truncated_with_a_marker() -> None:
    result = run("print('x' * 5000)\nimport sys\nprint('e' * 5000, file=sys.stderr)")
    assert result["truncated"] is True
    assert result["stdout"] == "x" * 1000 + TRUNCATED
    assert result["stderr"] == "e" * 1000 + TRUNCATED
    assert result["stdout"].endswith("[truncated]")


def test_output_at_the_limit_is_not_truncated() -> None:
    result = run("print('x' * 999)")
    assert (result["stdout"], result["truncated"]) == ("x" * 999 + "\n", False)


def test_output_larger_than_the_file_size_limit_still_returns() -> None:
    result = run("import sys\nfor _ in range(64):\n    sys.stdout.write('y' * 65536)")
    assert result["truncated"] is True
    assert result["stdout"].startswith("y" * 1000)
    assert "File too large" in result["stderr"]


def test_invalid_utf8_output_is_replaced_not_fatal() -> None:
    result = run("import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe')")
    assert result["stdout"] == "ok \ufffd\ufffd"


# -- secrets and network --------------------------------------------------------------------------


def test_environment_secrets_are_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    result = run("import json, os\nprint(json.dumps(dict(os.environ)))")
    environment = json.loads(result["stdout"])
    assert "OPENAI_API_KEY" not in environment
    assert "sk-test-secret" not in result["stdout"]
    assert set(environment) <= {"PATH", "LANG", "HOME", "TMPDIR", "LC_CTYPE", "PWD"}


def test_the_network_is_unreachable_from_the_sandbox(plan: sandbox.Plan) -> None:
    if not plan.network_isolated:
        pytest.skip("this kernel refused a network namespace; run_python reports network_isolated=false")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print('blocked', type(exc).__name__)\n"
        )
        result = run(code)
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    assert result["stdout"].startswith("blocked")
    assert result["network_isolated"] is True
