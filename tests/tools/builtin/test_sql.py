"""query_database: useful reads, and a read-only database that stays read-only under attack."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools import ArgumentError
from tools.builtin.sql import (
    SCRIPT_VERSION,
    Authorizer,
    connect_readonly,
    ensure_database,
    query_database,
)
from tools.errors import ErrorType, ToolTimeout
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry


@pytest.fixture
def db_path(settings, tmp_path: Path) -> Path:
    settings.TOOLS_SAMPLE_DB_PATH = tmp_path / "db" / "sample.sqlite3"
    settings.TOOLS_SQL_MAX_ROWS = 200
    settings.TOOLS_SQL_TIMEOUT = 2.0
    return settings.TOOLS_SAMPLE_DB_PATH


def q(sql: str, params: list | None = None) -> dict:
    return query_database(sql, params or [])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- building the database --------------------------------------------------------------


def test_database_is_built_on_first_use(db_path):
    assert not db_path.exists()
    assert q("SELECT count(*) FROM products")["rows"] == [[20]]
    assert db_path.is_file()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o400
    assert [p.name for p in db_path.parent.iterdir()] == [db_path.name]  # no temp file left behind


def test_existing_database_is_reused_not_rebuilt(db_path):
    ensure_database()
    inode = db_path.stat().st_ino
    q("SELECT 1")
    assert db_path.stat().st_ino == inode


def test_database_from_an_older_script_is_rebuilt(db_path):
    db_path.parent.mkdir(parents=True)
    old = sqlite3.connect(db_path)
    old.execute("CREATE TABLE leftovers (x)")
    old.commit()
    old.close()
    assert q("SELECT count(*) FROM customers")["rows"] == [[20]]
    with pytest.raises(ArgumentError, match="no such table: leftovers"):
        q("SELECT * FROM leftovers")
    check = sqlite3.connect(db_path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCRIPT_VERSION
    check.close()


def test_a_file_that_is_not_a_database_is_replaced(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not sqlite" * 100)
    assert q("SELECT count(*) FROM orders")["rows"] == [[40]]


def test_description_lists_every_table_and_column_of_the_database(db_path):
    conn = sqlite3.connect(ensure_database())
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert {"products", "customers", "orders", "order_items"} <= set(tables)
    for table in tables:
        assert f"- {table} (" in query_database.description
        for column in conn.execute(f'PRAGMA table_info("{table}")'):
            assert f"{column[1]} {column[2]}" in query_database.description
    conn.close()


def test_description_names_foreign_keys_and_status_values():
    assert "customer_id INTEGER -> customers.id" in query_database.description
    assert "'delivered'" in query_database.description


def test_tool_is_low_risk_and_read_only():
    assert (str(query_database.risk), query_database.read_only) == ("low", True)


# -- reading ----------------------------------------------------------------------------


def test_select_returns_columns_rows_and_counts(db_path):
    result = q("SELECT id, name, price FROM products WHERE id IN (1, 5) ORDER BY id")
    assert result == {
        "columns": ["id", "name", "price"],
        "rows": [[1, "Ceramic Pour-Over Coffee Dripper", 24.0], [5, "Chef's Knife 20cm", 64.0]],
        "row_count": 2,
        "truncated": False,
    }


def test_joins_aggregates_and_ctes_work(db_path):
    result = q("""
        WITH totals AS (
            SELECT o.customer_id, sum(i.quantity * i.unit_price) AS spent
            FROM orders o JOIN order_items i ON i.order_id = o.id
            WHERE o.status NOT IN ('cancelled', 'refunded')
            GROUP BY o.customer_id
        )
        SELECT c.name, round(t.spent, 2), rank() OVER (ORDER BY t.spent DESC)
        FROM totals t JOIN customers c ON c.id = t.customer_id
        ORDER BY t.spent DESC LIMIT 3
    """)
    assert result["row_count"] == 3
    assert [row[2] for row in result["rows"]] == [1, 2, 3]


def test_parameters_are_bound_to_placeholders(db_path):
    result = q("SELECT name FROM products WHERE category = ? AND price < ? ORDER BY name", ["Office", 13])
    assert result["rows"] == [["A5 Dotted Notebook"], ["Gel Pen Set (10 colours)"]]


@pytest.mark.parametrize("payload", ["x' OR '1'='1", "'; DROP TABLE products; --", "1 OR 1=1"])
def test_injection_through_params_is_inert(db_path, payload):
    assert q("SELECT * FROM customers WHERE email = ?", [payload])["rows"] == []
    assert q("SELECT count(*) FROM products")["rows"] == [[20]]


def test_wrong_number_of_params_is_a_clear_error(db_path):
    with pytest.raises(ArgumentError, match=r"wrong number of parameters.*uses 2, and there are 1") as info:
        q("SELECT * FROM products WHERE id = ? OR id = ?", [1])
    assert info.value.path == "params"


def test_rows_beyond_the_limit_are_cut_and_flagged(db_path, settings):
    settings.TOOLS_SQL_MAX_ROWS = 5
    result = q("SELECT * FROM order_items")
    assert (result["row_count"], len(result["rows"]), result["truncated"]) == (5, 5, True)
    exact = q("SELECT * FROM order_items LIMIT 5")
    assert (exact["row_count"], exact["truncated"]) == (5, False)


def test_endless_row_generator_is_truncated_not_run_forever(db_path, settings):
    settings.TOOLS_SQL_MAX_ROWS = 50
    result = q("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT x FROM n")
    assert result["rows"][-1] == [50]
    assert result["truncated"] is True


def test_blobs_and_infinities_come_back_as_json_safe_text(db_path):
    assert q("SELECT x'00ff', 1e999")["rows"] == [["X'00FF'", "inf"]]


def test_syntax_errors_are_reported_for_the_model_to_fix(db_path):
    with pytest.raises(ArgumentError, match='SQLite rejected the query: near "SELEC"'):
        q("SELEC * FROM products")
    with pytest.raises(ArgumentError, match="no such column: colour"):
        q("SELECT colour FROM products")


@pytest.mark.parametrize("sql", ["", "   ", "-- just a comment"])
def test_sql_without_a_statement_is_refused(db_path, sql):
    with pytest.raises(ArgumentError, match="contains no statement"):
        q(sql)


# -- attacks ----------------------------------------------------------------------------

WRITES = [
    "INSERT INTO products (name, category, price, stock) VALUES ('Free', 'Home', 0, 1)",
    "UPDATE products SET price = 0",
    "DELETE FROM orders",
    "REPLACE INTO products (id, name, category, price, stock) VALUES (1, 'x', 'Home', 0, 0)",
    "WITH doomed AS (SELECT id FROM orders) DELETE FROM orders WHERE id IN doomed",
    "DROP TABLE products",
    "CREATE TABLE stolen (x)",
    "CREATE TEMP TABLE scratch AS SELECT * FROM customers",
    "CREATE INDEX products_name ON products (name)",
    "CREATE VIEW v AS SELECT 1",
    "CREATE TRIGGER t AFTER INSERT ON orders BEGIN SELECT 1; END",
    "ALTER TABLE products ADD COLUMN secret TEXT",
    "BEGIN",
    "COMMIT",
    "SAVEPOINT s",
    "VACUUM",
    "REINDEX",
    "ANALYZE",
]


@pytest.mark.parametrize("sql", WRITES)
def test_statements_that_write_are_refused(db_path, sql):
    with pytest.raises(ArgumentError, match="is not allowed: the database is read-only") as info:
        q(sql)
    assert "SELECT" in info.value.hint


def test_refusal_names_what_was_refused(db_path):
    with pytest.raises(ArgumentError, match=r"^INSERT into products is not allowed"):
        q("INSERT INTO products (name) VALUES ('x')")
    with pytest.raises(ArgumentError, match=r"^changing the schema"):
        q("DROP TABLE products")


def test_attach_is_refused_and_creates_no_file(db_path, tmp_path):
    for target in (tmp_path / "x.db", Path("/tmp/x.db")):
        existed = target.exists()
        with pytest.raises(ArgumentError, match=r"ATTACH DATABASE .* is not allowed"):
            q(f"ATTACH DATABASE '{target}' AS x")
        assert target.exists() == existed
    with pytest.raises(ArgumentError, match="is not allowed"):  # VACUUM INTO attaches its target
        q(f"VACUUM INTO '{tmp_path / 'copy.db'}'")
    assert not (tmp_path / "copy.db").exists()


@pytest.mark.parametrize("sql", [
    "PRAGMA writable_schema = 1",
    "PRAGMA journal_mode = delete",
    "PRAGMA query_only = 0",
    "PRAGMA table_info(products)",
    "SELECT * FROM pragma_table_info('products')",
    "SELECT * FROM pragma_database_list",
])
def test_every_pragma_is_refused(db_path, sql):
    with pytest.raises(ArgumentError, match="is not allowed"):
        q(sql)


@pytest.mark.parametrize("sql", [
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT zeroblob(1000000000)",
    "SELECT randomblob(1000000000)",
    "SELECT sqlite_compileoption_used('ENABLE_LOAD_EXTENSION')",
])
def test_functions_outside_the_whitelist_are_refused(db_path, sql):
    name = sql.split("(")[0].removeprefix("SELECT ")
    with pytest.raises(ArgumentError, match=rf"the function {name}\(\) is not allowed"):
        q(sql)


def test_second_statement_is_refused_and_never_runs(db_path):
    for sql in ("SELECT 1; DROP TABLE products", "SELECT 1; SELECT 2",
                "SELECT 1 /* x */; DELETE FROM orders"):
        with pytest.raises(ArgumentError, match="more than one statement"):
            q(sql)
    assert q("SELECT count(*) FROM orders")["rows"] == [[40]]


def test_runaway_recursive_query_stops_at_the_time_limit(db_path, settings):
    settings.TOOLS_SQL_TIMEOUT = 0.3
    started = time.monotonic()
    with pytest.raises(ToolTimeout, match=r"query took longer than 0\.3 s"):
        q("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n")
    assert time.monotonic() - started < 10  # generous: proves it does not hang


def test_huge_cross_join_stops_at_the_time_limit(db_path, settings):
    settings.TOOLS_SQL_TIMEOUT = 0.3
    with pytest.raises(ToolTimeout, match=r"longer than 0\.3 s"):
        q("SELECT count(*) FROM order_items a, order_items b, order_items c, order_items d, order_items e")


def test_values_cannot_grow_past_the_length_limit(db_path):
    with pytest.raises(ArgumentError, match="string or blob too big"):
        q("WITH RECURSIVE s(v) AS (SELECT 'x' UNION ALL SELECT v || v FROM s) SELECT max(length(v)) FROM s")


def test_database_file_is_byte_identical_after_the_attacks(db_path, tmp_path):
    ensure_database()
    before, mtime = digest(db_path), db_path.stat().st_mtime_ns
    attacks = [*WRITES, "PRAGMA writable_schema = 1", "PRAGMA journal_mode = wal", "PRAGMA user_version = 7",
               f"ATTACH DATABASE '{tmp_path / 'x.db'}' AS x", "SELECT load_extension('x')",
               "SELECT 1; DELETE FROM orders"]
    for sql in attacks:
        with pytest.raises(ArgumentError):
            q(sql)
    assert digest(db_path) == before
    assert db_path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name]  # no -wal, -journal


def test_authorizer_alone_refuses_writes_on_a_writable_connection():
    # Read-only mode is a second line of defence; the authorizer must hold without it.
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (x)")
    conn.set_authorizer(Authorizer())
    for sql in ("INSERT INTO t VALUES (1)", "DROP TABLE t", "PRAGMA writable_schema = 1",
                "ATTACH DATABASE ':memory:' AS m"):
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute(sql)
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    conn.close()


def test_connection_is_read_only_and_cannot_attach_even_without_the_authorizer(db_path, tmp_path):
    # And the other way round: the file mode and limits hold if the authorizer had a hole.
    conn, _ = connect_readonly(ensure_database())
    conn.set_authorizer(None)
    with pytest.raises(sqlite3.OperationalError, match="readonly database"):
        conn.execute("DELETE FROM orders")
    with pytest.raises(sqlite3.OperationalError, match="too many attached databases"):
        conn.execute(f"ATTACH DATABASE '{tmp_path / 'x.db'}' AS x")
    conn.close()
    assert not (tmp_path / "x.db").exists()


# -- through the pipeline ---------------------------------------------------------------


@pytest.fixture
def pipeline() -> Pipeline:
    registry = Registry()
    registry.register(query_database)
    return Pipeline(registry, gate=None)


@pytest.mark.django_db(transaction=True)
async def test_pipeline_returns_rows_for_a_select(db_path, pipeline):
    result = await pipeline.call(ToolCallRequest(
        "query_database", '{"sql": "SELECT count(*) AS n FROM customers WHERE country = ?", '
                          '"params": ["Germany"]}'))
    assert result.status == "ok", result.error
    assert result.output == {"columns": ["n"], "rows": [[2]], "row_count": 1, "truncated": False}


@pytest.mark.django_db(transaction=True)
async def test_pipeline_reports_a_write_as_a_validation_error(db_path, pipeline):
    result = await pipeline.call(ToolCallRequest("query_database", {"sql": "DELETE FROM orders"}))
    assert result.status == "error"
    assert result.error.type == ErrorType.VALIDATION_ERROR
    assert "DELETE from orders is not allowed" in result.error.message


@pytest.mark.django_db(transaction=True)
async def test_pipeline_reports_a_slow_query_as_a_timeout(db_path, pipeline, settings):
    settings.TOOLS_SQL_TIMEOUT = 0.2
    result = await pipeline.call(ToolCallRequest("query_database", {
        "sql": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"}))
    assert result.error.type == ErrorType.TIMEOUT
    assert "query took longer than 0.2 s" in result.error.message


@pytest.mark.django_db(transaction=True)
async def test_pipeline_rejects_non_scalar_params(db_path, pipeline):
    result = await pipeline.call(ToolCallRequest(
        "query_database", {"sql": "SELECT ?", "params": [{"nested": 1}]}))
    assert result.error.type == ErrorType.VALIDATION_ERROR
    assert result.error.details[0]["path"].startswith("params.0")


# -- the total size of a result (issue 10.3) ----------------------------------------------

ATTACK = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
          "SELECT printf('%.*c', 999999, 'x') FROM r LIMIT 200")


def test_rows_stop_at_the_byte_budget_and_the_result_says_why(db_path, settings):
    settings.TOOLS_SQL_MAX_BYTES = 1_000
    result = q("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r LIMIT 100) "
               "SELECT printf('%.*c', 96, 'x') FROM r")
    assert result["truncated"] is True and 0 < result["row_count"] < 100
    assert sum(len(json.dumps(row)) for row in result["rows"]) <= 1_000
    assert result["note"] == (
        f"stopped after {result['row_count']} rows: the result reached its size limit of 1,000 bytes; "
        "select fewer or shorter columns (substr(...)) or fewer rows")


def test_a_first_row_over_the_budget_comes_back_as_no_rows_with_a_note(db_path, settings):
    settings.TOOLS_SQL_MAX_BYTES = 1_000
    result = q("SELECT printf('%.*c', 5000, 'x') AS big")
    assert (result["columns"], result["rows"], result["truncated"]) == (["big"], [], True)
    assert result["note"].startswith("the first row alone is over it: the result reached its size limit")


def test_the_row_limit_says_so_in_a_note(db_path, settings):
    settings.TOOLS_SQL_MAX_ROWS = 5
    assert q("SELECT * FROM order_items")["note"].startswith("stopped after 5 rows (the row limit)")
    assert "note" not in q("SELECT * FROM order_items LIMIT 5")


MEMORY_SCRIPT = """
import json, os, django
django.setup()
from tools.builtin.sql import ensure_database, query_database
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry
registry = Registry()
registry.register(query_database)
pipeline = Pipeline(registry, record=False, gate=None, access=None)
ensure_database()
pipeline.call_sync(ToolCallRequest("query_database", {"sql": "SELECT 1"}))
def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # start the peak (VmHWM) afresh: building the database may have raised it
before = status("VmRSS")
direct = query_database(os.environ["ATTACK"])
piped = pipeline.call_sync(ToolCallRequest("query_database", {"sql": os.environ["ATTACK"]}))
peak = status("VmHWM")
print(json.dumps({"grew": peak - before, "direct": [direct["truncated"], direct["row_count"]],
                  "piped": [piped.status, piped.output["truncated"], piped.output["note"]]}))
