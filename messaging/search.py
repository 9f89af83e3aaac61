"""Message search: every word of the query must match, the last one also as a prefix.

Words are runs of letters and digits, compared case-insensitively, Latin and
Cyrillic alike; everything else in the query (quotes, ``&|!:*``, SQL) only
separates words, so no input reaches a query parser as syntax.

* PostgreSQL: ``messages.search_vector``, a generated ``tsvector`` column with
  the ``simple`` configuration (no stemming, no stop words, so words match as
  written in any language), and its GIN index (migration 0002). The column is
  computed by PostgreSQL on every insert and edit; a deleted message's text is
  empty, so its vector is too. No trigger, nothing for the send path to do.
* SQLite (embedded mode): the FTS5 table ``messages_fts`` over ``messages``,
  kept in step by triggers (:func:`sqlite_index_install`).

Neither is a model field: the storage differs per database and the ORM never
reads or writes it, so Django's model state is the same on both.
"""

from __future__ import annotations

import contextlib
import html
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from chats.selectors import member_chat_ids
from messaging.models import Message
from messaging.payloads import message_payload
from neonchat.errors import InvalidInput, NotFound, ServiceUnavailable

QUERY_MAX = 200
WORD = re.compile(r"[^\W_]+")

# PostgreSQL's parser keeps e-mail addresses, URLs, paths, decimals, tags and
# hyphenated words as single tokens; turning their joiners into spaces first
# makes its words the same runs of letters and digits as FTS5's and WORD's.
# Changing this expression means a new migration (the column is generated).
PG_JOINERS = "@.:/-+~%?=&#<>;"
PG_VECTOR_SQL = f"to_tsvector('simple'::regconfig, translate(text, '{PG_JOINERS}', '{' ' * len(PG_JOINERS)}'))"

SQLITE_INDEX_DDL = (
    # External content: the text lives once, in messages; FTS5 keeps the index.
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5("
    "text, content='messages', content_rowid='rowid', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF text ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END",
)
SQLITE_TRIGGERS = ("messages_fts_insert", "messages_fts_delete", "messages_fts_update")


def sqlite_index_install(db: BaseDatabaseWrapper) -> None:
    """Create the FTS5 table and its triggers if missing; rebuild the index if
    any trigger was missing.

    Idempotent; also run after every ``migrate`` because SQLite's way of
    altering a table (Django copies it into a new one and drops the old) drops
    the triggers and renumbers rowids, which would leave the index stale.
    """
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN (%s, %s, %s)", SQLITE_TRIGGERS
        )
        present = cursor.fetchone()[0]
        for statement in SQLITE_INDEX_DDL:
            cursor.execute(statement)
        if present != len(SQLITE_TRIGGERS):
            cursor.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")


@dataclass(frozen=True)
class SearchTerms:
    """The query's words, lower-cased; the last one also matches as a prefix."""

    words: tuple[str, ...]

    @property
    def exact(self) -> frozenset[str]:
        return frozenset(self.words[:-1])

    @property
    def prefix(self) -> str:
        return self.words[-1]

    def matches(self, word: str) -> bool:
        lowered = word.lower()
        return lowered in self.exact or lowered.startswith(self.prefix)

    def tsquery(self) -> str:
        """``to_tsquery`` text: each word quoted (they hold letters and digits only)."""
        return " & ".join([*(f"'{w}'" for w in self.words[:-1]), f"'{self.prefix}':*"])

    def fts5_query(self) -> str:
        """FTS5 MATCH text: quoted strings are implicitly ANDed; ``*`` makes a prefix."""
        return " ".join([*(f'"{w}"' for w in self.words[:-1]), f'"{self.prefix}"*'])


def search_terms(q: str | None) -> SearchTerms | None:
    """Parse ``q``; ``None`` when it holds no word at all (nothing can match).

    Missing, empty or longer than :data:`QUERY_MAX` characters is invalid input.
    """
    if not q:
        raise InvalidInput("q is required.", code="invalid_q", details={"q": ["required"]})
    if len(q) > QUERY_MAX:
        raise InvalidInput(f"q must be at most {QUERY_MAX} characters.", code="invalid_q", details={"q": ["too long"]})
    words = [w.lower() for w in WORD.findall(q)]
    if not words:
        return None
    last = words[-1]  # stays last (the prefix) even if it was typed earlier too
    return SearchTerms((*dict.fromkeys(w for w in words[:-1] if w != last), last))


