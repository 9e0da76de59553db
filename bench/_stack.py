"""The application as the benchmarks run it: embedded or production mode, on loopback.

Not a benchmark itself (``make bench`` runs it and it does nothing). A benchmark calls
:func:`configure` before Django starts, then :func:`start_web` / :func:`start_worker`, and
talks to the servers over real HTTP and WebSockets (the ``websockets`` client).

- **embedded**: one Daphne, a temporary SQLite database, the in-process channel layer;
  decisions are carried out on the server's own loop.
- **production**: Daphne(s) + a Celery worker, PostgreSQL and Redis from ``DATABASE_URL``
  and ``REDIS_URL`` (``eval "$(.ci/services start)"``). The benchmark gets a fresh database
  of its own on that server (``<name>_bench``, dropped at the end) and an emptied Redis
  database two numbers above ``REDIS_URL``'s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0
MODES = ("embedded", "production")


def production_available() -> bool:
    return bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))


@dataclass
class Stack:
    mode: str
    tmp: Path
    env: dict[str, str]
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    web_ports: list[int] = field(default_factory=list)
    drop_database: str | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.web_ports[0]}"

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(f"--- {name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
                         for name, _, log in self.processes)

    def stop(self) -> None:
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"logs kept in {self.tmp}", file=sys.stderr)
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.processes.clear()
        if self.drop_database:
            from django.db import connections

            connections.close_all()
            _admin_sql(f'DROP DATABASE IF EXISTS "{self.drop_database}" WITH (FORCE)')


def _admin_sql(sql: str) -> None:
    """Run one statement on the server of ``DATABASE_URL`` (as its user, autocommit)."""
    import psycopg

    with psycopg.connect(os.environ["BENCH_SERVER_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def configure(mode: str, **extra: str) -> Stack:
    """Set this process's environment for ``mode`` (before ``django.setup()``)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"toolgate-bench-{mode}-"))
    env = {
        "DJANGO_SETTINGS_MODULE": "assistant.settings", "TOOLGATE_VAR_DIR": str(tmp),
        "SECRET_KEY": "bench-only-not-secret-" + "x" * 40, "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_FORMAT": "text",
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "ERROR"),
        "PYTHONUNBUFFERED": "1", **extra,
    }
    stack = Stack(mode, tmp, env)
    if mode == "embedded":
        env["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            os.environ.pop(name, None)
    else:
        if not production_available():
            raise SystemExit('production mode needs DATABASE_URL and REDIS_URL: eval "$(.ci/services start)"')
        server_url = os.environ.get("BENCH_SERVER_DATABASE_URL") or os.environ["DATABASE_URL"]
        os.environ["BENCH_SERVER_DATABASE_URL"] = server_url
        parts = urlsplit(server_url)
        name = parts.path.strip("/") + "_bench"
        _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin_sql(f'CREATE DATABASE "{name}"')
        stack.drop_database = name
        redis_parts = urlsplit(os.environ["REDIS_URL"])
        db = (int(redis_parts.path.strip("/") or 0) + 2) % 16
        redis_url = urlunsplit(redis_parts._replace(path=f"/{db}"))
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        env.update({"DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}")), "REDIS_URL": redis_url,
                    "CELERY_BROKER_URL": redis_url})
    os.environ.update(env)
    return stack


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _spawn(stack: Stack, name: str, argv: list[str],
           pass_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    log = stack.tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **stack.env}, stdout=out,
                                   stderr=subprocess.STDOUT, pass_fds=pass_fds, start_new_session=True)
    stack.processes.append((name, process, log))
    return process


def start_web(stack: Stack, count: int = 1) -> None:
    """``count`` Daphne processes, each on a loopback port this process opened (no port race)."""
    for index in range(count):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4096)
        port = listener.getsockname()[1]
        profile = os.environ.get("BENCH_PROFILE_WEB")  # cProfile the first server into this file
        wrapper = ["-m", "cProfile", "-o", profile] if profile and index == 0 else []
        process = _spawn(stack, f"web{index + 1}", [
            sys.executable, *wrapper, "-m", "daphne", "--fd", str(listener.fileno()), "-v", "0",
            "assistant.asgi:application"], pass_fds=(listener.fileno(),))
        listener.close()
        _wait_until_ready(stack, f"http://127.0.0.1:{port}/health", process)
        stack.web_ports.append(port)


def start_worker(stack: Stack, concurrency: int = 2) -> None:
    """A worker as the Procfile starts it (persistent database connections included)."""
    _spawn(stack, "worker", ["env", "DATABASE_CONN_MAX_AGE=300", sys.executable, "-m", "celery", "-A",
                             "assistant", "worker", "--pool=prefork", f"--concurrency={concurrency}",
                             "--loglevel=INFO", "--without-gossip", "--without-mingle",
                             "--without-heartbeat"])
    log = stack.processes[-1][2]
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while " ready." not in log.read_text(errors="replace"):
        if time.monotonic() > deadline or stack.processes[-1][1].poll() is not None:
            raise RuntimeError(f"the worker did not start:\n{stack.log_tail()}")
        time.sleep(0.1)


def _wait_until_ready(stack: Stack, url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"a server exited with {process.returncode}:\n{stack.log_tail()}")
        with contextlib.suppress(urllib.error.URLError, OSError), \
                urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {STARTUP_TIMEOUT} s:\n{stack.log_tail()}")


def session_cookie(user: Any) -> str:
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return browser.cookies["sessionid"].value


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack
    finally:
        stack.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


if __name__ == "__main__":
    print("bench/_stack.py is a helper of the approval and load benchmarks; nothing to run.")