"""


def test_the_recursive_printf_attack_does_not_blow_up_memory(db_path, tmp_path):
    """The attack from issue 10: 200 rows of a 1 MB string built 200 MB and raised the server's
    memory by 530 MB. Measured in a fresh process: resident memory before, then its peak."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "ATTACK": ATTACK,
           "TOOLGATE_VAR_DIR": str(tmp_path / "var"), "TOOLS_SAMPLE_DB_PATH": str(db_path)}
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[3], check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["direct"] == [True, 0]
    assert report["piped"][:2] == ["ok", True]
    assert report["piped"][2].startswith("the first row alone is over it")
    assert report["grew"] < 50 * 1024 * 1024, f"memory grew by {report['grew'] / 2**20:.0f} MB"


# -- the pre-check (issue 10.6) -----------------------------------------------------------


def test_the_precheck_refuses_what_the_tool_refuses_with_the_same_error(db_path):
    from tools.builtin.sql import check_query

    for sql, params in [("DELETE FROM customers", []), ("SELEC 1", []), ("SELECT 1; SELECT 2", []),
                        ("SELECT ?", []), ("PRAGMA user_version", []), ("-- nothing", [])]:
        with pytest.raises(ArgumentError) as by_tool:
            q(sql, params)
        with pytest.raises(ArgumentError) as by_precheck:
            check_query({"sql": sql, "params": params})
        refused = by_precheck.value
        assert (refused.message, refused.path) == (by_tool.value.message, by_tool.value.path)


def test_the_precheck_compiles_but_never_runs_the_query(db_path, settings):
    from tools.builtin.sql import check_query

    settings.TOOLS_SQL_TIMEOUT = 0.5
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(ToolTimeout):
        q(endless)
    assert check_query({"sql": endless, "params": []}) is None
