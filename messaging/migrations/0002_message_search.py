"""Full-text search storage, per database (see messaging/search.py), and the
(created_at, chat_id) index a search walks newest first for frequent words.

PostgreSQL: a generated tsvector column and its GIN index. Adding a STORED
generated column rewrites the table under an exclusive lock (PostgreSQL has no
concurrent way to fill one); the index is then built CONCURRENTLY, so writes
go on while it builds. Non-atomic: CREATE INDEX CONCURRENTLY cannot run in a
transaction. A failed concurrent build leaves an INVALID index behind, so it
is dropped first and the migration can simply be run again.

SQLite: an FTS5 table over messages kept in step by triggers, filled from the
rows already there.

The text-search storage is no model field, so it has no state: the model is
the same on both databases and the ORM never selects or writes it. The
ordering index is a model index: its state is AddIndex, its database side is
CONCURRENTLY on PostgreSQL and a plain CREATE INDEX on SQLite.
"""

from typing import Any

from django.db import migrations, models

from messaging.search import PG_VECTOR_SQL, sqlite_index_install

PG_FORWARD = (
    f"ALTER TABLE messages ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS ({PG_VECTOR_SQL}) STORED",
    "DROP INDEX CONCURRENTLY IF EXISTS messages_search_idx",
    "CREATE INDEX CONCURRENTLY messages_search_idx ON messages USING gin (search_vector)",
    "DROP INDEX CONCURRENTLY IF EXISTS messages_search_order_idx",
    "CREATE INDEX CONCURRENTLY messages_search_order_idx ON messages (created_at, chat_id)",
)
PG_BACKWARD = (
    "DROP INDEX CONCURRENTLY IF EXISTS messages_search_order_idx",
    "DROP INDEX CONCURRENTLY IF EXISTS messages_search_idx",
    "ALTER TABLE messages DROP COLUMN IF EXISTS search_vector",
)
SQLITE_FORWARD = ("CREATE INDEX IF NOT EXISTS messages_search_order_idx ON messages (created_at, chat_id)",)
SQLITE_BACKWARD = (
    "DROP INDEX IF EXISTS messages_search_order_idx",
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TABLE IF EXISTS messages_fts",
)


def _run(schema_editor: Any, statements: tuple[str, ...]) -> None:
    # One statement per execute: several in one would share an implicit transaction.
    for statement in statements:
        schema_editor.execute(statement, params=None)


def forward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_FORWARD)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_FORWARD)
        sqlite_index_install(schema_editor.connection)


def backward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_BACKWARD)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_BACKWARD)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("messaging", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward, elidable=False)],
            state_operations=[
                migrations.AddIndex(
                    model_name="message",
                    index=models.Index(fields=["created_at", "chat"], name="messages_search_order_idx"),
                ),
            ],
        ),
    ]
