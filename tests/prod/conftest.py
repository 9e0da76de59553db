"""Tests that need the real servers: PostgreSQL, Redis, a Celery worker and Celery beat.

They run under ``make test-prod`` (``.ci/services start`` provides PostgreSQL and Redis)
and are skipped without ``DATABASE_URL`` and ``REDIS_URL``; with ``TOOLGATE_REQUIRE_PROD=1``
(``make test-prod`` sets it) a skip is a failure instead, so CI cannot pass by skipping them.

Workers and beat are real subprocesses (``celery -A assistant worker``) on the production
settings, pointed at the pytest-django test database (``test_<name>`` on the same
PostgreSQL server) and at a Redis database of their own for the broker, which the suite's
per-test ``cache.clear()`` (a FLUSHDB of the cache's database) cannot touch. Tests use
``transaction=True`` so that what they write is committed and visible to those processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.celery_broker import broker_url, using_broker
from tests.databases import shared_database_env

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = ("DATABASE_URL", "REDIS_URL")
READY_TIMEOUT = 60.0


def missing_servers() -> list[str]:
    return [name for name in REQUIRED if not os.environ.get(name)]


@pytest.fixture(autouse=True)
def _needs_real_servers() -> None:
    missing = missing_servers()
    if missing:
        message = (f"needs the real servers: set {' and '.join(missing)} "
                   "(make test-prod; .ci/services start provides both)")
        if os.environ.get("TOOLGATE_REQUIRE_PROD"):
            pytest.fail(f"TOOLGATE_REQUIRE_PROD is set but this test {message}")
        pytest.skip(message)


@pytest.fixture
def celery_broker(settings: Any) -> Iterator[str]:
    """Decisions in this process go to the Celery broker (an empty queue) instead of running here."""
    import redis

    url = broker_url()
    redis.Redis.from_url(url).flushdb()
    settings.CELERY_BROKER_URL = url
    # Not just app.conf.broker_url: Celery's pools, built for whatever broker an earlier test
    # published through, must go too (tests/celery_broker.py).
    with using_broker(url):
        yield url


class Service:
    """A Celery worker or beat subprocess in a session of its own (so it dies whole)."""

    def __init__(self, kind: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.kind, self.log = kind, log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "assistant", kind, *args],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"celery {self.kind} never printed {text!r}:\n{self.output()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker and its pool children, mid-task."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def services(transactional_db: Any, celery_broker: str, tmp_path: Path
             ) -> Iterator[Callable[..., Awaitable[Service]]]:
    """Start Celery workers and beat against the test database; all stopped at teardown
    (before the database is flushed, which their connections would otherwise block)."""
    started: list[Service] = []
    skip = ("LLM_", "OPENAI_", "ANTHROPIC_", "PYTEST_", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update({
        "DJANGO_SETTINGS_MODULE": "assistant.settings", "DJANGO_DEBUG": "false",
        "SECRET_KEY": "tests-only-not-secret-" + "x" * 40, "TOOLGATE_VAR_DIR": str(tmp_path),
        "CELERY_BROKER_URL": celery_broker, "LOG_FORMAT": "text", "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1", **shared_database_env(),
    })

    async def start(kind: str = "worker", **overrides: Any) -> Service:
        """Start a worker or beat and wait (off the event loop) until it says it is ready."""
        name = f"{kind}-{len(started) + 1}"
        if kind == "worker":
            args = ["--pool=prefork", "--concurrency=1", "--loglevel=INFO", f"--hostname={name}@%h",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"]
            ready = " ready."
        else:
            args = ["--loglevel=INFO", f"--schedule={tmp_path / 'celerybeat-schedule'}"]
            ready = "beat: Starting..."
        service = Service(kind, args, {**env, **{k: str(v) for k, v in overrides.items()}},
                          tmp_path / f"{name}.log")
        started.append(service)
        await asyncio.to_thread(service.wait_for_output, ready)
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def world_writable_dir() -> Iterator[Path]:
    """A directory ``run_python`` in its weak mode (a fresh unprivileged uid, no filesystem
    isolation) may write to."""
    with tempfile.TemporaryDirectory(prefix="toolgate-prod-") as path:
        os.chmod(path, 0o777)  # the sandbox's uid must write its marker here
        yield Path(path)
