"""Extract validated JSON from standard input on the terminal: the service behind /api/v1/extract.

``--schema`` is a JSON Schema file, ``module:attr`` (a Pydantic model, typed function or
schema dict) or the name of a registered schema::

    echo "name: Ada Lovelace, email: ada@example.com" | python manage.py extract --schema contact

The data is printed as JSON on standard output; everything else (the notice that the demo
is not a model, errors with the last invalid output) goes to standard error, and a failed
extraction exits with status 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from assistant.extraction import schemas
from assistant.extraction.models import Extraction
from assistant.extraction.service import ExtractionError, ExtractionInvalid, extract
from assistant.ops.budgets import BudgetExceeded
from assistant.providers.base import ProviderError


class Command(BaseCommand):
    help = "Extract JSON matching a schema from the text on standard input."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--schema", required=True,
                            help="a JSON Schema file, module:attr, or a registered schema's name")
        parser.add_argument("--profile", help="model profile (default: the default profile)")
        parser.add_argument("--user", help="count the tokens against this user's budget")
        parser.add_argument("--instructions", help="extra instructions for the model")
        parser.add_argument("--max-corrections", type=int, help="corrections after an invalid answer")

    def handle(self, *args: Any, schema: str, profile: str | None, user: str | None,
               instructions: str | None, max_corrections: int | None, **options: Any) -> None:
        spec = _schema(schema)
        account = None
        if user:
            try:
                account = get_user_model().objects.get(username=user)
            except get_user_model().DoesNotExist:
                raise CommandError(f"no user named {user!r}") from None
        text = sys.stdin.read()
        if not text.strip():
            raise CommandError("no text on standard input: pipe the text to extract from")
        try:
            result = extract(spec, text, profile=profile, user=account, instructions=instructions,
                             max_corrections=max_corrections, source=Extraction.Source.COMMAND)
        except ExtractionInvalid as exc:
            self.stderr.write(f"last output: {exc.last_output}")
            raise CommandError(f"{exc.message} (extraction {exc.extraction.pk if exc.extraction else '?'})") \
                from None
        except (ExtractionError, BudgetExceeded, ProviderError) as exc:
            said = getattr(exc, "message", None) or getattr(exc, "user_message", None) or str(exc)
            raise CommandError(said) from None
        if result.notice:
            self.stderr.write(result.notice)
        self.stdout.write(json.dumps(result.data, indent=2, ensure_ascii=False))


def _schema(value: str) -> schemas.ExtractionSchema:
    path = Path(value)
    try:
        if path.suffix == ".json" or path.is_file():
            try:
                data = json.loads(path.read_text())
            except OSError as exc:
                raise CommandError(f"cannot read the schema file {value}: {exc.strerror}") from None
            except ValueError as exc:
                raise CommandError(f"the schema file {value} is not valid JSON: {exc}") from None
            return schemas.from_json_schema(data, path.stem.replace(".", "_"))
        if ":" in value:
            return schemas.load(value)
        return schemas.by_name(value)
    except schemas.SchemaError as exc:
        raise CommandError(f"the schema cannot be used: {exc}") from None
