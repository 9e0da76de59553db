"""``run_python``: run untrusted Python in a confined, killable child process.

The model writes the code, so the code is hostile until proven otherwise. Python offers no
in-process sandbox worth the name, so the code runs in a separate interpreter that the
kernel confines: an environment with no secrets, resource limits (CPU, memory, file size,
processes, open files), no network, and — when the service runs as root — a fresh
unprivileged uid for every run, so that every process the code starts can be found and
killed afterwards.

Its filesystem is built by bubblewrap (:mod:`tools.builtin.bwrap`): a read-only ``/usr``,
a fresh working directory and ``/tmp`` on size-bounded tmpfs, three devices and its own
``/proc``; not the data directory, the project, ``/etc`` or other processes. Whether that
works here is decided once by trying it (:func:`sandbox_plan`). When it does not (no
bwrap, no user namespaces), ``run_python`` refuses with the cause, unless
``TOOLS_SANDBOX_ALLOW_WEAK`` accepts the *weak* mode: the same limits and uid, but the code
then runs in a host temporary directory and can read every world-readable file (the
service's data directory is private to its user, see ``assistant/storage/private.py``).
docs/security.md says what each mode can and cannot reach.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
import os
import resource
import secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

from django.conf import settings
from pydantic import Field

from tools.builtin import bwrap
from tools.definition import Tool, tool

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38

FILE_SIZE_LIMIT = 1 << 20  # bytes any one file may grow to, including stdout and stderr
MAX_PROCESSES = 32
MAX_OPEN_FILES = 64
TOOL_TIMEOUT = 60.0  # the pipeline's timeout; the sandbox's own kill fires well before it
KILL_MARGIN = 10.0
UID_RANGE = range(1_700_000_000, 1_800_000_000)  # one fresh uid per run when we are root
TRUNCATED = "\n[truncated]"
SCRIPT_NAME = "main.py"
SYSTEM_PYTHONS = ("/usr/local/bin/python3", "/usr/bin/python3")

# Loaded here, in the parent: the child between fork and exec must not load libraries.
_libc = ctypes.CDLL(None, use_errno=True)


class SandboxUnavailable(RuntimeError):
    """No interpreter could be started under the sandbox's restrictions on this machine."""


@dataclass(frozen=True)
class Plan:
    """How this machine runs sandboxed code: decided once, by trying it."""

    interpreter: str
    drop_privileges: bool  # we are root: switch to a fresh unprivileged uid per run
    unshare_flags: int  # namespaces the weak mode enters; 0 when the kernel refuses them
    bwrap: str | None = None  # bubblewrap builds the code's filesystem; None: the weak mode
    runtime: tuple[str, ...] = ()  # host directories bound read-only for the interpreter
    weak_reason: str | None = None  # why the filesystem is not isolated (weak mode only)

    @property
    def filesystem_isolated(self) -> bool:
        return self.bwrap is not None

    @property
    def network_isolated(self) -> bool:
        return self.filesystem_isolated or bool(self.unshare_flags & CLONE_NEWNET)

    @property
    def mode(self) -> str:
        return "isolated" if self.filesystem_isolated else "weak"


@dataclass(frozen=True)
class Limits:
    wall_seconds: float
    memory_bytes: int
    max_output: int
    disk_bytes: int = 16 << 20  # each of the working directory and /tmp (isolated mode)


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    killed_by_signal: str | None
    truncated: bool

    def as_result(self, plan: Plan) -> dict[str, Any]:
        return {
            "stdout": self.stdout, "stderr": self.stderr, "exit_code": self.exit_code,
            "timed_out": self.timed_out, "killed_by_signal": self.killed_by_signal,
            "truncated": self.truncated, "network_isolated": plan.network_isolated,
            "filesystem_isolated": plan.filesystem_isolated,
        }


