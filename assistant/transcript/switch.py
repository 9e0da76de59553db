"""Switch a conversation's model profile mid-conversation (issue 14).

The conversation's ``profile`` is the one its *next* run uses: a run copies it when it
starts (``Run.profile``), so a switch never changes a reply being written, and each answer
keeps the profile that wrote it (``Message.profile`` for a fallback, else its run's). The
history is stored neutrally and every adapter converts it to its own wire format, tool
calls and results included (docs/providers.md), so a conversation begun with one provider
continues with another without any conversion here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from assistant.models import Conversation
from assistant.providers.profiles import Profile, get_profiles


class SwitchRefused(ValueError):
    """The profile cannot be used: ``str(exc)`` says why, ``choices`` what can."""

    def __init__(self, message: str, choices: list[str]) -> None:
        super().__init__(message)
        self.choices = choices


@dataclass(frozen=True)
class Switched:
    profile: Profile
    changed: bool  # False when the conversation already used it


def usable_profiles() -> dict[str, Profile]:
    """The profiles a user may pick: every configured one (they come from the environment)."""
    return get_profiles()


def switch_profile(conversation: Conversation, name: str) -> Switched:
    """Make ``name`` the profile of the conversation's next answers; raise SwitchRefused."""
    profiles = usable_profiles()
    profile = profiles.get(name) if isinstance(name, str) else None
    if profile is None:
        shown = name if isinstance(name, str) else ""
        raise SwitchRefused(
            _("There is no model profile named “%(name)s”; choose one of: %(choices)s.")
            % {"name": shown.replace("\x00", "\\0")[:64], "choices": ", ".join(sorted(profiles))},
            sorted(profiles))
    if conversation.profile == profile.name:
        return Switched(profile, False)
    Conversation.objects.filter(pk=conversation.pk).update(profile=profile.name)
    conversation.profile = profile.name
    return Switched(profile, True)
