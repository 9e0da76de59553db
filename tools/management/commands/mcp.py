"""Configure MCP servers as code: add, list, tools, refresh, remove (see docs/mcp.md).

    manage.py mcp add NAME (--command "CMD ARG…" | --url URL) [--env VAR]…
                  [--header NAME=ENVVAR]… [--group G]… [--timeout S] [--risk low|medium|high]
    manage.py mcp list | tools NAME | refresh NAME | remove NAME

Changes are audited like policy changes (actor ``command:mcp``). ``tools`` and
``refresh`` connect from this process and print what the registry takes from the server,
with the reason for every tool it refuses.
"""

from __future__ import annotations

import shlex
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tools.mcp import service
from tools.models import McpServer

ACTOR = "command:mcp"


class Command(BaseCommand):
    help = "Manage MCP servers: add, list, tools NAME, refresh NAME, remove NAME."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="{add,list,tools,refresh,remove}", required=True)
        add = sub.add_parser("add", help="Configure a server.")
        add.add_argument("name")
        target = add.add_mutually_exclusive_group(required=True)
        target.add_argument("--command", dest="server_command",
                            help='stdio: the command and its arguments, as one string: "CMD ARG…".')
        target.add_argument("--url", help="Streamable HTTP: the endpoint URL.")
        add.add_argument("--env", action="append", default=[], metavar="VAR",
                         help="stdio: pass this environment variable (its value is never stored).")
        add.add_argument("--header", action="append", default=[], metavar="NAME=ENVVAR",
                         help="HTTP: send header NAME with the value of environment variable ENVVAR.")
        add.add_argument("--group", action="append", default=[], metavar="G",
                         help="Only members of group G may use the server's tools.")
        add.add_argument("--timeout", type=float, default=30.0, help="Seconds per call (default 30).")
        add.add_argument("--risk", choices=["low", "medium", "high"], default="",
                         help="Risk of every tool (default: from the server's annotations).")
        add.add_argument("--disabled", action="store_true", help="Add it switched off.")
        sub.add_parser("list", help="List the servers and their state.")
        for action, text in (("tools", "Connect and list the server's tools as registered."),
                             ("refresh", "Reconnect everywhere and discover the tools again."),
                             ("remove", "Remove the server.")):
            sub.add_parser(action, help=text).add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "add":
                self._add(options)
            elif action == "list":
                self._list()
            elif action == "tools":
                self._tools(options["name"])
            elif action == "refresh":
                server = service.refresh(options["name"], actor=ACTOR)
                self.stdout.write(f"{server.name}: every process reconnects (generation {server.generation})")
                self._tools(server.name)
            else:
                service.remove(options["name"], actor=ACTOR)
                self.stdout.write(f"removed {options['name']}")
        except service.McpConfigError as exc:
            raise CommandError(str(exc)) from None
        except ValidationError as exc:
            raise CommandError("; ".join(
                f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs)
                for field, msgs in exc.message_dict.items())) from None

    def _add(self, options: dict[str, Any]) -> None:
        headers = {}
        for item in options["header"]:
            header, sep, var = item.partition("=")
            if not sep or not header or not var:
                raise CommandError(f"--header {item!r}: expected NAME=ENVVAR, e.g. Authorization=GITHUB_AUTH")
            headers[header] = var
        try:
            command = shlex.split(options["server_command"]) if options["server_command"] else None
        except ValueError as exc:
            raise CommandError(f"--command: {exc}") from None
        if command == []:
            raise CommandError("--command is empty")
        server = service.add(
            options["name"], actor=ACTOR, command=command, url=options["url"] or "", env=options["env"],
            headers=headers, groups=options["group"], call_timeout=options["timeout"],
            default_risk=options["risk"], enabled=not options["disabled"])
        self.stdout.write(f"added {server.name} ({server.transport}); "
                          f"see its tools with: manage.py mcp tools {server.name}")

    def _list(self) -> None:
        rows = [(s.name, s.transport, s.url or shlex.join([s.command, *s.args]), "yes" if s.enabled else "no",
                 s.state, str(s.tool_count), s.last_contact.isoformat(timespec="seconds") if s.last_contact
                 else "-", (s.last_error or "").splitlines()[0][:80] if s.last_error else "")
                for s in McpServer.objects.all()]
        _table(self.stdout, ("NAME", "TRANSPORT", "TARGET", "ENABLED", "STATE", "TOOLS", "LAST CONTACT",
                             "LAST ERROR"), rows)

    def _tools(self, name: str) -> None:
        status = service.discover(name)
        if status.state != "connected":
            raise CommandError(f"{name}: not connected: {status.last_error or status.state}")
        rows = [(row["name"], row.get("risk", "REFUSED"), row.get("refused", "")) for row in status.catalog]
        _table(self.stdout, ("NAME", "RISK", "WHY REFUSED"), rows)
        refused = sum(1 for row in status.catalog if "refused" in row)
        self.stdout.write(f"{name}: {status.tool_count} tools registered, {refused} refused")


def _table(out: Any, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, str(row[-1])]).rstrip())