@tool(risk="high", timeout=TOOL_TIMEOUT, max_concurrency=2)
def run_python(
    code: Annotated[str, Field(min_length=1, max_length=100_000)],
) -> dict[str, Any]:
    """Run a Python 3 script in a sandbox and return what it printed.

    Use it for calculations, data transformations and quick experiments. The script runs
    as a fresh process in an empty scratch directory that is deleted afterwards, so
    nothing persists between calls: print everything you need. It has no network access,
    no secrets in its environment, no input on stdin, a few seconds of time, a limited
    amount of memory and small files only (in its directory and /tmp). Only the standard
    library is guaranteed to be importable. It sees no files of the server beyond the
    Python runtime (check `filesystem_isolated` in the result).

    The result is {stdout, stderr, exit_code, timed_out, killed_by_signal, truncated,
    network_isolated, filesystem_isolated}. A traceback shows up in `stderr` with a
    non-zero `exit_code`; `timed_out` means the script ran out of time and was killed;
    long output is cut and ends with "[truncated]".

    Args:
        code: The complete Python 3 program to run, e.g. "print(sum(range(10)))".
    """
    limits = Limits(
        wall_seconds=min(settings.TOOLS_PYTHON_TIMEOUT, TOOL_TIMEOUT - KILL_MARGIN),
        memory_bytes=settings.TOOLS_PYTHON_MEMORY_MB * 1024 * 1024,
        max_output=settings.TOOLS_PYTHON_MAX_OUTPUT,
        disk_bytes=settings.TOOLS_PYTHON_DISK_MB * 1024 * 1024,
    )
    plan = sandbox_plan()
    return execute(code, plan, limits).as_result(plan)


# -- the plan: which interpreter and which isolation this machine allows ---------------------

_plan_lock = threading.Lock()
_plans: dict[tuple[str, bool], Plan] = {}
_refusals: dict[tuple[str, bool], tuple[float, str]] = {}  # key -> (when, why)
RETRY_AFTER = 30.0  # seconds a failed probe is remembered: /ready may be polled every second


def sandbox_plan() -> Plan:
    """How ``run_python`` runs code on this machine: isolated, or weak when that is allowed.

    The first interpreter that runs ``import sys`` under bubblewrap wins. Only when none
    does, and ``TOOLS_SANDBOX_ALLOW_WEAK`` is on, the weak mode (no filesystem isolation)
    is probed instead; otherwise :class:`SandboxUnavailable` names the cause. Success is
    cached for the life of the process (per setting values); failure for ``RETRY_AFTER``
    seconds only, so a fixed machine recovers without a restart.
    """
    key = (settings.TOOLS_SANDBOX_BWRAP, settings.TOOLS_SANDBOX_ALLOW_WEAK)
    with _plan_lock:
        if key in _plans:
            return _plans[key]
        refused = _refusals.get(key)
        if refused is not None and time.monotonic() - refused[0] < RETRY_AFTER:
            raise SandboxUnavailable(refused[1])
        try:
            plan = _isolated_plan(settings.TOOLS_SANDBOX_BWRAP)
        except SandboxUnavailable as exc:
            if not settings.TOOLS_SANDBOX_ALLOW_WEAK:
                why = (f"run_python is off: filesystem isolation is unavailable ({exc}). Install "
                       "bubblewrap, or set TOOLS_SANDBOX_ALLOW_WEAK=true to accept a sandbox that "
                       "can read the machine's world-readable files")
                _refusals[key] = (time.monotonic(), why)
                raise SandboxUnavailable(why) from None
            plan = dataclasses.replace(_weak_plan(), weak_reason=str(exc))
        _refusals.pop(key, None)
        _plans[key] = plan
        return plan


def sandbox_status() -> dict[str, str]:
    """The mode ``run_python`` uses here, for /ready and the admin: isolated, weak or off."""
    try:
        plan = sandbox_plan()
    except SandboxUnavailable as exc:
        return {"mode": "off", "detail": str(exc)}
    if plan.filesystem_isolated:
        return {"mode": plan.mode, "detail": f"bubblewrap ({plan.bwrap}), {plan.interpreter}"}
    return {"mode": plan.mode, "detail": f"TOOLS_SANDBOX_ALLOW_WEAK accepted: {plan.weak_reason}"}


