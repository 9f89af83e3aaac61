"""Schema operations shared by the apps' migrations."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def drop_indexes_concurrently(*names: str) -> migrations.RunPython:
    """Drop indexes without blocking writes on PostgreSQL (``CONCURRENTLY``; the
    migration must be ``atomic = False``); a plain drop elsewhere (SQLite)."""

    def drop(apps: Any, schema_editor: Any) -> None:
        concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
        for name in names:
            schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(name)}")

    return migrations.RunPython(drop, migrations.RunPython.noop)
