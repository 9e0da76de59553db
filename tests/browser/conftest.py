"""Fixtures for the browser tests: a live Daphne, headless Chromium, signed-in pages.

pytest-django's ``live_server`` is WSGI and cannot speak WebSockets, so the app runs in a
Daphne *subprocess* (Twisted's reactor wants a process of its own) listening on a socket
this process opened on an ephemeral loopback port and hands down (``daphne --fd``): no
port race. Both processes must see the same database, and an in-memory SQLite database
cannot be shared between processes, so when browser tests are selected the test database
becomes a SQLite file (WAL: the server writes while the tests read). Tests use
``transactional_db`` so what they create is committed and visible to the server.

Model profiles in the server: ``demo`` (offline and deterministic) and ``slow``, an
OpenAI-compatible profile pointed at the fake LLM server from tests/fakes, which streams
a known answer slowly enough to watch it arrive, reload mid-way, or stop it (and answers
``echo: X`` with exactly X, in one piece, to put chosen text in the model's mouth, and
``fail: …`` with a server error).

Chromium is the system's ``/usr/bin/chromium`` (Debian package); a browser is never
downloaded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from tests.databases import shared_database_env
from tests.fakes.llm_server import FakeLLMServer, RecordedRequest
from tests.fakes.scripts import Step, call, error, text, tool_calls

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BASE_DIR = Path(__file__).resolve().parents[2]
SLOW_ANSWER = " ".join(f"word{i}" for i in range(1, 41)) + " — **done**."
SLOW_CHUNKS = 40
SLOW_DELAY = 0.06  # seconds between streamed chunks: ~2.5 s per answer
STARTUP_TIMEOUT = 30.0
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


# --- the test database as a file ----------------------------------------------------------


def _use_file_database() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return  # PostgreSQL (DATABASE_URL): its test database is shared as it is
    name = str(Path(settings.VAR_DIR) / "browser-tests.sqlite3")
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = name
    connections["default"].settings_dict.setdefault("TEST", {})["NAME"] = name


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before any database exists: file-backed only if a browser test will run."""
    if any(item.get_closest_marker("browser") for item in session.items):
        _use_file_database()


# --- the live server -----------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


_broken_once: set[str] = set()


def _answer(request: RecordedRequest) -> Step:
    """``echo: X`` is answered with X in one piece, ``fail: …`` with an HTTP 500, ``long: …``
    with the slow answer five times over (~12 s: still running when a test stops it, however
    loaded the machine), anything else with the slow answer."""
    messages = request.body.get("messages", []) if isinstance(request.body, dict) else []
    last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    streamed = _streamed_arguments(messages, last)
    if streamed is not None:
        return streamed
    if isinstance(last, str) and last.startswith("echo: "):
        return text(last.removeprefix("echo: "))
    if isinstance(last, str) and last.startswith("fail: "):
        return error(500)
    if isinstance(last, str) and last.startswith("flaky: "):  # broken mid-text the first time
        if last not in _broken_once:
            _broken_once.add(last)
            return text("Withdrawn words, never kept", chunks=4).fault("cut", "text")
        return text(last.removeprefix("flaky: "), chunks=3)
    if isinstance(last, str) and last.startswith("long: "):
        return text(" ".join([SLOW_ANSWER] * 5), chunks=5 * SLOW_CHUNKS).delayed(between=SLOW_DELAY)
    return text(SLOW_ANSWER, chunks=SLOW_CHUNKS).delayed(between=SLOW_DELAY)


def _streamed_arguments(messages: list[dict[str, Any]], last: Any) -> Step | None:
    """``args: N``: a create_note call whose N-character text streams slowly (~3 s), then
    "Saved." once the tool's result is back (issue 16: arguments growing in the card)."""
    if not (isinstance(last, str) and last.startswith("args: ")):
        return None
    if messages and messages[-1].get("role") == "tool":
        return text("Saved.")
    size = int(last.removeprefix("args: "))
    note = " ".join(f"line{i}" for i in range(size))[:size]
    return tool_calls(call("create_note", {"text": note}, fragments=60)).delayed(between=0.05)