def _isolated_plan(bwrap_path: str) -> Plan:
    if not (os.path.isfile(bwrap_path) and os.access(bwrap_path, os.X_OK)):
        raise SandboxUnavailable(
            f"no bubblewrap executable at {bwrap_path} (TOOLS_SANDBOX_BWRAP; Debian package "
            "bubblewrap)")
    root = os.geteuid() == 0
    problems = []
    for interpreter in _interpreters(isolated=True):
        try:
            runtime = bwrap.runtime_mounts(interpreter, _protected_paths())
        except bwrap.ExposureError as exc:
            problems.append(str(exc))
            continue
        plan = Plan(interpreter, root, 0, bwrap=bwrap_path, runtime=runtime)
        problem = _probe(plan)
        if problem is None:
            return plan
        problems.append(f"{interpreter}: {problem}")
    raise SandboxUnavailable(f"{bwrap_path} could not start Python: " + "; ".join(problems))


def _weak_plan() -> Plan:
    """Network isolation is preferred over the interpreter choice. As root the code runs as
    an unprivileged uid, which may not be able to execute ``sys.executable`` (a virtualenv
    under /root, say); a system ``python3`` is then used instead."""
    root = os.geteuid() == 0
    isolation = [CLONE_NEWNET] if root else [CLONE_NEWUSER | CLONE_NEWNET]
    problems = []
    for flags in [*isolation, 0]:
        for interpreter in _interpreters(isolated=False):
            plan = Plan(interpreter, root, flags)
            problem = _probe(plan)
            if problem is None:
                return plan
            problems.append(f"{interpreter} (unshare {flags:#x}): {problem}")
    raise SandboxUnavailable("no Python interpreter runs in the sandbox: " + "; ".join(problems))


def _probe(plan: Plan) -> str | None:
    """None when ``import sys`` runs under ``plan``, else what went wrong."""
    try:
        outcome = execute("import sys", plan, Limits(10.0, 512 << 20, 2000))
    except SandboxUnavailable as exc:
        return str(exc)
    if outcome.exit_code == 0:
        return None
    return (f"exit {outcome.exit_code} {outcome.killed_by_signal or ''} "
            f"{outcome.stderr.strip()[:200]}").replace("  ", " ")


def _interpreters(*, isolated: bool) -> list[str]:
    """Candidate interpreters. Isolated runs take real paths only: a virtualenv's
    ``python`` is a link inside the project, whose tree the sandbox must not mount."""
    candidates = [os.path.realpath(sys.executable), *SYSTEM_PYTHONS]
    if not isolated:
        candidates.insert(0, sys.executable)
    found: list[str] = []
    for path in candidates:
        if path and os.path.isfile(path) and path not in found:
            found.append(path)
    return found


def _protected_paths() -> list[Path]:
    """What the isolated sandbox must never mount: the project and everything of the data."""
    paths = [getattr(settings, "BASE_DIR", None), getattr(settings, "VAR_DIR", None),
             settings.TOOLS_WORKSPACE_ROOT, Path(settings.TOOLS_SAMPLE_DB_PATH).parent]
    database = settings.DATABASES["default"]
    if database.get("ENGINE", "").endswith("sqlite3") and str(database.get("NAME", "")).startswith("/"):
        paths.append(Path(database["NAME"]).parent)
    return [Path(path) for path in paths if path]


# -- one run -----------------------------------------------------------------------------------


