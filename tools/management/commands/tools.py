"""Operator commands for the tool registry: list, show a schema, call a tool for real.

``call`` goes through the same pipeline as chat (the global registry, the default gate,
a ToolCall record), so what it prints is exactly what a model would have been given.
Exit status of ``call``: 0 when the result is ok, 1 when it is an error, 3 when the gate
parked the call for approval; the structured result is printed on stdout in every case.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tools.context import ToolContext
from tools.errors import ToolDefinitionError
from tools.exports import FORMATS, export
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import registry

EXIT_ERROR = 1
EXIT_PENDING = 3


class Command(BaseCommand):
    help = "Inspect and call the registered tools: list, schema NAME, call NAME JSON --user USERNAME."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="{list,schema,call}", required=True)
        sub.add_parser("list", help="List every registered tool.")
        schema = sub.add_parser("schema", help="Print a tool's definition in a provider's format.")
        schema.add_argument("name", help="The tool's name.")
        schema.add_argument("--format", choices=FORMATS, default="openai", help="Default: openai.")
        schema.add_argument("--strict", action="store_true", default=None,
                            help="OpenAI strict mode (default: the tool's own setting).")
        schema.add_argument("--no-strict", dest="strict", action="store_false",
                            help="Never use OpenAI strict mode.")
        call = sub.add_parser("call", help="Run a tool through the real pipeline and print the result.")
        call.add_argument("name", help="The tool's name.")
        call.add_argument("arguments", nargs="?", default="",
                          help="The arguments as one JSON object, e.g. '{\"city\": \"Oslo\"}'.")
        call.add_argument("--user", required=True, help="Username to call the tool as.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list()
        elif action == "schema":
            self._schema(options["name"], options["format"], options["strict"])
        else:
            self._call(options["name"], options["arguments"], options["user"])

    def _list(self) -> None:
        rows = [(t.name, str(t.risk), "yes" if t.read_only else "no", _first_line(t.description))
                for t in registry]
        header = ("NAME", "RISK", "READ-ONLY", "DESCRIPTION")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
            self.stdout.write("  ".join([*cells, row[3]]).rstrip())
        if not rows:
            self.stdout.write("(no tools are registered)")

    def _schema(self, name: str, fmt: str, strict: bool | None) -> None:
        tool = registry.get(name)
        if tool is None:
            raise CommandError(f"there is no tool named {name!r}; `manage.py tools list` shows them all")
        if fmt == "anthropic" and strict is not None:
            raise CommandError("--strict and --no-strict apply to the OpenAI formats only "
                               "(openai, responses)")
        try:
            definition = export(tool, fmt, strict=strict)
        except ToolDefinitionError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(definition, indent=2, ensure_ascii=False))

    def _call(self, name: str, arguments: str, username: str) -> None:
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"there is no user named {username!r}") from None
        context = ToolContext(user=user, scope={"source": "manage.py tools call"})
        result = async_to_sync(Pipeline().call)(ToolCallRequest(name, arguments), context)
        self.stdout.write(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        if result.status == "pending":
            raise CommandError(f"the call to {name} is waiting for approval (record {result.record_id})",
                               returncode=EXIT_PENDING)
        if result.status != "ok":
            error = result.error
            summary = f"{error.type}: {error.message}" if error else result.status
            raise CommandError(f"the call failed: {summary}", returncode=EXIT_ERROR)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
