"""Send a plain-text email through Django's configured email backend.

Everything a model puts in a message is checked before Django sees it, because a model can
be steered by text it read elsewhere: recipients must be bare, plainly valid addresses (no
display names, no lists smuggled into one string), there is a cap on how many, and the
subject may not contain line breaks or other control characters, which is how extra
headers (``Bcc:``) get injected. The sender is always ``DEFAULT_FROM_EMAIL``; the model
cannot choose it. The tool is high-risk, so the gate can hold each call for approval.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from django.conf import settings
from django.core.mail import EmailMessage
from pydantic import Field

from tools import ArgumentError, tool
from tools.definition import Tool

MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 20_000
MAX_ADDRESS_CHARS = 254

# A deliberately strict subset of RFC 5321: dot-atom local part, LDH domain labels and an
# alphabetic top-level domain. Quoted local parts, IP literals and display names are refused.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_RE = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+[A-Za-z]{{2,63}})")


def check_address(address: str, index: int) -> str:
    """Return the address if it is a plain, valid one; raise ArgumentError naming it if not."""
    match = ADDRESS_RE.fullmatch(address)
    if match is None or len(address) > MAX_ADDRESS_CHARS or len(match["local"]) > 64:
        hint = "Give bare addresses such as \"sam@example.com\", one per list item."
        if "<" in address or "," in address or ";" in address:
            hint = "Give only the address (no name, no angle brackets), one address per list item."
        raise ArgumentError(f"{address!r} is not a valid email address", path=f"to.{index}",
                            got=address, hint=hint)
    return address


def check_subject(subject: str) -> str:
    if not subject.strip():
        raise ArgumentError("subject is empty", path="subject", got=subject)
    if len(subject) > MAX_SUBJECT_CHARS:
        raise ArgumentError(f"subject is {len(subject)} characters; the limit is {MAX_SUBJECT_CHARS}",
                            path="subject", hint="Shorten the subject.")
    bad = [c for c in subject if unicodedata.category(c) in ("Cc", "Zl", "Zp")]
    if bad:
        raise ArgumentError(
            f"subject contains a line break or control character ({bad[0]!r}); it must be one line",
            path="subject", got=subject, hint="Remove line breaks from the subject.",
        )
    return subject


@tool(risk="high")
def send_email(
    to: Annotated[list[str], Field(min_length=1)],
    subject: Annotated[str, Field(min_length=1, max_length=MAX_SUBJECT_CHARS)],
    body: Annotated[str, Field(min_length=1, max_length=MAX_BODY_CHARS)],
) -> dict[str, Any]:
    """Send a plain-text email on the user's behalf.

    Only use this when the user has clearly asked for an email to be sent, and to
    addresses they gave or confirmed; a person may have to approve the call first. Write
    the whole message in body (plain text, no HTML). Recipients are bare addresses, one
    per list item, with a limit on how many; the subject is a single line.

    Example: send_email(to=["sam@example.com"], subject="Meeting moved to 3 pm",
    body="Hi Sam,\\n\\nThe meeting is now at 3 pm.\\n\\nBest,\\nAlex")
    Returns {"sent": true, "to": ["sam@example.com"], "subject": "Meeting moved to 3 pm"}.

    Args:
        to: Recipient addresses, e.g. ["sam@example.com"]. No names or angle brackets.
        subject: One-line subject, no line breaks.
        body: The message text (plain text).
    """
    limit = settings.TOOLS_EMAIL_MAX_RECIPIENTS
    recipients = list(dict.fromkeys(check_address(a, i) for i, a in enumerate(to)))
    if not recipients:
        raise ArgumentError("to is empty: give at least one recipient", path="to", got=to)
    if len(recipients) > limit:
        raise ArgumentError(f"{len(recipients)} recipients; at most {limit} are allowed per email",
                            path="to", hint=f"Send to at most {limit} addresses.")
    check_subject(subject)
    if not body.strip():
        raise ArgumentError("body is empty", path="body", got=body)
    if len(body) > MAX_BODY_CHARS:
        raise ArgumentError(f"body is {len(body)} characters; the limit is {MAX_BODY_CHARS}",
                            path="body", hint="Shorten the message.")
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL,
                           to=recipients)
    if message.send(fail_silently=False) != 1:
        raise RuntimeError("the email backend reported that the message was not sent")
    return {"sent": True, "to": recipients, "subject": subject}


TOOLS: list[Tool] = [send_email]
