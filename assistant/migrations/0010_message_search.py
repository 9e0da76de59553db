"""Full-text search over messages (issue 14; assistant/search/service.py).

SQLite: an FTS5 index with the messages as external content, kept in step by triggers and
filled once from what is stored. PostgreSQL: a GIN index on the ``simple`` tsvector of the
text. Other databases: nothing (search is not offered there).
"""

from django.db import migrations

SQLITE = [
    "CREATE VIRTUAL TABLE assistant_message_fts USING fts5("
    "content, content='assistant_message', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER assistant_message_fts_insert AFTER INSERT ON assistant_message BEGIN "
    "INSERT INTO assistant_message_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER assistant_message_fts_delete AFTER DELETE ON assistant_message BEGIN "
    "INSERT INTO assistant_message_fts(assistant_message_fts, rowid, content) "
    "VALUES ('delete', old.rowid, old.content); END",
    "CREATE TRIGGER assistant_message_fts_update AFTER UPDATE OF content ON assistant_message BEGIN "
    "INSERT INTO assistant_message_fts(assistant_message_fts, rowid, content) "
    "VALUES ('delete', old.rowid, old.content); "
    "INSERT INTO assistant_message_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "INSERT INTO assistant_message_fts(assistant_message_fts) VALUES ('rebuild')",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS assistant_message_fts_insert",
    "DROP TRIGGER IF EXISTS assistant_message_fts_delete",
    "DROP TRIGGER IF EXISTS assistant_message_fts_update",
    "DROP TABLE IF EXISTS assistant_message_fts",
]
POSTGRES = ["CREATE INDEX IF NOT EXISTS assistant_message_content_fts ON assistant_message "
            "USING gin (to_tsvector('simple', content))"]
POSTGRES_REVERSE = ["DROP INDEX IF EXISTS assistant_message_content_fts"]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)
    return run


class Migration(migrations.Migration):
    dependencies = [("assistant", "0009_branches_and_preferences")]

    operations = [
        migrations.RunPython(_run({"sqlite": SQLITE, "postgresql": POSTGRES}),
                             _run({"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE})),
    ]
