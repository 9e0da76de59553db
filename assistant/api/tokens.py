"""Personal API tokens: made, checked and revoked here, and nowhere else.

A token is ``tg_`` + 43 URL-safe characters from :func:`secrets.token_urlsafe` (256 bits):
far too many to guess, so one fast SHA-256 is the right hash (a slow password hash protects
low-entropy secrets, which these are not). Only the hash is stored; the secret is shown to
its owner once, when it is made. The first characters are kept as ``prefix``: they name
the token in lists and find its row, and the hash is then compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from assistant.models import ApiToken

SCHEME = "tg_"
PREFIX_CHARS = 8  # of the random part: shown in lists, used to find the row
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is a hint, not a log: at most one write a minute


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # shown to the user once; never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def prefix_of(secret: str) -> str:
    return secret[: len(SCHEME) + PREFIX_CHARS]


def create(user: Any, name: str, *, read_only: bool = False, mcp_only: bool = False,
           allowed_tools: list[str] | None = None) -> NewToken:
    secret = SCHEME + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name.strip(), prefix=prefix_of(secret),
                                    token_hash=hash_secret(secret), read_only=read_only,
                                    mcp_only=mcp_only, allowed_tools=sorted(set(allowed_tools or [])))
    return NewToken(token, secret)


def authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret (with its user loaded), or ``None``.

    Unknown, malformed and revoked tokens are all simply ``None``: the caller answers 401
    the same way for each. An inactive user's tokens do not work either.
    """
    if not secret.startswith(SCHEME) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    candidates = ApiToken.objects.active().filter(prefix=prefix_of(secret)).select_related("user")
    for token in candidates:
        if hmac.compare_digest(token.token_hash, digest) and token.user.is_active:
            _touch(token)
            return token
    return None


def revoke(user: Any, token_id: int) -> bool:
    """Revoke one of ``user``'s tokens; False if it is not theirs or already revoked."""
    return bool(ApiToken.objects.active().filter(pk=token_id, user=user).update(revoked_at=timezone.now()))


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
