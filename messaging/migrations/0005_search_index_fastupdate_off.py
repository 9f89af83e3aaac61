"""The search index's GIN pending list off (``fastupdate = off``).

With the pending list on, inserts append to it and, about every 4 MB of it
(``gin_pending_list_limit``), one insert moves the whole list into the index
inside its own transaction: on the send path that is one batch holding its
chats' row locks for a few hundred milliseconds. Off, every insert updates the
index itself, a little more work per message and no stall. Measured at
2,000 msg/s (docs/performance.md): delivery p99 75-141 ms against 279-397 ms.

Turning it off keeps what is already in the list, so the list is moved into
the index once here. PostgreSQL only: SQLite's search is an FTS5 table.
"""

from typing import Any

from django.db import migrations


def _run(schema_editor: Any, *statements: str) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in statements:
            schema_editor.execute(statement, params=None)


def forward(apps: Any, schema_editor: Any) -> None:
    _run(
        schema_editor,
        "ALTER INDEX messages_search_idx SET (fastupdate = off)",
        "SELECT gin_clean_pending_list('messages_search_idx')",
    )


def backward(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, "ALTER INDEX messages_search_idx RESET (fastupdate)")


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0004_groups"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
