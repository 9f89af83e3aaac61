"""``python -m bench.search``: message search at scale, over REST.

Builds a private PostgreSQL database (dropped and made again): 1,000,000
messages in 10,000 chats, one user in 100 of them, stored with ``COPY``
before the search migration, so that migration runs on a populated table and
is timed. Then starts one api process and measures, one request at a time
over a keep-alive connection, ``GET /api/v1/messages/search`` as that user:

* one word: a word of a random message of the user's chats;
* two words, the last a prefix: two words of such a message, the second cut
  to its first three letters.

The same again as a second user in 1,000 chats (100,000 messages): the GIN
index finds a word's messages in every chat, then the caller's chats are
kept and sorted, so a common word costs in proportion to the caller's
matching messages.

Words follow a Zipf law over a 20,000-word vocabulary (Latin and Cyrillic),
8 per message on average, so queries range from the rarest words to ones in
half the messages: a query is drawn the way a user remembers a message,
not from a friendly list.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

from bench.matrix import ROOT, base_env, free_port, stop_on_signals

PASSWORD = "search-bench-password"  # noqa: S105 - a throwaway database's user
LATIN = "bcdfghjklmnprstvz", "aeiou"
CYRILLIC = "бвгдзклмнпрстфхчш", "аеиоуяю"


@dataclass(frozen=True)
class Shape:
    chats: int
    per_chat: int
    mine: int  # chats of the measured user
    heavy: int  # chats of a second user, with many more messages
    vocabulary: int


@dataclass
class Searcher:
    user_id: uuid.UUID
    username: str
    texts: list[str]  # texts of the user's messages, where queries come from


def _vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        consonants, vowels = LATIN if rng.random() < 0.6 else CYRILLIC
        syllables = rng.randint(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables)))
    return sorted(words, key=lambda _: rng.random())


def _texts(count: int, vocabulary: list[str], rng: random.Random) -> Iterator[str]:
    cumulative = list(itertools.accumulate(1 / rank for rank in range(1, len(vocabulary) + 1)))
    for _ in range(count):
        yield " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(3, 13)))


def _connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(url, **kwargs)


def recreate_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with _connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def _password_hash(env: dict[str, str]) -> str:
    code = f"from django.contrib.auth.hashers import make_password; print(make_password({PASSWORD!r}))"
    return manage(env, "shell", "-v", "0", "-c", code).strip().splitlines()[-1]


def _pair(a: uuid.UUID, b: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    return (a, b) if a < b else (b, a)


def _people(shape: Shape) -> tuple[list[uuid.UUID], list[tuple[uuid.UUID, uuid.UUID]]]:
    """Two searchers, and each chat's pair: the first ``mine`` chats are the
    first searcher's, the next ``heavy`` the second's, the rest strangers'."""
    searchers = [uuid.uuid4(), uuid.uuid4()]
    pairs = []
    for index in range(shape.chats):
        if index < shape.mine:
            pairs.append((searchers[0], uuid.uuid4()))
        elif index < shape.mine + shape.heavy:
            pairs.append((searchers[1], uuid.uuid4()))
        else:
            pairs.append((uuid.uuid4(), uuid.uuid4()))
    return searchers, pairs


def _copy_people(
    cur: psycopg.Cursor[Any],
    searchers: list[Searcher],
    pairs: list[tuple[uuid.UUID, uuid.UUID]],
    *,
    chat_ids: list[uuid.UUID],
    per_chat: int,
    password_hash: str,
) -> None:
    now = datetime.now(tz=UTC)
    users = (
        "COPY users (id, username, password_hash, avatar_url, status, is_staff, is_superuser, created_at, updated_at)"
    )
    with cur.copy(f"{users} FROM STDIN") as copy:
        for searcher in searchers:
            copy.write_row((searcher.user_id, searcher.username, password_hash, "", "active", False, False, now, now))
        for user in {u for pair in pairs for u in pair} - {s.user_id for s in searchers}:
            copy.write_row((user, f"u{user.hex[:16]}", "!", "", "active", False, False, now, now))
    with cur.copy("COPY chats (id, user_low_id, user_high_id, last_seq, created_at, updated_at) FROM STDIN") as copy:
        for chat_id, (a, b) in zip(chat_ids, pairs, strict=True):
            copy.write_row((chat_id, *_pair(a, b), per_chat, now, now))
    with cur.copy("COPY chat_members (chat_id, user_id, partner_id, last_read_seq, joined_at) FROM STDIN") as copy:
        for chat_id, (a, b) in zip(chat_ids, pairs, strict=True):
            copy.write_row((chat_id, a, b, per_chat, now))
            copy.write_row((chat_id, b, a, per_chat, now))


