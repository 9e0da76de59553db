"""Which MCP client sent a request, on a stateless endpoint: a signed ``Mcp-Session-Id``.

On the ``initialize``-handshake revisions (up to 2025-11-25) only ``initialize`` names the
client; later requests do not. A stateless server keeps nothing between requests, and any
process may answer the next one. So the answer to ``initialize`` carries an
``Mcp-Session-Id`` that *is* the session: the token it belongs to, the client's name and
version and a random id, signed with ``SECRET_KEY`` (``django.core.signing``). A client
sends it back on every later request (the transport requires it), and whichever process
answers reads the client from it — per session, not per token, and without shared state.

A session id signed for another token, altered, or signed with an old key is not a session
of this token: the endpoint answers ``404`` and the client starts a new session, as the
transport prescribes for an expired one. On 2026-07-28 every request carries its client
info and no session exists; this module is not involved there.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core import signing

SALT = "toolgate.mcp.session"
MAX_NAME, MAX_VERSION = 200, 100


@dataclass(frozen=True)
class Session:
    id: str  # the random part: what the audit records as the session
    token: int
    client: dict[str, str]


def mint(token_id: int, name: str, version: str) -> str:
    """A new session id for this token and client (visible ASCII, as the transport requires)."""
    return signing.dumps({"s": secrets.token_hex(8), "t": token_id, "n": name[:MAX_NAME],
                          "v": version[:MAX_VERSION]}, salt=SALT, compress=True)


def read(value: str, token_id: int) -> Session | None:
    """The session ``value`` names, if it was minted here for this token; else ``None``."""
    try:
        data = signing.loads(value, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("t") != token_id:
        return None
    return Session(id=str(data.get("s", ""))[:32], token=token_id,
                   client={"name": str(data.get("n", ""))[:MAX_NAME],
                           "version": str(data.get("v", ""))[:MAX_VERSION]})
