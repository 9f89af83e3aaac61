"""``stack_db.py create|drop DATABASE_URL REDIS_URL``: a fresh database and Redis db for the stack-mode browser run.

``create`` drops any leftover database of that name, creates it empty and
flushes the Redis db; ``drop`` removes both again. Only for the dedicated
names the browser run uses (never the development database).
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg import sql


def _admin(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    params = {"host": parts.hostname or "127.0.0.1", "port": str(parts.port or 5432), "user": parts.username or ""}
    if parts.password:
        params["password"] = parts.password
    return name, {k: v for k, v in params.items() if v}


def main(action: str, database_url: str, redis_url: str) -> None:
    name, params = _admin(database_url)
    if not name.startswith("neonchat_browser"):
        raise SystemExit(f"stack_db.py: refusing to touch database {name!r} (not a neonchat_browser* name)")
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **params) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if action == "create":
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    redis.Redis.from_url(redis_url).flushdb()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("create", "drop"):
        raise SystemExit(__doc__.splitlines()[0])
    main(*sys.argv[1:])