def seed(url: str, shape: Shape, password_hash: str, rng: random.Random) -> list[Searcher]:
    """Users, chats, members and messages with COPY. Messages are stored in
    time order across chats, as they arrive in a live system (a chat's
    messages are spread over the table, not side by side)."""
    ids, pairs = _people(shape)
    searchers = [Searcher(user_id, f"searcher{user_id.hex[:6]}", []) for user_id in ids]
    chat_ids = [uuid.uuid4() for _ in pairs]
    now = time.time()
    moments = sorted(
        (now - rng.uniform(0, 365 * 86400), chat) for chat in range(shape.chats) for _ in range(shape.per_chat)
    )
    texts = _texts(len(moments), _vocabulary(shape.vocabulary, rng), rng)
    seqs = [0] * shape.chats
    with _connect(url) as conn, conn.cursor() as cur:
        _copy_people(cur, searchers, pairs, chat_ids=chat_ids, per_chat=shape.per_chat, password_hash=password_hash)
        columns = "id, chat_id, sender_id, text, seq, request_id, created_at, updated_at"
        with cur.copy(f"COPY messages ({columns}) FROM STDIN") as copy:
            for moment, chat in moments:
                seqs[chat] += 1
                text, at = next(texts), datetime.fromtimestamp(moment, tz=UTC)
                if chat < shape.mine + shape.heavy:
                    searchers[0 if chat < shape.mine else 1].texts.append(text)
                copy.write_row((uuid.uuid4(), chat_ids[chat], pairs[chat][seqs[chat] % 2], text, seqs[chat],
                                uuid.uuid4(), at, at))  # fmt: skip
    return searchers


def queries(searcher: Searcher, count: int, rng: random.Random) -> dict[str, list[str]]:
    one: list[str] = []
    two: list[str] = []
    while len(one) < count or len(two) < count:
        words = list(dict.fromkeys(rng.choice(searcher.texts).split()))
        one.append(rng.choice(words))
        if len(words) >= 2:
            first, second = rng.sample(words, 2)
            two.append(f"{first} {second[:3]}")
    return {"one word": one[:count], "two words, prefix": two[:count]}


@contextlib.contextmanager
def api_process(env: dict[str, str], log_dir: Path) -> Iterator[str]:
    port = free_port()
    log = (log_dir / "api.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--role", "api"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the api did not start; see {log_dir / 'api.log'}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(url: str, username: str, kinds: dict[str, list[str]], warmup: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with httpx.Client(base_url=url, timeout=30) as http:
        login = http.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        http.headers["Authorization"] = f"Bearer {login.raise_for_status().json()['token']}"
        for kind, qs in kinds.items():
            for q in qs[:warmup]:
                http.get("/api/v1/messages/search", params={"q": q})
            times, full, failed = [], 0, 0
            for q in qs:
                started = time.perf_counter()
                reply = http.get("/api/v1/messages/search", params={"q": q})
                times.append((time.perf_counter() - started) * 1000)
                if reply.status_code != 200:
                    failed += 1
                elif len(reply.json()["results"]) == 20:
                    full += 1
            times.sort()
            results[kind] = {
                "requests": len(times),
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(0.95 * len(times))], 1),
                "p99_ms": round(times[int(0.99 * len(times))], 1),
                "max_ms": round(times[-1], 1),
                "full_pages": full,
                "not_200": failed,
            }
    return results


def _step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"{label}: {now - started:.1f} s", flush=True)
    return now


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    shape = Shape(args.chats, args.per_chat, args.mine, args.heavy, args.vocabulary)
    env = base_env(args.database_url, args.redis_url)
    recreate_database(args.database_url)
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "migrate", "messaging", "0001", "--noinput", "-v", "0")  # seed before the search storage exists
    password_hash = _password_hash(env)
    started = time.perf_counter()
    searchers = seed(args.database_url, shape, password_hash, rng)
    seeded_at = _step(f"seeded {shape.chats * shape.per_chat:,} messages in {shape.chats:,} chats with COPY", started)
    manage(env, "migrate", "messaging", "--noinput", "-v", "0")
    migrated_at = _step("search migration on the populated table (generated column + GIN CONCURRENTLY)", seeded_at)
    with _connect(args.database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE messages")
        conn.execute("ANALYZE chat_members")
        size = conn.execute("SELECT pg_size_pretty(pg_relation_size('messages_search_idx'))").fetchone()
    print(f"GIN index: {size[0] if size else '?'}", flush=True)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="neonchat-search-bench-") as logs, api_process(env, Path(logs)) as url:
        for searcher, chats in zip(searchers, (shape.mine, shape.heavy), strict=True):
            label = f"user in {chats} chats ({chats * shape.per_chat:,} messages)"
            figures[label] = measure(url, searcher.username, queries(searcher, args.requests, rng), args.warmup)
            for kind, row in figures[label].items():
                print(f"{label}, {kind}: " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    return {"seed_s": seeded_at - started, "migration_s": migrated_at - seeded_at, "search": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SEARCH_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/neonchat_search_bench"),
        help="a private database: it is dropped and created again",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--per-chat", type=int, default=100)
    parser.add_argument("--mine", type=int, default=100, help="chats the searching user is in")
    parser.add_argument("--heavy", type=int, default=1000, help="chats of a second user (0: none)")
    parser.add_argument("--vocabulary", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300, help="measured searches per kind")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    stop_on_signals()
    try:
        run(args)
    finally:
        if not args.keep:
            name = args.database_url.rsplit("/", 1)[1]
            with _connect(args.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