@pytest.fixture(scope="session")
def slow_llm() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer(default=_answer)
    server.start()
    yield server
    server.stop()


def _server_env(database: str, slow_llm: FakeLLMServer) -> dict[str, str]:
    # No model keys (the demo is the default profile), and none of this process's test-only
    # switches: the server must hold Django's async-safety checks like production does.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLM_", "OPENAI_", "ANTHROPIC_")) and k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update({
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        **shared_database_env(),  # SQLITE_PATH, or DATABASE_URL naming the PostgreSQL test database
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LLM_PROFILES": json.dumps({"slow": {
            "provider": "openai_compatible", "model": "fake-slow", "base_url": slow_llm.openai_base_url,
            "label": "Slow fake model (tests)", "max_retries": 0,
        }, "flaky": {
            "provider": "openai_compatible", "model": "fake-flaky", "base_url": slow_llm.openai_base_url,
            "label": "Flaky fake model (tests)", "max_retries": 2,
        }}),
        "LLM_RETRY_BASE_DELAY": "1.5",  # long enough to see the retry notice
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the test server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"the test server did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def live_app(django_db_setup: Any, slow_llm: FakeLLMServer, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[LiveServer]:
    database = connections["default"].settings_dict["NAME"]
    if connections["default"].vendor == "sqlite" and connections["default"].is_in_memory_db():
        raise RuntimeError("browser tests need a file test database; was tests/browser/conftest.py skipped?")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    log = tmp_path_factory.mktemp("server") / "daphne.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "-v", "1",
             "tests.browser.asgi:application"],
            cwd=BASE_DIR, env=_server_env(database, slow_llm), stdout=out, stderr=subprocess.STDOUT,
            pass_fds=[listener.fileno()],
        )
    listener.close()  # the server holds its own copy
    server = LiveServer(url, process, log)
    try:
        _wait_until_serving(url, process, log)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# --- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module.

    Playwright's sync API keeps an event loop marked as running in this thread while it
    is started, which makes Django refuse ORM calls ("async context"). The tests' own
    ORM calls are plain synchronous code in this one thread, so they are allowed for the
    module's duration only: the loop and the permission both end with the module, before
    any other test module runs.
    """
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def dialogs() -> list[str]:
    """Every alert/confirm/prompt any page opened during the test (XSS must open none)."""
    return []


@pytest.fixture
def new_context(browser: Any, live_app: LiveServer, dialogs: list[str]) -> Iterator[Any]:
    """``new_context(user=None, viewport=DESKTOP, locale="en-US", **options)``: a fresh browser
    profile, signed in as ``user``; ``locale`` is the browser's language (its Accept-Language),
    and ``options`` go to Playwright's ``new_context`` (e.g. ``java_script_enabled=False``)."""
    from django.test import Client

    made: list[Any] = []

    def make(user: Any = None, viewport: dict[str, int] | None = None, locale: str = "en-US",
             **options: Any) -> Any:
        context = browser.new_context(base_url=live_app.url, viewport=viewport or DESKTOP, locale=locale,
                                      **options)
        context.set_default_timeout(10_000)
        context.on("page", lambda page: page.on("dialog", _record(dialogs)))
        if user is not None:
            client = Client()
            client.force_login(user)
            context.add_cookies([{"name": settings.SESSION_COOKIE_NAME,
                                  "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                                  "url": live_app.url}])
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    _wait_for_runs_to_settle()


def _wait_for_runs_to_settle(timeout: float = 15) -> None:
    """Before the test database is flushed: the server may still be finishing a run the test
    started (its last writes land after the page showed the answer). On PostgreSQL the flush's
    TRUNCATE and those writes deadlock; on SQLite the flush meets a locked database."""
    from assistant.models import Run

    deadline = time.monotonic() + timeout
    while Run.objects.filter(status=Run.Status.RUNNING).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _record(dialogs: list[str]) -> Any:
    def handler(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()
    return handler


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed browser test shows the end of the server's log, where tracebacks are."""
    outcome = yield
    report = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("live_app")
    if report.failed and isinstance(server, LiveServer):
        report.sections.append(("test server log (tail)", server.log_tail()))
