"""The pages' two small forms: which model a new conversation uses, and a new title.

The profile choices are read from the configuration on every request (profiles come from
the environment, and tests change them), so a form never offers a profile that is gone.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from assistant.models import Conversation
from assistant.providers.profiles import default_profile, get_profiles

TITLE_MAX = Conversation._meta.get_field("title").max_length


def profile_choices() -> list[tuple[str, str]]:
    return [(name, profile.label or name) for name, profile in get_profiles().items()]


class NewConversationForm(forms.Form):
    profile = forms.ChoiceField(label=_("Model"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["profile"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = profile_choices()
        field.initial = default_profile().name

    def clean_profile(self) -> str:
        """A missing profile means the default one (the protocol makes it optional)."""
        return self.cleaned_data.get("profile") or default_profile().name


class RenameForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=TITLE_MAX, strip=True)