def execute(code: str, plan: Plan, limits: Limits) -> Outcome:
    """Run ``code`` under ``plan`` and ``limits``; always kill what it started and clean up."""
    uid = _allocate_uid() if plan.drop_privileges else None
    try:
        if plan.filesystem_isolated:
            returncode, timed_out, stdout, stderr = _execute_isolated(code, plan, limits, uid)
        else:
            returncode, timed_out, stdout, stderr = _execute_weak(code, plan, limits, uid)
    finally:
        if uid is not None:
            _release_uid(uid)
    if plan.filesystem_isolated and returncode > 128 and _is_signal(returncode - 128):
        returncode = -(returncode - 128)  # bwrap reports a child killed by signal N as 128 + N
    signal_name = _signal_name(-returncode) if returncode < 0 else None
    (out_text, cut_out), (err_text, cut_err) = stdout, stderr
    return Outcome(
        stdout=out_text, stderr=err_text, exit_code=returncode if returncode >= 0 else None,
        timed_out=timed_out or signal_name == "SIGXCPU", killed_by_signal=signal_name,
        truncated=cut_out or cut_err,
    )


Output = tuple[str, bool]


def _execute_isolated(code: str, plan: Plan, limits: Limits,
                      uid: int | None) -> tuple[int, bool, Output, Output]:
    """Under bubblewrap: the script reaches the code's own tmpfs through a memfd that bwrap
    copies; stdout and stderr are unnamed host files the code only holds as fds 1 and 2."""
    script_fd = os.memfd_create(SCRIPT_NAME, os.MFD_CLOEXEC)
    try:
        os.write(script_fd, code.encode("utf-8"))
        os.lseek(script_fd, 0, os.SEEK_SET)
        argv = bwrap.command(plan.bwrap or "", plan.interpreter, plan.runtime, script_fd=script_fd,
                             script_name=SCRIPT_NAME, disk_bytes=limits.disk_bytes)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            returncode, timed_out = _run(argv, plan, limits, uid, "/", {}, out, err, (script_fd,))
            return (returncode, timed_out, _read(out, limits.max_output),
                    _read(err, limits.max_output))
    finally:
        os.close(script_fd)


def _execute_weak(code: str, plan: Plan, limits: Limits,
                  uid: int | None) -> tuple[int, bool, Output, Output]:
    """Without bubblewrap: a fresh host temporary directory, removed afterwards.

    As root, the sandbox uid must be able to traverse the temp directory's parents to open
    the script: true of /tmp; a private TMPDIR makes the probe fail, saying so.
    """
    workdir = tempfile.mkdtemp(prefix="toolgate-py-")
    try:
        script = os.path.join(workdir, SCRIPT_NAME)
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(code)
        os.chmod(script, 0o644)
        if uid is not None:
            os.chown(workdir, uid, uid)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
        argv = [plan.interpreter, "-I", "-B", "-u", SCRIPT_NAME]
        # Unnamed files: the child writes through its fds 1 and 2 but cannot swap the files
        # for a symlink to something the parent would then read back with its privileges.
        with tempfile.TemporaryFile(dir=workdir) as out, tempfile.TemporaryFile(dir=workdir) as err:
            returncode, timed_out = _run(argv, plan, limits, uid, workdir, env, out, err, ())
            return (returncode, timed_out, _read(out, limits.max_output),
                    _read(err, limits.max_output))
    finally:
        _remove_tree(workdir)


