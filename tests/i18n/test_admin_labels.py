"""Every label Toolgate's own admin pages show is marked for translation and has a German one.

The admin builds its pages from the models and ModelAdmins: app and model names, column
headers (``list_display``, through the fields' ``verbose_name`` or ``@admin.display``),
filter titles, action descriptions, fieldset titles, form labels, help texts and choice
labels. A label Django derives from a name (``tool_name`` → "tool name", ``ToolCall`` →
"tool call", a TextChoices member without a label) is a plain string that no catalog can
translate, so each label must be a lazy translation, and its text must be in the German
catalog. A failure names the label and where it comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import label_for_field
from django.utils import translation
from django.utils.functional import Promise

from tests.i18n import po

TOOLGATE_APPS = ("assistant", "approvals", "tools")
CATALOG = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"


def _admins() -> list[tuple[Any, admin.ModelAdmin]]:
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in TOOLGATE_APPS]


def _field_labels(model: Any) -> list[tuple[str, Any]]:
    found = []
    for field in model._meta.get_fields():
        if not field.concrete or field.auto_created:
            continue
        if field.name == "id":
            continue  # Django's own "ID"
        where = f"{model.__name__}.{field.name}"
        found.append((f"{where} verbose_name", field._verbose_name))
        if field.help_text:
            found.append((f"{where} help_text", field.help_text))
        for value, label in field.flatchoices or []:
            if value != "":  # the empty choice may be Django's own "---------"
                found.append((f"{where} choice {value!r}", label))
            elif not isinstance(label, str) or label != "---------":
                found.append((f"{where} choice ''", label))
    return found


def _column_label(name: Any, model: Any, model_admin: admin.ModelAdmin) -> Any:
    """The column header as given (not capitalised): the field's verbose_name or the description."""
    if name == "__str__":
        return model._meta.verbose_name
    if callable(name) or hasattr(model_admin, str(name)):
        attr = name if callable(name) else getattr(model_admin, name)
        return getattr(attr, "short_description", None)
    try:
        return model._meta.get_field(name)._verbose_name
    except Exception:  # a model method or property
        attr = getattr(model, name)
        return getattr(getattr(attr, "fget", attr), "short_description", None)


def shown_labels() -> list[tuple[str, Any]]:
    """(where, label) for every label Toolgate's admin pages show."""
    labels: list[tuple[str, Any]] = [(f"app {label}", apps.get_app_config(label).verbose_name)
                                     for label in TOOLGATE_APPS]
    for model, model_admin in _admins():
        name = model.__name__
        labels += [(f"{name} verbose_name", model._meta.original_attrs.get("verbose_name")),
                   (f"{name} verbose_name_plural", model._meta.original_attrs.get("verbose_name_plural"))]
        labels += _field_labels(model)
        for column in model_admin.list_display:
            label_for_field(column, model, model_admin)  # the column exists
            labels.append((f"{name} column {column}", _column_label(column, model, model_admin)))
        for item in model_admin.list_filter:
            if isinstance(item, type):
                labels.append((f"{name} filter {item.__name__}", item.title))
        for action in model_admin.actions or []:
            function = action if callable(action) else getattr(model_admin, action)
            labels.append((f"{name} action {function.__name__}", function.short_description))
        for title, _options in model_admin.fieldsets or []:
            if title is not None:
                labels.append((f"{name} fieldset", title))
    return labels


@pytest.fixture(scope="module")
def german() -> dict[str, str]:
    return {e.msgid: e.msgstr[0] for e in po.messages(CATALOG) if e.msgid and e.translated}


def test_the_walk_finds_the_admin_labels():
    """The check below is only as good as the walk: it sees columns, actions, filters and fieldsets."""
    where = [w for w, _label in shown_labels()]
    assert "ApprovalRequest column tool_name" in where
    assert "McpServer action refresh" in where
    assert "AuditEvent filter UserFilter" in where
    assert "McpServer fieldset" in where
    assert "ToolCall.status choice 'rejected'" in where
    assert len(where) > 300


def test_every_admin_label_is_marked_for_translation():
    unmarked = [(where, label) for where, label in shown_labels() if not isinstance(label, Promise)]
    assert unmarked == [], ("labels Django derives from a name, or plain strings: give them "
                            "gettext_lazy(...) (verbose_name=..., description=..., title=...)")


def test_every_admin_label_has_a_german_translation(german):
    missing = []
    for where, label in shown_labels():
        if not isinstance(label, Promise):
            continue  # the test above names it
        with translation.override("en"):
            text = str(label)
        if text not in german:
            missing.append((where, text))
    assert missing == [], "not in locale/de/LC_MESSAGES/django.po: run `make messages` and translate them"


def test_a_column_header_reads_in_german():
    from approvals.models import ApprovalRequest

    with translation.override("de"):
        model_admin = admin.site._registry[ApprovalRequest]
        assert str(label_for_field("tool_name", ApprovalRequest, model_admin)) == "Werkzeugname"
        assert str(ApprovalRequest._meta.verbose_name_plural) == "Freigabeanfragen"
