"""``manage.py createdb``: create the PostgreSQL database of DATABASE_URL if missing."""

from __future__ import annotations

from typing import Any

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql


class Command(BaseCommand):
    help = "Create the database named in DATABASE_URL if it does not exist (PostgreSQL only)."

    def handle(self, *args: Any, **options: Any) -> None:
        db = settings.DATABASES["default"]
        if db["ENGINE"] != "django.db.backends.postgresql":
            self.stdout.write("embedded SQLite database: nothing to create")
            return
        params = {k: v for k, v in {"host": db["HOST"], "port": db["PORT"], "user": db["USER"],
                                     "password": db["PASSWORD"]}.items() if v}  # fmt: skip
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                    self.stdout.write(f"created database {db['NAME']}")
        except psycopg.Error as error:
            raise CommandError(f"cannot reach PostgreSQL at DATABASE_URL: {error}") from None
