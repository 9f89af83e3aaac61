from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _reinstall_sqlite_search(sender: AppConfig, using: str = "default", plan: Any = None, **kwargs: Any) -> None:
    """SQLite alters a table by copying it into a new one, which drops the
    search triggers; put them back (and rebuild the index) after any migrate."""
    from django.db.migrations.recorder import MigrationRecorder  # noqa: PLC0415

    from messaging.search import sqlite_index_install  # noqa: PLC0415 - models are not ready at import

    db = connections[using]
    if db.vendor != "sqlite" or ("messaging", "0002_message_search") not in MigrationRecorder(db).applied_migrations():
        return
    sqlite_index_install(db)


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        post_migrate.connect(_reinstall_sqlite_search, sender=self, dispatch_uid="messaging.search.sqlite")
        # The heartbeat's offline/back-online callbacks tell the partners.
        from messaging import presence  # noqa: PLC0415 - apps must be loaded first

        presence.connect()