def _run(argv: list[str], plan: Plan, limits: Limits, uid: int | None, cwd: str,
         env: dict[str, str], out: IO[bytes], err: IO[bytes],
         pass_fds: tuple[int, ...]) -> tuple[int, bool]:
    """Start ``argv``, wait, then kill everything it started.

    -I: isolated mode (no PYTHON* variables, no user site, script directory not on the
    path); -B: no bytecode files; -u: unbuffered output, so what was printed before a kill
    is kept. Returns (return code, timed out).
    """
    try:
        proc = subprocess.Popen(  # noqa: S603 - the argv is ours; the code is a file argument
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            start_new_session=True, close_fds=True, pass_fds=pass_fds,
            preexec_fn=_confine(plan, limits, uid),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxUnavailable(f"could not start {argv[0]}: {exc}") from exc
    exited = False
    try:
        exited = _wait_for_exit(proc.pid, limits.wall_seconds)
    finally:
        # Before reaping the leader, so its process group id cannot have been reused.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if uid is not None:
            _kill_uid(uid)
        proc.wait()
    return proc.returncode, not exited


def _confine(plan: Plan, limits: Limits, uid: int | None) -> Callable[[], None]:
    """The child's last steps before exec: namespaces, limits, then drop privileges.

    Under bubblewrap, bwrap itself is the child: it inherits the limits, the uid and
    ``no_new_privs`` and creates its own namespaces (as that unprivileged uid). In this
    order because entering a network namespace needs root, and limits must be set while we
    may still lower them for a process we are about to hand to the code. Any failure
    raises, and Popen then raises in the parent: the code never runs half-confined.
    """
    cpu = max(1, math.ceil(limits.wall_seconds))
    rlimits = (
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes)),
        (resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT)),
        (resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES)),
        (resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES)),
        (resource.RLIMIT_CORE, (0, 0)),
    )
    unshare, prctl, get_errno = _libc.unshare, _libc.prctl, ctypes.get_errno

    def confine() -> None:
        if plan.unshare_flags and unshare(plan.unshare_flags) != 0:
            raise OSError(get_errno(), "unshare failed")
        for which, value in rlimits:
            resource.setrlimit(which, value)
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:  # setuid programs cannot raise privileges
            raise OSError(get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")

    return confine


def _wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` exits without reaping it; False when ``timeout`` passes first."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        deadline = time.monotonic() + timeout
        while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(pidfd)


def _kill_uid(uid: int) -> None:
    """SIGKILL every process running as ``uid``, however it left the process group.

    ``kill(-1)`` from a process with that uid signals exactly those processes, atomically
    with respect to fork, so a fork bomb cannot outrun it. The uid is fresh for each run,
    so nothing else is hit. Repeated while live processes remain (zombies don't count).
    """
    for _attempt in range(5):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child only makes system calls and exits
            try:
                os.setresuid(uid, uid, uid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        if not live_processes_of(uid):
            return


def live_processes_of(uid: int) -> list[int]:
    """Pids of processes (not zombies) whose real uid is ``uid``, from /proc."""
    pids = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", encoding="ascii", errors="replace") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if fields.get("State", "").strip().startswith(("Z", "X")):
            continue
        uids = fields.get("Uid", "").split()
        if uids and int(uids[0]) == uid:
            pids.append(int(name))
    return pids


_uids_lock = threading.Lock()
_uids_in_use: set[int] = set()


def _allocate_uid() -> int:
    with _uids_lock:
        while True:
            uid = UID_RANGE.start + secrets.randbelow(len(UID_RANGE))
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


def _release_uid(uid: int) -> None:
    with _uids_lock:
        _uids_in_use.discard(uid)


def _read(handle: IO[bytes], max_chars: int) -> tuple[str, bool]:
    """At most ``max_chars`` characters of an output file, and whether it was cut."""
    handle.seek(0)
    data = handle.read(max_chars * 4 + 4)
    more = bool(handle.read(1))
    text = data.decode("utf-8", errors="replace")
    if more or len(text) > max_chars:
        return text[:max_chars] + TRUNCATED, True
    return text, False


def _remove_tree(path: str) -> None:
    """Delete the scratch directory, even if the code made parts of it unreadable to us."""
    try:
        shutil.rmtree(path)
    except OSError:
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IRWXU)
        for parent, dirs, _files in os.walk(path):
            for name in dirs:
                child = os.path.join(parent, name)
                if not os.path.islink(child):  # never chmod what a link points to
                    with contextlib.suppress(OSError):
                        os.chmod(child, stat.S_IRWXU)
        shutil.rmtree(path, ignore_errors=True)


def _is_signal(number: int) -> bool:
    try:
        signal.Signals(number)
    except ValueError:
        return False
    return True


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


TOOLS: list[Tool] = [run_python]
