"""What it takes to reach one MCP server, as plain data, and the checks on it.

A :class:`ServerSpec` is built from an :class:`~tools.models.McpServer` row in the thread
that reads the database and handed to the manager's event loop, which never touches the
ORM. Secrets stay out of it: it holds the *names* of environment variables, whose values
are read from this process's environment only when the server is started.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

SERVER_NAME_RE = re.compile(r"^(?!.*__)[a-zA-Z0-9][a-zA-Z0-9_-]{0,29}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# What every stdio server gets besides the variables named for it (see docs/mcp.md): enough
# to find executables and to have a home, which is the server's own working directory.
BASE_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
STDIO, HTTP = "stdio", "http"


class SpecError(ValueError):
    """A server's configuration cannot work; ``field`` names the setting at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ServerSpec:
    name: str
    transport: str
    command: str = ""
    args: tuple[str, ...] = ()
    url: str = ""
    env_vars: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    enabled: bool = True
    group_ids: frozenset[int] = field(default_factory=frozenset)
    timeout: float = 30.0
    default_risk: str = ""
    generation: int = 0

    def connection_key(self) -> tuple[Any, ...]:
        """What the session depends on: a change here reconnects, anything else only
        rebuilds the server's tools."""
        return (self.transport, self.command, self.args, self.url, self.env_vars, self.headers,
                self.generation)

    @property
    def workdir(self) -> Path:
        return mcp_root() / self.name

    def environment(self, environ: dict[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a stdio server: the base variables, HOME set to its
        working directory, and exactly the variables named for it (those win)."""
        environ = os.environ if environ is None else environ
        env = {name: environ[name] for name in BASE_ENV if name in environ}
        env["HOME"] = str(self.workdir)
        for name in self.env_vars:
            if name in environ:
                env[name] = environ[name]
        return env

    def missing_env(self, environ: dict[str, str] | None = None) -> list[str]:
        environ = os.environ if environ is None else environ
        names = [*self.env_vars, *(var for _, var in self.headers)]
        return [name for name in names if name not in environ]

    def header_values(self, environ: dict[str, str] | None = None) -> dict[str, str]:
        environ = os.environ if environ is None else environ
        return {header: environ[var] for header, var in self.headers if var in environ}

    def describe(self) -> str:
        if self.transport == STDIO:
            return shlex.join([self.command, *self.args])
        return self.url


def mcp_root() -> Path:
    return Path(getattr(settings, "TOOLS_MCP_DIR", Path(settings.VAR_DIR) / "mcp"))


def ensure_workdir(spec: ServerSpec) -> Path:
    """The server's working directory under the data dir, private to this user (0700)."""
    root = mcp_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = spec.workdir
    path.mkdir(exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def spec_from_server(server: Any, *, group_ids: frozenset[int]) -> ServerSpec:
    """The spec of an :class:`~tools.models.McpServer`; :class:`SpecError` says what is wrong."""
    name = server.name or ""
    if not SERVER_NAME_RE.match(name):
        raise SpecError(
            f"server name {name!r} is invalid: use 1-30 letters, digits, '-' or '_' (no '__', "
            "which separates the server from the tool in NAME__tool), starting with a letter or digit",
            "name")
    env_vars = _names(server.env_vars, "env_vars")
    headers = server.headers or {}
    if not isinstance(headers, dict):
        raise SpecError("headers must be a JSON object mapping a header name to an environment "
                        "variable name", "headers")
    for header, var in headers.items():
        if not HEADER_NAME_RE.match(str(header)):
            raise SpecError(f"{header!r} is not a valid HTTP header name", "headers")
        if not isinstance(var, str) or not ENV_NAME_RE.match(var):
            raise SpecError(f"header {header!r}: {var!r} is not an environment variable name (the value "
                            "itself is never stored; name the variable that holds it)", "headers")
    args = server.args or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise SpecError("args must be a JSON list of strings", "args")
    if server.transport == STDIO:
        if not server.command:
            raise SpecError("a stdio server needs a command", "command")
        if server.url:
            raise SpecError("a stdio server takes a command, not a URL", "url")
        if headers:
            raise SpecError("headers apply to HTTP servers; give a stdio server --env names instead",
                            "headers")
    elif server.transport == HTTP:
        parts = urlsplit(server.url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SpecError(f"{server.url!r} is not an http(s) URL", "url")
        if parts.username or parts.password:
            raise SpecError("put credentials in a header from an environment variable, not in the URL",
                            "url")
        if server.command or args:
            raise SpecError("an HTTP server takes a URL, not a command", "command")
        if env_vars:
            raise SpecError("environment variables are passed to stdio servers; an HTTP server gets "
                            "--header NAME=ENVVAR instead", "env_vars")
    else:
        raise SpecError(f"unknown transport {server.transport!r}: use stdio or http", "transport")
    timeout = float(server.call_timeout)
    if not timeout > 0:
        raise SpecError(f"call timeout must be > 0 seconds, got {timeout:g}", "call_timeout")
    if server.default_risk not in ("", "low", "medium", "high"):
        raise SpecError(f"default risk must be low, medium, high or blank, got {server.default_risk!r}",
                        "default_risk")
    return ServerSpec(
        name=name, transport=server.transport, command=server.command or "", args=tuple(args),
        url=server.url or "", env_vars=env_vars, headers=tuple(sorted(headers.items())),
        enabled=bool(server.enabled), group_ids=group_ids, timeout=timeout,
        default_risk=server.default_risk or "", generation=int(server.generation or 0),
    )


def _names(value: Any, field_name: str) -> tuple[str, ...]:
    if not isinstance(value or [], list):
        raise SpecError("env_vars must be a JSON list of variable names", field_name)
    for name in value or []:
        if not isinstance(name, str) or not ENV_NAME_RE.match(name):
            raise SpecError(f"{name!r} is not an environment variable name", field_name)
    return tuple(value or [])
