"""Schema operations shared by the apps' migrations."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def drop_indexes_concurrently(*names: str) -> migrations.RunPython:
    """Drop indexes without blocking writes on PostgreSQL (``CONCURRENTLY``; the
    migration must be ``atomic = False``); a plain drop elsewhere (SQLite)."""

    def drop(apps: Any, schema_editor: Any) -> None:
        concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
        for name in names:
            schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(name)}")

    return migrations.RunPython(drop, migrations.RunPython.noop)


def add_index_concurrently(app_label: str, model_name: str, index: models.Index) -> migrations.SeparateDatabaseAndState:
    """``AddIndex`` that does not block writes on PostgreSQL while the index is
    built (``CONCURRENTLY``; the migration must be ``atomic = False``); a plain
    ``CREATE INDEX`` elsewhere (SQLite)."""

    def create(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, index, concurrently=True)
        else:
            schema_editor.add_index(model, index)

    def drop(apps: Any, schema_editor: Any) -> None:
        schema_editor.remove_index(apps.get_model(app_label, model_name), index)

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddIndex(model_name=model_name, index=index)],
        database_operations=[migrations.RunPython(create, drop)],
    )


def add_check_validated_apart(
    app_label: str, model_name: str, constraint: models.CheckConstraint
) -> migrations.SeparateDatabaseAndState:
    """``AddConstraint`` of a CHECK without holding a write-blocking lock while
    PostgreSQL scans the table: added ``NOT VALID`` (a brief lock, no scan),
    then validated under a lock that lets writes through (the migration must be
    ``atomic = False`` for the two to commit apart); a plain add elsewhere."""

    def create(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(app_label, model_name)
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.add_constraint(model, constraint)
            return
        table, name = schema_editor.quote_name(model._meta.db_table), schema_editor.quote_name(constraint.name)
        schema_editor.execute(f"ALTER TABLE {table} ADD {constraint.constraint_sql(model, schema_editor)} NOT VALID")
        schema_editor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")

    def drop(apps: Any, schema_editor: Any) -> None:
        schema_editor.remove_constraint(apps.get_model(app_label, model_name), constraint)

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddConstraint(model_name=model_name, constraint=constraint)],
        database_operations=[migrations.RunPython(create, drop)],
    )
