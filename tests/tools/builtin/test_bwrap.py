"""What code run by run_python can reach under bubblewrap: its own directory, /tmp, the
Python runtime; not the application's data, the project, /etc, other processes or the network.

Each attack runs through the real tool against a data directory the application created
itself (tests/datadir.py: ``manage.py migrate``, the development secret key, a user's
workspace, the sample database), and the canary planted in that data must never come back.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.datadir import DataDir, create_data_dir
from tests.tools.builtin.conftest import run
from tools.builtin import bwrap
from tools.builtin.sandbox import run_python
from tools.context import ToolContext
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry

pytestmark = pytest.mark.usefixtures("sandbox_runs")

ATTEMPT = """
import json
outcomes = {{}}
for path in {paths!r}:
    try:
        with open(path, {mode!r}) as handle:
            outcomes[path] = 'ALLOWED ' + repr(handle.read(300) if 'r' in {mode!r} else handle.write('x'))
    except OSError as exc:
        outcomes[path] = 'DENIED ' + type(exc).__name__
print(json.dumps(outcomes))
"""


def attempt(paths: list[str], mode: str = "rb") -> dict[str, str]:
    result = run(ATTEMPT.format(paths=paths, mode=mode))
    assert result["exit_code"] == 0, result["stderr"]
    return json.loads(result["stdout"])


@pytest.fixture(scope="module")
def made() -> Iterator[DataDir]:
    data = create_data_dir()
    yield data
    shutil.rmtree(data.base, ignore_errors=True)


@pytest.fixture
def data_dir(made: DataDir, settings) -> DataDir:
    """The app's settings point at the data directory the app created."""
    settings.VAR_DIR = made.var
    settings.TOOLS_WORKSPACE_ROOT = made.var / "workspaces"
    settings.TOOLS_SAMPLE_DB_PATH = made.var / "sample.sqlite3"
    return made


def test_the_database_cannot_be_read_through_the_tool(data_dir: DataDir) -> None:
    registry = Registry()
    registry.register(run_python)
    pipeline = Pipeline(registry, gate=None, access=None, record=False)
    code = (
        "import sqlite3\n"
        f"db = sqlite3.connect('file:{data_dir.database}?mode=ro', uri=True)\n"
        "print(db.execute('select username from auth_user').fetchall())\n"
    )
    result = pipeline.call_sync(ToolCallRequest("run_python", {"code": code}), ToolContext())
    assert result.status == "ok"
    assert "sqlite3.OperationalError: unable to open database file" in result.output["stderr"]
    assert data_dir.canary not in json.dumps(result.output)
    assert data_dir.canary.encode() in data_dir.database.read_bytes()  # it is there to be found


def test_the_database_secret_key_and_sample_database_files_cannot_be_opened(data_dir: DataDir) -> None:
    targets = [str(data_dir.database), str(data_dir.var / "secret_key"),
               str(data_dir.var / "sample.sqlite3"), str(data_dir.var)]
    outcomes = attempt(targets)
    assert outcomes == {path: "DENIED FileNotFoundError" for path in targets}


def test_another_users_workspace_cannot_be_read(data_dir: DataDir) -> None:
    assert data_dir.workspace_file.read_text() == data_dir.canary
    outcomes = attempt([str(data_dir.workspace_file)])
    assert outcomes == {str(data_dir.workspace_file): "DENIED FileNotFoundError"}


def test_the_projects_source_cannot_be_read() -> None:
    base = Path(django_settings.BASE_DIR)
    targets = [str(base / "manage.py"), str(base / "assistant" / "settings.py"),
               str(base / ".venv" / "pyvenv.cfg")]
    assert all(Path(path).is_file() for path in targets)
    assert attempt(targets) == {path: "DENIED FileNotFoundError" for path in targets}


def test_the_root_holds_only_the_runtime_its_directories_and_no_etc() -> None:
    code = "import os\nprint(sorted(os.listdir('/')))\nprint(sorted(os.listdir('/dev')))"
    top, devices = run(code)["stdout"].splitlines()
    links = [link.lstrip("/") for link in bwrap.MERGED_USR_LINKS if os.path.lexists(link)]
    assert top == repr(sorted(["usr", "sandbox", "tmp", "dev", "proc", *links]))
    assert devices == repr(["null", "urandom", "zero"])
    assert attempt(["/etc/passwd", "/etc/shadow", "/root"]) == {
        "/etc/passwd": "DENIED FileNotFoundError", "/etc/shadow": "DENIED FileNotFoundError",
        "/root": "DENIED FileNotFoundError"}


