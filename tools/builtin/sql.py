"""Read-only SQL over a small sample shop database, for models that answer with queries.

The SQL text comes from a model, so nothing here inspects it: no "starts with SELECT", no
keyword lists, which are always one comment or CTE away from being bypassed. SQLite itself
enforces the rules instead: the file is opened read-only, an authorizer that SQLite
consults for every operation of the compiled statement allows only reads (SELECT, column
reads, recursive CTEs and a whitelist of pure functions) and denies everything else
(writes, ATTACH, every PRAGMA, DDL, transactions), connection limits cap string sizes and
forbid attached databases, and a progress handler stops any query that runs past its
deadline. The database is built from ``sample_db.sql`` next to this module, and the tool's
description is generated from the same script so the schema the model sees cannot drift.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from django.conf import settings
from pydantic import Field

from tools import ArgumentError, tool
from tools.definition import Tool
from tools.errors import ToolTimeout

SCRIPT_PATH = Path(__file__).with_name("sample_db.sql")
SCRIPT = SCRIPT_PATH.read_text(encoding="utf-8")
# Stored as PRAGMA user_version so a database built from an older script gets rebuilt.
SCRIPT_VERSION = int(hashlib.sha256(SCRIPT.encode()).hexdigest()[:7], 16)

MAX_VALUE_BYTES = 1_000_000  # longest string or blob a query may produce
MAX_SQL_CHARS = 10_000
MAX_COLUMNS = 64  # so one row holds at most MAX_COLUMNS * MAX_VALUE_BYTES, whatever the budget
_PROGRESS_STEPS = 1_000  # SQLite VM instructions between deadline checks

_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
# Pure functions only: no load_extension, no randomblob/zeroblob (memory), no sqlite_* introspection.
ALLOWED_FUNCTIONS = frozenset({
    "abs", "avg", "ceil", "ceiling", "char", "coalesce", "concat", "concat_ws", "count", "cume_dist",
    "date", "datetime", "degrees", "dense_rank", "exp", "first_value", "floor", "format", "glob",
    "group_concat", "hex", "ifnull", "iif", "instr", "json", "json_array", "json_array_length",
    "json_extract", "json_group_array", "json_group_object", "json_object", "json_quote", "json_type",
    "json_valid", "julianday", "lag", "last_value", "lead", "length", "like", "likelihood", "likely",
    "ln", "log", "log10", "log2", "lower", "ltrim", "max", "min", "mod", "nth_value", "ntile", "nullif",
    "octet_length", "percent_rank", "pi", "pow", "power", "printf", "quote", "radians", "random",
    "rank", "replace", "round", "row_number", "rtrim", "sign", "sqrt", "strftime", "string_agg",
    "substr", "substring", "sum", "time", "timediff", "total", "trim", "trunc", "typeof", "unhex",
    "unicode", "unixepoch", "unlikely", "upper", "->", "->>",
})

_WRITES = {
    sqlite3.SQLITE_INSERT: "INSERT into", sqlite3.SQLITE_UPDATE: "UPDATE of",
    sqlite3.SQLITE_DELETE: "DELETE from",
}
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"})
_ACTION_NAMES = {
    sqlite3.SQLITE_DETACH: "DETACH", sqlite3.SQLITE_TRANSACTION: "a transaction statement",
    sqlite3.SQLITE_SAVEPOINT: "SAVEPOINT", sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
    sqlite3.SQLITE_REINDEX: "REINDEX", sqlite3.SQLITE_ANALYZE: "ANALYZE",
}
_READ_ONLY_HINT = (
    "query_database can only read: send one SELECT (or WITH ... SELECT) statement over the "
    "tables in the tool description."
)

_build_lock = threading.Lock()


# -- the database file ------------------------------------------------------------------


def build_database(path: Path) -> None:
    """Build the sample database into a temporary file, then atomically rename it into place."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(SCRIPT)
            conn.execute(f"PRAGMA user_version = {SCRIPT_VERSION:d}")
            conn.commit()
        finally:
            conn.close()
        os.chmod(tmp, 0o400)  # read-only, and private to the service user
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _uri(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"


def _built_version(path: Path) -> int | None:
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(_uri(path), uri=True)
    except sqlite3.Error:
        return None
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:  # not a database at all
        return None
    finally:
        conn.close()


def ensure_database() -> Path:
    """The database path, (re)built first if it is missing or was built from another script."""
    path = Path(settings.TOOLS_SAMPLE_DB_PATH)
    if _built_version(path) != SCRIPT_VERSION:
        with _build_lock:
            if _built_version(path) != SCRIPT_VERSION:
                build_database(path)
    return path


# -- confinement ------------------------------------------------------------------------


class Authorizer:
    """SQLite authorizer: reads and whitelisted functions pass, everything else is denied.

    It remembers the first thing it denied, so the error can say what was refused.
    """

    def __init__(self) -> None:
        self.denied: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None,
                 source: str | None) -> int:
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in ALLOWED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if self.denied is None:
            self.denied = _describe_denied(action, arg1, arg2)
        return sqlite3.SQLITE_DENY


