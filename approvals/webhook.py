"""Signing and sending approval webhooks.

The signature is HMAC-SHA256 with ``APPROVALS_WEBHOOK_SECRET`` over ``"<timestamp>.<body>"``
(the exact bytes sent), in ``X-Toolgate-Signature: t=<unix seconds>,v1=<hex digest>``. The
timestamp lets receivers refuse replays of old deliveries (docs/approvals.md).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

HEADER = "X-Toolgate-Signature"


class DeliveryError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` sent at ``timestamp`` (now if not given)."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def origin(url: str) -> str:
    """What a delivery row shows of the URL: never its path or query (Slack puts the secret there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def post(url: str, body: bytes, secret: str, timeout: float) -> int:
    """POST once; the receiver's status on success (2xx), else :class:`DeliveryError`."""
    headers = {"Content-Type": "application/json", "User-Agent": "Toolgate-Approvals/1"}
    if secret:
        headers[HEADER] = signature(secret, body)
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"the webhook URL must be http or https, not {urlsplit(url).scheme!r}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 -- scheme checked
            return int(response.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the receiver answered HTTP {exc.code}", exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"could not reach the receiver: {reason}") from None
