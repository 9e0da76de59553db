"""The test database as seen from another process: a server or worker a test starts.

pytest-django's test database is a file (SQLite, see tests/settings.py) or, with
``DATABASE_URL``, ``test_<name>`` on the same PostgreSQL server. A subprocess reaches it
through the same variables the settings read, pointed at the test database.
"""

from __future__ import annotations

from urllib.parse import quote

from django.db import connections


def is_sqlite() -> bool:
    return connections["default"].vendor == "sqlite"


def shared_database_env() -> dict[str, str]:
    """``SQLITE_PATH`` or ``DATABASE_URL`` naming the test database (once it exists)."""
    db = connections["default"].settings_dict
    if is_sqlite():
        return {"SQLITE_PATH": str(db["NAME"])}
    auth = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return {"DATABASE_URL": f"postgres://{auth}@{host}{port}/{quote(str(db['NAME']), safe='')}"}