def _describe_denied(action: int, arg1: str | None, arg2: str | None) -> str:
    if action == sqlite3.SQLITE_FUNCTION:
        return f"the function {arg2}()"
    if action == sqlite3.SQLITE_PRAGMA:
        return f"PRAGMA {arg1}"
    if action in _WRITES and arg1 in _SCHEMA_TABLES:
        return "changing the schema (CREATE, DROP, ALTER)"
    if action in _WRITES:
        return f"{_WRITES[action]} {arg1}"
    if action == sqlite3.SQLITE_ATTACH:
        return f"ATTACH DATABASE {arg1!r}" if arg1 else "VACUUM"
    if action in _ACTION_NAMES:
        return _ACTION_NAMES[action]
    return "changing the schema (CREATE, DROP, ALTER)"


class Deadline:
    """Progress handler: a non-zero return makes SQLite abort the running statement."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False

    def __call__(self) -> int:
        if time.monotonic() > self.at:
            self.expired = True
        return int(self.expired)


def connect_readonly(path: Path) -> tuple[sqlite3.Connection, Authorizer]:
    """A read-only connection with the authorizer and limits installed."""
    conn = sqlite3.connect(_uri(path), uri=True, isolation_level=None)  # no implicit BEGIN
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS * 4)
    conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)  # one row: at most MAX_COLUMNS values
    authorizer = Authorizer()
    conn.set_authorizer(authorizer)
    return conn, authorizer


# -- the schema, for the description ----------------------------------------------------


def describe_schema(conn: sqlite3.Connection, *, max_listed_values: int = 8) -> str:
    """Every table with its columns, keys and, for short lists of text values, those values."""
    # Table and column names come from our own schema, never from a model: hence the noqa: S608.
    lines = ["Tables (SQLite):"]
    tables = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    )]
    for table in tables:
        keys = {row[3]: f"{row[2]}.{row[4]}" for row in conn.execute(f'PRAGMA foreign_key_list("{table}")')}
        count = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]  # noqa: S608
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        single_pk = sum(1 for row in info if row[5]) == 1
        columns = []
        for _cid, name, ctype, _notnull, _default, pk in info:
            text = f"{name} {ctype}"
            if pk and single_pk:
                text += " primary key"
            if name in keys:
                text += f" -> {keys[name]}"
            if ctype.upper() == "TEXT":
                values = [r[0] for r in conn.execute(
                    f'SELECT DISTINCT "{name}" FROM "{table}" ORDER BY 1 LIMIT {max_listed_values + 1}'  # noqa: S608
                )]
                if len(values) <= max_listed_values and count >= 2 * len(values):
                    text += f" (one of {', '.join(repr(v) for v in values)})"
            columns.append(text)
        lines.append(f"- {table} ({count} rows): {', '.join(columns)}")
    return "\n".join(lines)


def _schema_text() -> str:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(SCRIPT)
        return describe_schema(conn)
    finally:
        conn.close()


SCHEMA_TEXT = _schema_text()


# -- the tool ---------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return f"X'{value.hex().upper()}'"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _explain(exc: sqlite3.Error, authorizer: Authorizer, deadline: Deadline) -> Exception:
    if deadline.expired:
        return ToolTimeout(
            f"query took longer than {deadline.seconds:g} s and was stopped; make it cheaper "
            "(filter earlier, add LIMIT, avoid unbounded recursion)"
        )
    if authorizer.denied is not None:
        return ArgumentError(f"{authorizer.denied} is not allowed: the database is read-only",
                             path="sql", hint=_READ_ONLY_HINT)
    message = str(exc)
    if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in message:
        return ArgumentError("sql contains more than one statement; send exactly one per call",
                             path="sql", hint="Split the statements into separate calls.")
    if isinstance(exc, sqlite3.ProgrammingError) and "bindings" in message:
        return ArgumentError(f"wrong number of parameters: {message}", path="params",
                             hint="Pass one value in params for each ? placeholder, in order.")
    return ArgumentError(f"SQLite rejected the query: {message}", path="sql",
                         hint="Check the SQL syntax and the table and column names in the description.")


def _size(value: Any) -> int:
    """About how many bytes ``value`` takes in the JSON result (never less than it takes)."""
    if isinstance(value, str):
        return len(value) + 3 if value.isascii() else len(value.encode("utf-8", "replace")) + 3
    if isinstance(value, bytes):
        return 2 * len(value) + 4  # X'…' in hexadecimal
    if value is None:
        return 5
    return len(repr(value)) + 1


def _fetch(cursor: sqlite3.Cursor, max_rows: int, max_bytes: int) -> tuple[list[tuple[Any, ...]], str]:
    """Rows one at a time until the row limit or the byte budget is reached.

    Returns the rows and, when it stopped early, why. A row that would take the result past
    the budget is dropped, so the process never holds more than the budget plus one row.
    """
    rows: list[tuple[Any, ...]] = []
    used = 0
    while True:
        row = cursor.fetchone()
        if row is None:
            return rows, ""
        if len(rows) == max_rows:
            return rows, (f"stopped after {max_rows} rows (the row limit); add LIMIT or filter "
                          "to see the rest")
        used += sum(_size(value) for value in row) + 2
        if used > max_bytes:
            what = (f"stopped after {len(rows)} rows" if rows else "the first row alone is over it")
            return rows, (f"{what}: the result reached its size limit of {max_bytes:,} bytes; select "
                          "fewer or shorter columns (substr(...)) or fewer rows")
        rows.append(row)


def _stop_at_once() -> int:
    return 1  # progress handler: abort before the statement's first step reads anything


def check_query(arguments: dict[str, Any], ctx: Any = None) -> None:
    """query_database's pre-check (``Tool.precheck``), run before the gate.

    The statement is compiled on the same read-only connection, with the same authorizer
    and limits, as when it runs, and a progress handler stops it at its first instruction,
    so nothing is read. A write, a PRAGMA, a syntax error or a wrong number of parameters
    raises the very error the tool would; a call it would refuse never waits for approval.
    """
    conn, authorizer = connect_readonly(ensure_database())
    # Load the schema first: SQLite reads it with a statement of its own, which the handler
    # below would stop too (and then every statement would look fine).
    conn.execute("SELECT 1 FROM sqlite_master LIMIT 0")
    authorizer.denied = None
    conn.set_progress_handler(_stop_at_once, 1)
    try:
        cursor = conn.execute(arguments["sql"], arguments.get("params") or [])
        if cursor.description is None:
            raise ArgumentError("sql contains no statement", path="sql", got=arguments["sql"],
                                hint=_READ_ONLY_HINT)
    except sqlite3.OperationalError as exc:
        if str(exc) != "interrupted" or authorizer.denied is not None:
            raise _explain(exc, authorizer, Deadline(0)) from None
    except sqlite3.Error as exc:
        raise _explain(exc, authorizer, Deadline(0)) from None
    finally:
        conn.close()


@tool(risk="low", read_only=True, idempotent=True, precheck=check_query)
def query_database(
    sql: Annotated[str, Field(min_length=1, max_length=MAX_SQL_CHARS)],
    params: Annotated[list[str | int | float | None], Field(max_length=100)] = [],  # noqa: B006 (never mutated)
) -> dict[str, Any]:
    """Run one read-only SQL query (SQLite dialect) against the sample shop database.

    Use this to answer questions about the shop's products, customers and orders: totals,
    rankings, lookups, trends. Only reading is possible: one SELECT or WITH ... SELECT
    statement per call; anything that writes, PRAGMA, ATTACH and table-valued functions
    such as json_each are refused. Put values in params and refer to them with ? in the
    SQL instead of pasting them into the text. Results are capped at a maximum number of
    rows and a maximum size ("truncated": true and a "note" saying why when more rows
    existed) and slow queries are stopped.

    Example: sql="SELECT name, price FROM products WHERE category = ? ORDER BY price DESC LIMIT 5",
    params=["Kitchen"]
    Returns {"columns": ["name", "price"], "rows": [["Chef's Knife 20cm", 64.0], ...],
    "row_count": 5, "truncated": false}.

    Args:
        sql: A single SQLite SELECT statement; use ? placeholders for values.
        params: Values for the ? placeholders, in order (strings, numbers or null).
    """
    conn, authorizer = connect_readonly(ensure_database())
    deadline = Deadline(settings.TOOLS_SQL_TIMEOUT)
    conn.set_progress_handler(deadline, _PROGRESS_STEPS)
    try:
        cursor = conn.execute(sql, params)
        if cursor.description is None:
            raise ArgumentError("sql contains no statement", path="sql", got=sql, hint=_READ_ONLY_HINT)
        columns = [d[0] for d in cursor.description]
        rows, stopped = _fetch(cursor, settings.TOOLS_SQL_MAX_ROWS, settings.TOOLS_SQL_MAX_BYTES)
    except sqlite3.Error as exc:
        raise _explain(exc, authorizer, deadline) from None
    finally:
        conn.close()
    result: dict[str, Any] = {
        "columns": columns,
        "rows": [[_jsonable(v) for v in row] for row in rows],
        "row_count": len(rows),
        "truncated": bool(stopped),
    }
    if stopped:
        result["note"] = stopped
    return result


query_database.description = f"{query_database.description}\n\n{SCHEMA_TEXT}"

TOOLS: list[Tool] = [query_database]