def test_no_other_process_or_its_environment_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLGATE_CANARY_SECRET", "canary-in-the-service-environment")
    code = (
        "import os\n"
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
        "print(repr(open('/proc/1/environ', 'rb').read()))\n"
        f"print(os.path.exists('/proc/{os.getpid()}/environ') and os.getpid() != {os.getpid()})\n"
    )
    result = run(code)
    pids, init_environment, service_visible = result["stdout"].splitlines()
    assert pids == "[1, 2]"  # bwrap's reaper and the script: its own PID namespace
    assert init_environment == "b''"  # the reaper was started with an empty environment
    assert service_visible == "False"
    assert "canary-in-the-service-environment" not in result["stdout"]


def test_writing_outside_its_directory_fails_even_where_the_host_allows_everyone() -> None:
    shared = Path(tempfile.mkdtemp(prefix="toolgate-shared-"))
    try:
        shared.chmod(0o777)  # any uid of the host may write here; the sandbox must not
        targets = [str(shared / "planted"), "/planted", "/usr/planted", "/usr/lib/planted",
                   "/dev/planted", "/proc/planted", "/etc/planted"]
        outcomes = attempt(targets, mode="w")
        assert all(outcome.startswith("DENIED") for outcome in outcomes.values()), outcomes
        assert outcomes["/usr/planted"] == "DENIED OSError"  # EROFS: a read-only bind mount
        assert list(shared.iterdir()) == []
        assert not os.path.exists("/usr/lib/planted")
    finally:
        shutil.rmtree(shared)


def test_no_socket_reaches_the_host() -> None:
    abstract = f"\0toolgate-test-{os.getpid()}"
    with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as unix:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        unix.bind(abstract)
        unix.listen()
        targets = f"[(socket.AF_INET, ('127.0.0.1', {tcp.getsockname()[1]})), (socket.AF_UNIX, {abstract!r})]"
        code = (
            "import socket\n"
            f"for family, address in {targets}:\n"
            "    try:\n"
            "        with socket.socket(family) as s:\n"
            "            s.settimeout(1)\n"
            "            s.connect(address)\n"
            "        print('connected')\n"
            "    except OSError as exc:\n"
            "        print('refused', type(exc).__name__)\n"
        )
        result = run(code)
        for listener in (tcp, unix):
            listener.setblocking(False)
            with pytest.raises(BlockingIOError):
                listener.accept()  # nobody knocked
    # 127.0.0.1 is the namespace's own loopback, where nothing listens; the abstract socket
    # namespace belongs to the network namespace too.
    assert result["stdout"].splitlines() == ["refused ConnectionRefusedError"] * 2
    assert result["network_isolated"] is True


def test_ctypes_setuid_cannot_become_root() -> None:
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.setuid(0), libc.setresuid(0, 0, 0), ctypes.get_errno() != 0)\n"
        "print(os.getuid() != 0 and os.geteuid() != 0)\n"
        "try:\n"
        "    os.setuid(0)\n"
        "except OSError as exc:\n"
        "    print('refused', exc.errno in (1, 22))\n"  # EPERM, or EINVAL: root is not mapped
    )
    assert run(code)["stdout"].splitlines() == ["-1 -1 True", "True", "refused True"]


def test_ordinary_code_still_works() -> None:
    code = (
        "import collections, csv, datetime, decimal, fractions, hashlib, io, itertools\n"
        "import json, math, random, re, sqlite3, statistics, string, textwrap, zlib\n"
        "print(math.factorial(20), round(math.pi, 5), statistics.mean([1, 2, 3, 4]))\n"
        "print(decimal.Decimal('0.1') + decimal.Decimal('0.2'), fractions.Fraction(3, 6))\n"
        "db = sqlite3.connect(':memory:')\n"
        "print(db.execute('select 6 * 7').fetchone()[0])\n"
        "print(hashlib.sha256(b'toolgate').hexdigest()[:12])\n"
        "print(datetime.date(2024, 2, 29) + datetime.timedelta(days=1))\n"
        "with open('table.csv', 'w', newline='') as f:\n"
        "    csv.writer(f).writerows([['a', 1], ['b', 2]])\n"
        "print(sum(int(row[1]) for row in csv.reader(open('table.csv'))))\n"
    )
    result = run(code)
    assert result["stderr"] == ""
    assert result["stdout"].splitlines() == [
        "2432902008176640000 3.14159 2.5", "0.3 1/2", "42", "f360d91f6abb", "2024-03-01", "3"]


def test_the_code_cannot_create_namespaces_of_its_own() -> None:
    """A user namespace of its own would hand the code capabilities (and kernel attack
    surface) again; bubblewrap's --disable-userns forbids it, and the others need one."""
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "for name, flag in [('user', 0x10000000), ('mount', 0x20000), ('net', 0x40000000)]:\n"
        "    print(name, libc.unshare(flag), ctypes.get_errno() != 0)\n"
    )
    assert run(code)["stdout"].splitlines() == ["user -1 True", "mount -1 True", "net -1 True"]