def highlight(text: str, terms: SearchTerms) -> str:
    """``text`` HTML-escaped, with every matching word wrapped in ``<mark>``."""
    parts: list[str] = []
    end = 0
    for match in WORD.finditer(text):
        if terms.matches(match.group()):
            parts.append(html.escape(text[end : match.start()]))
            parts.append(f"<mark>{html.escape(match.group())}</mark>")
            end = match.end()
    parts.append(html.escape(text[end:]))
    return "".join(parts)


def _matching(terms: SearchTerms) -> RawSQL:
    if connection.vendor == "postgresql":
        sql, param = "messages.search_vector @@ to_tsquery('simple'::regconfig, %s)", terms.tsquery()
    else:
        sql = "messages.rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH %s)"
        param = terms.fts5_query()
    # The SQL is constant; the query text is a bound parameter.
    return RawSQL(sql, [param], output_field=BooleanField())  # noqa: S611


@contextlib.contextmanager
def _statement_timeout(seconds: float) -> Iterator[None]:
    # SET LOCAL: the limit ends with this transaction, so a pooled connection
    # goes back without it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(max(1, round(seconds * 1000)))])
        yield


@contextlib.contextmanager
def _progress_deadline(seconds: float) -> Iterator[None]:
    # No transaction here: embedded mode begins them IMMEDIATE, which would take
    # SQLite's write lock for a read.
    deadline = time.monotonic() + seconds
    connection.ensure_connection()
    raw: Any = connection.connection
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


@contextlib.contextmanager
def _time_limit() -> Iterator[None]:
    """Bound the search's database time (``SEARCH_TIMEOUT``): ``statement_timeout``
    on PostgreSQL, a progress handler that interrupts the statement on SQLite."""
    limit = _statement_timeout if connection.vendor == "postgresql" else _progress_deadline
    try:
        with limit(settings.SEARCH_TIMEOUT):
            yield
    except OperationalError as error:
        if not _is_timeout(error):
            raise
        raise ServiceUnavailable("The search took too long; try more specific words.", code="search_timeout") from None


def _is_timeout(error: OperationalError) -> bool:
    cause = error.__cause__
    return type(cause).__name__ == "QueryCanceled" or "interrupted" in str(error)


@dataclass(frozen=True)
class SearchScope:
    """What the caller may search: their chats now (or one of them), older than a cursor."""

    chat_ids: list[uuid.UUID]
    cursor: Message | None

    @property
    def messages(self) -> QuerySet[Message]:
        # The ids as a list, not a subquery: as a subquery PostgreSQL may join
        # chat by chat and read the word's whole GIN posting list once per chat.
        return Message.objects.filter(chat_id__in=self.chat_ids)


def search_scope(
    *, user_id: uuid.UUID, chat_id: uuid.UUID | None = None, before_id: uuid.UUID | None = None
) -> SearchScope:
    """``chat_id`` must be one of the caller's chats and ``before_id`` a message
    the caller can see, else 404 (no existence leak)."""
    scope = SearchScope(member_chat_ids(user_id=user_id, chat_id=chat_id), None)
    if before_id is None:
        return scope
    cursor = scope.messages.filter(pk=before_id).first()
    if cursor is None:
        raise NotFound("The cursor message is not in your chats.", code="message_not_found")
    return SearchScope(scope.chat_ids, cursor)


def matching_messages(scope: SearchScope, terms: SearchTerms) -> QuerySet[Message]:
    """The scope's messages that match ``terms``, newest first; deleted ones never."""
    rows = scope.messages.filter(_matching(terms), deleted_at__isnull=True)
    if (cursor := scope.cursor) is not None:
        rows = rows.filter(Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, id__lt=cursor.pk))
    return rows.order_by("-created_at", "-id")


def message_search(
    *,
    user_id: uuid.UUID,
    q: str | None,
    limit: int,
    chat_id: uuid.UUID | None = None,
    before_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """One page of the caller's messages matching ``q``, newest first, with highlights."""
    terms = search_terms(q)
    scope = search_scope(user_id=user_id, chat_id=chat_id, before_id=before_id)
    if terms is None:  # no word at all in q: nothing can match
        return {"results": [], "has_more": False}
    with _time_limit():
        page = list(matching_messages(scope, terms)[: limit + 1])
    return {
        "results": [{"message": message_payload(m), "highlight": highlight(m.text, terms)} for m in page[:limit]],
        "has_more": len(page) > limit,
    }
