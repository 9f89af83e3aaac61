"""PostgreSQL specifics of search: the GIN index is what the query uses, and
the statement timeout turns a search stuck in the database into a 503."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.db import connection

from accounts.models import User
from chats.models import Chat
from chats.services import chat_get_or_create
from messaging.models import Message
from messaging.search import SearchTerms, matching_messages, search_scope
from neonchat.tests.support import assert_error, send

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL full-text search"),
]


def _fill(chats: list[Chat], sender: User, per_chat: int) -> None:
    now = datetime.now(tz=UTC)
    Message.objects.bulk_create(
        Message(chat=chat, sender=sender, text=f"filler text number {i} w{i % 500}", seq=i + 100,
                request_id=uuid.uuid4(), created_at=now - timedelta(seconds=i), updated_at=now)
        for chat in chats for i in range(per_chat)
    )  # fmt: skip


def test_the_query_plan_uses_the_gin_index(make_user, alice: User) -> None:
    chats = [chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0] for _ in range(4)]
    send(chats[0], alice, "needle in the haystack")
    _fill(chats, alice, 2500)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messages")
        # Rows inserted since the last vacuum sit in the GIN pending list, which
        # every search scans linearly; autovacuum moves them into the index.
        cursor.execute("SELECT gin_clean_pending_list('messages_search_idx')")
    scope = search_scope(user_id=alice.pk)
    for words in (("needle",), ("needle", "hay"), ("needl",)):
        plan = matching_messages(scope, SearchTerms(words))[:21].explain()
        assert "messages_search_idx" in plan, plan
        assert "Seq Scan on messages" not in plan, plan
    assert [m.text for m in matching_messages(scope, SearchTerms(("needle", "hay")))] == ["needle in the haystack"]


def test_a_word_in_most_messages_is_walked_newest_first_instead(make_user, alice: User) -> None:
    mine = [chat_get_or_create(user_id=alice.pk, partner_id=make_user().pk)[0] for _ in range(2)]
    others = [chat_get_or_create(user_id=make_user().pk, partner_id=make_user().pk)[0] for _ in range(38)]
    _fill(mine + others, alice, 500)  # "filler" is in every one of 20,000 messages
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messages")
        cursor.execute("SELECT gin_clean_pending_list('messages_search_idx')")
    scope = search_scope(user_id=alice.pk)
    plan = matching_messages(scope, SearchTerms(("filler",)))[:21].explain()
    assert "messages_search_order_idx" in plan, plan
    assert [m.chat_id for m in matching_messages(scope, SearchTerms(("filler",)))[:21]] != []


def test_the_search_column_is_generated_and_indexed_with_gin() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT is_generated, data_type FROM information_schema.columns "
            "WHERE table_name = 'messages' AND column_name = 'search_vector'"
        )
        assert cursor.fetchone() == ("ALWAYS", "tsvector")
        cursor.execute(
            "SELECT i.indisvalid, am.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'messages_search_idx'"
        )
        assert cursor.fetchone() == (True, "gin")
        # No pending list: its flush stalled one send batch every ~4 MB of inserts (migration 0005).
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'messages_search_idx'")
        assert cursor.fetchone()[0] == ["fastupdate=off"]
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'messages' AND indexname = 'messages_search_order_idx'"
        )
        assert cursor.fetchone()[0].endswith("USING btree (created_at, chat_id)")


@pytest.mark.django_db(transaction=True)
def test_a_search_past_the_statement_timeout_is_503(client_for, settings, alice: User, chat: Chat) -> None:
    send(chat, alice, "stuck")
    settings.SEARCH_TIMEOUT = 0.3
    db = connection.settings_dict
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"
    with psycopg.connect(dsn) as other:
        # Holding this lock makes the search wait until its statement_timeout cancels it.
        other.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        response = client_for(alice).get("/api/v1/messages/search", {"q": "stuck"})
        other.rollback()
    assert_error(response, 503, "search_timeout")
    # the limit was local to that transaction: the connection searches normally again
    settings.SEARCH_TIMEOUT = 3.0
    assert client_for(alice).get("/api/v1/messages/search", {"q": "stuck"}).status_code == 200
