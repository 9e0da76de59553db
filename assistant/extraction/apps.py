from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


class ExtractionConfig(AppConfig):
    name = "assistant.extraction"
    label = "extraction"
    verbose_name = "Extraction"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_registered_schemas, checks.Tags.compatibility)


def check_registered_schemas(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check`` (and ``migrate``, ``runserver``) name a bad EXTRACTION_SCHEMAS entry."""
    from assistant.extraction.schemas import registered

    try:
        registered()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint="Entries are module:attr or name=module:attr.",
                             id="extraction.E001")]
    return []
